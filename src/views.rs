//! Pages rendered with minijinja from the embedded templates, HTML-escaped throughout.

use std::sync::{Arc, Mutex};

use minijinja::{AutoEscape, Environment, Value, context};
use serde::Serialize;

use crate::assets::{StaticAssets, Templates};
use crate::service::{ArchitectureView, FeedPage, FeedSource, Neighbours, Newer, OwnerPage, PhotoView, WindowView};

/// What every page's frame shows: who is logged in, the CSRF token for its forms, and the
/// tutorial's teaching signals (which server answered, session fingerprint, list source).
#[derive(Debug, Serialize)]
pub struct Frame<'a> {
    pub user: Option<&'a str>,
    pub csrf: String,
    pub served_by: &'a str,
    pub fingerprint: Option<&'a str>,
    /// "from cache" / "from database", on pages that show the photo list.
    pub source: Option<&'static str>,
    /// `HIT` / `MISS` / `BYPASS`, as in the `X-Cache` header.
    pub cache: Option<&'static str>,
    pub profile: &'a str,
    pub level: Option<&'a str>,
    pub upload_limit_bytes: u64,
}

/// A refused account form: which field it concerns and what to do.
#[derive(Debug, Serialize)]
pub struct AccountProblem<'a> {
    pub field: &'a str,
    pub message: &'a str,
}

/// The query of the link back to newer photos (empty for the first page): templates put it
/// after their own path, which they write literally so that escaping leaves it readable.
fn newer_query(newer: Option<Newer>) -> Option<String> {
    newer.map(|newer| match newer {
        Newer::First => String::new(),
        Newer::Before(id) => format!("?before={id}"),
    })
}

pub struct ErrorPage<'a> {
    pub status: u16,
    pub reason: &'a str,
    pub message: &'a str,
}

pub struct Views {
    env: Environment<'static>,
    /// The last anonymous front page rendered, keyed by the list it shows. Anonymous pages
    /// differ only by that list (no user, no form token), so a cache hit need not re-render.
    anonymous_front: Mutex<Option<RenderedFront>>,
}

struct RenderedFront {
    photos: Arc<Vec<PhotoView>>,
    source: FeedSource,
    html: String,
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
        env.add_function("asset", move |name: &str| Value::from_safe_string(assets.url(name).unwrap_or_default()));
        Ok(Self { env, anonymous_front: Mutex::new(None) })
    }

    fn render(&self, template: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(template)?.render(ctx)
    }

    pub fn front_page(&self, frame: &Frame<'_>, feed: &FeedPage) -> Result<String, minijinja::Error> {
        let anonymous = frame.user.is_none() && frame.csrf.is_empty();
        if anonymous
            && let Ok(memo) = self.anonymous_front.lock()
            && let Some(memo) = memo.as_ref()
            && Arc::ptr_eq(&memo.photos, &feed.photos)
            && memo.source == feed.source
        {
            return Ok(memo.html.clone());
        }
        let older = feed.older.map(|id| id.to_string());
        let newer = newer_query(feed.newer);
        let html = self.render("index.html", context! { frame, photos => feed.photos.as_slice(), older, newer })?;
        if anonymous && let Ok(mut memo) = self.anonymous_front.lock() {
            *memo = Some(RenderedFront { photos: feed.photos.clone(), source: feed.source, html: html.clone() });
        }
        Ok(html)
    }

    pub fn photo_page(
        &self,
        frame: &Frame<'_>,
        photo: &PhotoView,
        neighbours: Neighbours,
        is_owner: bool,
    ) -> Result<String, minijinja::Error> {
        let newer = neighbours.newer.map(|id| id.to_string());
        let older = neighbours.older.map(|id| id.to_string());
        self.render("photo.html", context! { frame, photo, newer, older, is_owner })
    }

    pub fn user_page(&self, frame: &Frame<'_>, page: &OwnerPage) -> Result<String, minijinja::Error> {
        let newer = newer_query(page.newer);
        let older = page.older.map(|id| id.to_string());
        let ctx = context! { frame, owner => page.owner.as_str(), photos => page.photos.as_slice(), older, newer };
        self.render("user.html", ctx)
    }

    pub fn account_page(&self, frame: &Frame<'_>, problem: Option<AccountProblem<'_>>) -> Result<String, minijinja::Error> {
        let (error_field, error) = match problem {
            Some(problem) => (Some(problem.field), Some(problem.message)),
            None => (None, None),
        };
        self.render("account.html", context! { frame, error_field, error })
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

    pub fn traffic_page(
        &self,
        frame: &Frame<'_>,
        windows: Option<&[WindowView]>,
        source: Option<String>,
        window_secs: u64,
    ) -> Result<String, minijinja::Error> {
        let refresh_secs = window_secs.clamp(2, 10);
        self.render("traffic.html", context! { frame, windows, source, window_secs, refresh_secs })
    }

    pub fn architecture_page(&self, frame: &Frame<'_>, view: &ArchitectureView) -> Result<String, minijinja::Error> {
        self.render("architecture.html", context! { frame, view })
    }

    /// `None` if the error page itself fails to render (the caller falls back to plain text).
    pub fn error_page(&self, page: &ErrorPage<'_>) -> Option<String> {
        let ctx = context! { status => page.status, reason => page.reason, message => page.message };
        self.render("error.html", ctx).ok()
    }
}
