//! Pages, rendered by rocket_dyn_templates' minijinja engine from the embedded templates (or a
//! teacher's `template_dir`), HTML-escaped throughout.
//!
//! Why this shape:
//! - rocket_dyn_templates owns the `Environment`: it names templates by file (`photo.html.j2` is
//!   `photo`), loads the ones in its `template_dir`, and in debug builds reloads them when that
//!   directory changes, re-running [`register`] on a fresh environment each time. So a teacher
//!   overrides any page by dropping a file of the same name there, without a rebuild.
//! - The built-in templates stay compiled into the binary (rust-embed) and are added by
//!   [`register`] only where `template_dir` has no file of that name: an override always wins,
//!   and with no `template_dir` at all the site is exactly the embedded one.
//! - Pages are rendered to a `String` with `Template::show` rather than returned as `Template`
//!   responders: the front page memoises its anonymous HTML and compressed forms (forgotten when
//!   the templates reload), and every page goes out through `routes::respond::Page`
//!   (compression, `X-Cache`, `Server-Timing`), which needs the bytes.
//! - Every template is escaped as HTML and undefined values are errors, whatever a file in
//!   `template_dir` is called: an override cannot switch escaping off by its name.

mod times;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rocket::{Orbit, Rocket};
use rocket_dyn_templates::minijinja::{self, AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};
use rocket_dyn_templates::{Template, context};
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

/// A page that did not render; rocket_dyn_templates has logged why (the template's error and
/// its causes), so this only names the template.
#[derive(Debug, thiserror::Error)]
#[error("template `{0}` did not render (its error is logged above)")]
pub struct RenderError(pub &'static str);

/// The template name of an embedded file, by rocket_dyn_templates' rule for files in its
/// directory (`photo.html.j2` → `photo`), so that an override and the template it replaces have
/// the same name.
fn template_name(file: &str) -> Option<&str> {
    let stem = file.strip_suffix(".j2")?;
    Some(stem.rsplit_once('.').map_or(stem, |(name, _)| name))
}

/// Makes `env` (rocket_dyn_templates' environment, holding the files of `template_dir`) the
/// site's: HTML escaping and strict undefined for every template, the built-in templates where
/// `template_dir` has no file of the same name, and the filters and functions the templates use.
/// Runs at ignition and again at every live reload (debug builds). A template in `template_dir`
/// that does not compile is an error: the previous templates stay (reload) or the launch stops.
fn register(env: &mut Environment<'static>, assets: Arc<StaticAssets>) -> Result<(), minijinja::Error> {
    // rocket_dyn_templates escapes by file extension, and built-in templates have no file: one
    // rule for all instead.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for file in Templates::iter() {
        let Some(name) = template_name(&file) else { continue };
        // Templates added by name take precedence over the directory's loader: add a built-in
        // one only when the directory has none, or it would shadow the override.
        match env.get_template(name) {
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::TemplateNotFound => {}
            Err(e) => return Err(e),
        }
        if let Some(embedded) = Templates::get(&file) {
            env.add_template_owned(name.to_owned(), String::from_utf8_lossy(&embedded.data).into_owned())?;
        }
    }
    env.add_filter("when", times::when);
    env.add_filter("ago", times::ago);
    env.add_filter("absolute", absolute);
    env.add_function("asset", move |name: &str| Value::from_safe_string(assets.url(name).unwrap_or_default()));
    Ok(())
}

/// The directory rocket_dyn_templates reads: `template_dir` when it is a directory, else an
/// empty one of its own (rocket_dyn_templates needs some directory, and must never fall back to
/// its default `./templates`, which would make whatever the working directory holds a page).
pub enum TemplateDir {
    Configured(PathBuf),
    /// Removed when dropped: keep it as long as the templates are in use.
    BuiltIn(tempfile::TempDir),
}

impl TemplateDir {
    /// `configured` made absolute when it is a directory; otherwise (unset, missing, not a
    /// directory) the built-in templates alone, with a warning if one was configured.
    pub fn choose(configured: Option<&Path>) -> std::io::Result<Self> {
        if let Some(dir) = configured {
            match std::fs::canonicalize(dir) {
                Ok(dir) if dir.is_dir() => return Ok(Self::Configured(dir)),
                Ok(_) => {
                    tracing::warn!("template_dir {} is not a directory: using the built-in templates", dir.display())
                }
                Err(e) => tracing::warn!("template_dir {}: {e}: using the built-in templates", dir.display()),
            }
        }
        Ok(Self::BuiltIn(tempfile::Builder::new().prefix("stratus-no-template-dir.").tempdir()?))
    }

    pub fn path(&self) -> &Path {
        match self {
            Self::Configured(dir) => dir,
            Self::BuiltIn(empty) => empty.path(),
        }
    }
}

/// The front page memo, held by `App`: pages themselves are rendered per request ([`Pages`]).
#[derive(Default)]
pub struct Views {
    /// The last anonymous front page rendered, keyed by the list it shows and the templates it
    /// was made with. Anonymous pages differ only by that list (no user, no form token), so a
    /// cache hit need not re-render.
    anonymous_front: Mutex<Option<RenderedFront>>,
    /// Counts the template loads: a live reload makes every memoised page stale.
    templates_loaded: Arc<AtomicU64>,
}

struct RenderedFront {
    photos: Arc<Vec<PhotoView>>,
    source: FeedSource,
    templates: u64,
    page: Rendered,
}

/// What rocket_dyn_templates calls with its fresh environment, at ignition and each reload.
pub type Loader = Box<dyn Fn(&mut Environment<'static>) -> Result<(), minijinja::Error> + Send + Sync>;

impl Views {
    /// The loader for rocket_dyn_templates: [`register`], after which the memo no longer
    /// answers with a page of the previous templates.
    pub fn loader(&self, assets: Arc<StaticAssets>) -> Loader {
        let loaded = self.templates_loaded.clone();
        Box::new(move |env| {
            register(env, assets.clone())?;
            loaded.fetch_add(1, Ordering::Release);
            Ok(())
        })
    }
}

/// A rendered page, and for a memoised one the memo of its compressed forms.
#[derive(Clone)]
pub struct Rendered {
    pub html: Bytes,
    pub encoded: Option<Arc<Encoded>>,
}

/// The site's pages for one request: rocket_dyn_templates' templates as they are now (reloaded
/// live in debug builds) and the front page memo.
pub struct Pages<'r> {
    rocket: &'r Rocket<Orbit>,
    views: &'r Views,
}

impl<'r> Pages<'r> {
    pub fn new(rocket: &'r Rocket<Orbit>, views: &'r Views) -> Self {
        Self { rocket, views }
    }

    fn render(&self, template: &'static str, ctx: impl Serialize) -> Result<String, RenderError> {
        Template::show(self.rocket, template, ctx).ok_or(RenderError(template))
    }

    /// The front page; an anonymous one is memoised with its compressed forms, so a cache hit
    /// neither re-renders nor recompresses.
    pub fn front_page(&self, frame: &Frame<'_>, feed: &FeedPage) -> Result<Rendered, RenderError> {
        let anonymous = frame.user.is_none() && frame.csrf.is_empty() && frame.notice.is_none();
        let templates = self.views.templates_loaded.load(Ordering::Acquire);
        if anonymous
            && let Ok(memo) = self.views.anonymous_front.lock()
            && let Some(memo) = memo.as_ref()
            && Arc::ptr_eq(&memo.photos, &feed.photos)
            && memo.source == feed.source
            && memo.templates == templates
        {
            return Ok(memo.page.clone());
        }
        let older = feed.older.map(|id| id.to_string());
        let newer = newer_query(feed.newer);
        let photos = feed.photos.as_slice();
        let ctx = context! { frame, photos, older, newer, caption: "", alt: "", error: (), upload_heading: 2 };
        let html = Bytes::from(self.render("index", ctx)?);
        if !anonymous {
            return Ok(Rendered { html, encoded: None });
        }
        let page = Rendered { html, encoded: Some(Arc::new(Encoded::new(Effort::Fast))) };
        if let Ok(mut memo) = self.views.anonymous_front.lock() {
            let photos = feed.photos.clone();
            *memo = Some(RenderedFront { photos, source: feed.source, templates, page: page.clone() });
        }
        Ok(page)
    }

    pub fn photo_page(
        &self,
        frame: &Frame<'_>,
        photo: &PhotoView,
        neighbours: Neighbours,
        is_owner: bool,
    ) -> Result<String, RenderError> {
        let newer = neighbours.newer.map(|id| id.to_string());
        let older = neighbours.older.map(|id| id.to_string());
        self.render("photo", context! { frame, photo, newer, older, is_owner })
    }

    pub fn user_page(&self, frame: &Frame<'_>, page: &OwnerPage) -> Result<String, RenderError> {
        let newer = newer_query(page.newer);
        let older = page.older.map(|id| id.to_string());
        let (owner, photos) = (page.owner.as_str(), page.photos.as_slice());
        self.render("user", context! { frame, owner, photos, older, newer })
    }

    pub fn account_page(&self, frame: &Frame<'_>, error: Option<FieldError<'_>>) -> Result<String, RenderError> {
        self.render("account", context! { frame, error })
    }

    pub fn confirm_delete_page(&self, frame: &Frame<'_>, photo: &PhotoView) -> Result<String, RenderError> {
        self.render("delete", context! { frame, photo })
    }

    /// The `login` or `register` form.
    pub fn account_form(
        &self,
        frame: &Frame<'_>,
        template: &'static str,
        username: &str,
        error: Option<&FieldError<'_>>,
    ) -> Result<String, RenderError> {
        self.render(template, context! { frame, username, error })
    }

    /// The upload form on a page of its own (`GET /photos`, and a refused no-script upload
    /// showing the caption and text alternative as typed).
    pub fn upload_page(
        &self,
        frame: &Frame<'_>,
        (caption, alt): (&str, &str),
        error: Option<&FieldError<'_>>,
    ) -> Result<String, RenderError> {
        self.render("upload", context! { frame, caption, alt, error, upload_heading: 1 })
    }

    pub fn traffic_page(
        &self,
        frame: &Frame<'_>,
        windows: Option<&[WindowView]>,
        source: Option<String>,
        window_secs: u64,
    ) -> Result<String, RenderError> {
        let refresh_secs = window_secs.clamp(2, 10);
        self.render("traffic", context! { frame, windows, source, window_secs, refresh_secs })
    }

    pub fn architecture_page(&self, frame: &Frame<'_>, view: &ArchitectureView) -> Result<String, RenderError> {
        self.render("architecture", context! { frame, view })
    }

    /// `None` if the error page itself fails to render (the caller falls back to plain text).
    pub fn error_page(&self, frame: &Frame<'_>, page: &ErrorPage<'_>) -> Option<String> {
        let (status, title, message) = (page.status, page.title, page.message);
        self.render("error", context! { frame, status, title, message }).ok()
    }
}

/// A URL as an absolute one: a path is put after `origin`; a full URL (a CDN, a presigned
/// bucket link) is kept.
fn absolute(url: &str, origin: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") { url.to_owned() } else { format!("{origin}{url}") }
}

#[cfg(test)]
mod tests {
    use super::{TemplateDir, absolute, template_name};

    #[test]
    fn embedded_templates_are_named_as_rocket_names_files() {
        assert_eq!(template_name("photo.html.j2"), Some("photo"));
        assert_eq!(template_name("delete_form.html.j2"), Some("delete_form"));
        assert_eq!(template_name("plain.j2"), Some("plain"));
        assert_eq!(template_name("notes.txt"), None);
    }

    #[test]
    fn only_an_existing_directory_is_a_template_dir() {
        let root = tempfile::tempdir().expect("temp dir");
        let file = root.path().join("a-file");
        std::fs::write(&file, "not a directory").expect("write");
        let chosen = TemplateDir::choose(Some(root.path())).expect("choose");
        assert!(
            matches!(&chosen, TemplateDir::Configured(dir) if dir == &root.path().canonicalize().expect("canonical"))
        );
        for fallback in [None, Some(root.path().join("missing")), Some(file)] {
            let chosen = TemplateDir::choose(fallback.as_deref()).expect("choose");
            let TemplateDir::BuiltIn(empty) = &chosen else { panic!("{fallback:?}: built-in expected") };
            assert_eq!(std::fs::read_dir(empty.path()).expect("read").count(), 0, "empty");
        }
    }

    #[test]
    fn absolute_urls_keep_full_ones() {
        assert_eq!(absolute("/media/a.jpg", "https://x.test"), "https://x.test/media/a.jpg");
        assert_eq!(absolute("https://cdn.test/a.jpg", "https://x.test"), "https://cdn.test/a.jpg");
    }
}
