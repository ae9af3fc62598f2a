//! Pages rendered with minijinja from the embedded templates, HTML-escaped throughout.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use minijinja::{AutoEscape, Environment, Value, context};
use serde::Serialize;

use crate::access_log::WindowView;
use crate::assets::{StaticAssets, Templates};
use crate::compress::{Effort, Encoded};
use crate::service::{ArchitectureView, FeedPage, FeedSource, Neighbours, Newer, OwnerPage, PhotoView};

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
    /// The one-time message about the action just done (`routes::flash`), shown once.
    pub notice: Option<&'static str>,
    /// `scheme://host` of this site as the request named it, on pages that link themselves
    /// absolutely (Open Graph tags on photo pages); `None` elsewhere.
    pub origin: Option<String>,
    /// The response carries a `Server-Timing` header (the panel says so only then).
    pub timed: bool,
    /// The teaching panel starts open: a tutorial level was chosen, or `teaching_panel = true`.
    pub teaching_open: bool,
}

/// A refused form's message and the field it concerns (`""`: the whole form).
#[derive(Debug, Serialize)]
pub struct FieldError<'a> {
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
    /// What happened, in the reader's words (`error::title`).
    pub title: &'a str,
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
    page: Rendered,
}

/// A rendered page, and for a memoised one the memo of its compressed forms.
#[derive(Clone)]
pub struct Rendered {
    pub html: Bytes,
    pub encoded: Option<Arc<Encoded>>,
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
        env.add_filter("when", when);
        env.add_filter("absolute", absolute);
        let inline_css = assets.inline_css();
        env.add_function("inline_css", move || Value::from_safe_string(inline_css.to_owned()));
        env.add_function("asset", move |name: &str| Value::from_safe_string(assets.url(name).unwrap_or_default()));
        Ok(Self { env, anonymous_front: Mutex::new(None) })
    }

    fn render(&self, template: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(template)?.render(ctx)
    }

    /// The front page; an anonymous one is memoised with its compressed forms, so a cache hit
    /// neither re-renders nor recompresses.
    pub fn front_page(&self, frame: &Frame<'_>, feed: &FeedPage) -> Result<Rendered, minijinja::Error> {
        let anonymous = frame.user.is_none() && frame.csrf.is_empty() && frame.notice.is_none();
        if anonymous
            && let Ok(memo) = self.anonymous_front.lock()
            && let Some(memo) = memo.as_ref()
            && Arc::ptr_eq(&memo.photos, &feed.photos)
            && memo.source == feed.source
        {
            return Ok(memo.page.clone());
        }
        let older = feed.older.map(|id| id.to_string());
        let newer = newer_query(feed.newer);
        let ctx = context! { frame, photos => feed.photos.as_slice(), older, newer, caption => "", alt => "", error => (), upload_heading => 2 };
        let html = Bytes::from(self.render("index.html", ctx)?);
        if !anonymous {
            return Ok(Rendered { html, encoded: None });
        }
        let page = Rendered { html, encoded: Some(Arc::new(Encoded::new(Effort::Fast))) };
        if let Ok(mut memo) = self.anonymous_front.lock() {
            *memo = Some(RenderedFront { photos: feed.photos.clone(), source: feed.source, page: page.clone() });
        }
        Ok(page)
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

    pub fn account_page(&self, frame: &Frame<'_>, error: Option<FieldError<'_>>) -> Result<String, minijinja::Error> {
        self.render("account.html", context! { frame, error })
    }

    pub fn confirm_delete_page(&self, frame: &Frame<'_>, photo: &PhotoView) -> Result<String, minijinja::Error> {
        self.render("delete.html", context! { frame, photo })
    }

    pub fn account_form(
        &self,
        frame: &Frame<'_>,
        template: &str,
        username: &str,
        error: Option<&FieldError<'_>>,
    ) -> Result<String, minijinja::Error> {
        self.render(template, context! { frame, username, error })
    }

    /// The upload form on a page of its own (`GET /photos`, and a refused no-script upload
    /// showing the caption and text alternative as typed).
    pub fn upload_page(
        &self,
        frame: &Frame<'_>,
        (caption, alt): (&str, &str),
        error: Option<&FieldError<'_>>,
    ) -> Result<String, minijinja::Error> {
        self.render("upload.html", context! { frame, caption, alt, error, upload_heading => 1 })
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
    pub fn error_page(&self, frame: &Frame<'_>, page: &ErrorPage<'_>) -> Option<String> {
        let ctx = context! { frame, status => page.status, title => page.title, message => page.message };
        self.render("error.html", ctx).ok()
    }
}

/// `2026-11-28T18:10:41Z` → `28 Nov 2026, 18:10 UTC`: readable without script; app.js then
/// shows it relative ("3 hours ago") with the reader's local time as its tooltip. Anything else
/// is shown as it came.
fn when(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let readable = || {
        let (date, time) = rfc3339.strip_suffix('Z')?.split_once('T')?;
        let mut parts = date.splitn(3, '-');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        let month = MONTHS.get(month.parse::<usize>().ok()?.checked_sub(1)?)?;
        let day = day.parse::<u8>().ok()?;
        let minutes = time.get(..5)?;
        Some(format!("{day} {month} {year}, {minutes} UTC"))
    };
    readable().unwrap_or_else(|| rfc3339.to_owned())
}

/// A URL as an absolute one: a path is put after `origin`; a full URL (a CDN, a presigned
/// bucket link) is kept.
fn absolute(url: &str, origin: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") { url.to_owned() } else { format!("{origin}{url}") }
}

#[cfg(test)]
mod tests {
    use super::{absolute, when};

    #[test]
    fn times_read_as_words_and_odd_ones_pass_through() {
        assert_eq!(when("2026-11-28T18:10:41Z"), "28 Nov 2026, 18:10 UTC");
        assert_eq!(when("2026-01-02T03:04:05Z"), "2 Jan 2026, 03:04 UTC");
        for odd in ["", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "yesterday", "2026-11-28 18:10Z"] {
            assert_eq!(when(odd), odd);
        }
    }

    #[test]
    fn absolute_urls_keep_full_ones() {
        assert_eq!(absolute("/media/a.jpg", "https://x.test"), "https://x.test/media/a.jpg");
        assert_eq!(absolute("https://cdn.test/a.jpg", "https://x.test"), "https://cdn.test/a.jpg");
    }
}
