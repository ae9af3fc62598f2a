//! Pages rendered with minijinja from the embedded templates, HTML-escaped throughout.

use std::sync::Arc;

use minijinja::{AutoEscape, Environment, Value, context};
use serde::Serialize;

use crate::assets::{StaticAssets, Templates};
use crate::service::{FeedPage, PhotoView};

/// What every page's frame shows: who is logged in, the CSRF token for its forms, and the
/// tutorial's teaching signals (which server answered, session fingerprint, list source).
#[derive(Debug, Serialize)]
pub struct Frame<'a> {
    pub user: Option<&'a str>,
    pub csrf: String,
    pub served_by: &'a str,
    pub fingerprint: Option<&'a str>,
    pub source: Option<&'static str>,
}

pub struct ErrorPage<'a> {
    pub status: u16,
    pub reason: &'a str,
    pub message: &'a str,
}

pub struct Views {
    env: Environment<'static>,
}

impl Views {
    pub fn new(assets: Arc<StaticAssets>) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        // Templates come from embedded bytes with no file extension to infer escaping from:
        // escape everything.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for name in Templates::iter() {
            if let Some(file) = Templates::get(&name) {
                let source = String::from_utf8_lossy(&file.data).into_owned();
                env.add_template_owned(name.to_string(), source)?;
            }
        }
        env.add_function("asset", move |name: &str| {
            Value::from_safe_string(assets.url(name).unwrap_or_default())
        });
        Ok(Self { env })
    }

    fn render(&self, template: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(template)?.render(ctx)
    }

    pub fn front_page(&self, frame: &Frame<'_>, feed: &FeedPage) -> Result<String, minijinja::Error> {
        let older = feed.older.map(|id| id.to_string());
        self.render(
            "index.html",
            context! { frame, photos => feed.photos.as_slice(), older },
        )
    }

    pub fn photo_page(&self, frame: &Frame<'_>, photo: &PhotoView, is_owner: bool) -> Result<String, minijinja::Error> {
        self.render("photo.html", context! { frame, photo, is_owner })
    }

    pub fn account_form(
        &self,
        frame: &Frame<'_>,
        template: &str,
        username: &str,
        error: Option<&str>,
    ) -> Result<String, minijinja::Error> {
        self.render(template, context! { frame, username, error })
    }

    /// `None` if the error page itself fails to render (the caller falls back to plain text).
    pub fn error_page(&self, page: &ErrorPage<'_>) -> Option<String> {
        let ctx = context! { status => page.status, reason => page.reason, message => page.message };
        self.render("error.html", ctx).ok()
    }
}
