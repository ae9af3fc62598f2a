//! One-time messages ("flash"): the page after an action that changed something says so once,
//! in words, in a region screen readers announce.
//!
//! # API
//!
//! - A handler that changed something ends with
//!   `Ok(flash::redirect(cookies, Notice::PhotoDeleted, "/"))` — the notice rides a cookie
//!   through the redirect (use `flash::set` when the response is built another way).
//! - `pages::frame` takes the notice off the request (`flash::take`), so whichever page comes
//!   next shows it once (`frame.notice` in layout.html, `role="status"`) and expires the cookie.
//! - A new message is a new `Notice` variant, listed in `ALL`, with its line in `code` and
//!   `text`; codes stay unique (the round-trip test checks every variant in `ALL`).
//!
//! The cookie carries a code, never text: a cookie planted by someone else (a sibling subdomain
//! can set one) can at most pick one of these sentences, not put words on our page.

use rocket::http::{Cookie, CookieJar, SameSite};
use rocket::response::Redirect;

pub const NOTICE_COOKIE: &str = "stratus_notice";

/// Long enough to survive the redirect, short enough not to greet someone a day later.
const LIFETIME_SECS: i64 = 120;

/// What just happened, as the next page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Registered,
    LoggedIn,
    LoggedOut,
    PhotoUploaded,
    PhotoDeleted,
    CaptionSaved,
    PasswordChanged,
    AccountDeleted,
}

impl Notice {
    pub const ALL: &[Notice] = &[
        Notice::Registered,
        Notice::LoggedIn,
        Notice::LoggedOut,
        Notice::PhotoUploaded,
        Notice::PhotoDeleted,
        Notice::CaptionSaved,
        Notice::PasswordChanged,
        Notice::AccountDeleted,
    ];

    /// The cookie value naming this notice.
    pub fn code(self) -> &'static str {
        match self {
            Notice::Registered => "registered",
            Notice::LoggedIn => "logged-in",
            Notice::LoggedOut => "logged-out",
            Notice::PhotoUploaded => "photo-uploaded",
            Notice::PhotoDeleted => "photo-deleted",
            Notice::CaptionSaved => "caption-saved",
            Notice::PasswordChanged => "password-changed",
            Notice::AccountDeleted => "account-deleted",
        }
    }

    /// The sentence the page shows.
    pub fn text(self) -> &'static str {
        match self {
            Notice::Registered => "Welcome! Your account is ready and you are logged in.",
            Notice::LoggedIn => "You are logged in.",
            Notice::LoggedOut => "You are logged out.",
            Notice::PhotoUploaded => "Your photo is uploaded.",
            Notice::PhotoDeleted => "The photo was deleted.",
            Notice::CaptionSaved => "The caption is saved.",
            Notice::PasswordChanged => "Your password is changed. Every other device was signed out.",
            Notice::AccountDeleted => "Your account and all your photos are deleted.",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|n| n.code() == code)
    }
}

/// Queues `notice` for the next page this browser loads.
pub fn set(cookies: &CookieJar<'_>, notice: Notice) {
    cookies.add(
        Cookie::build((NOTICE_COOKIE, notice.code()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(rocket::time::Duration::seconds(LIFETIME_SECS)),
    );
}

/// `set`, then a 303 to `to`.
pub fn redirect(cookies: &CookieJar<'_>, notice: Notice, to: impl Into<String>) -> Redirect {
    set(cookies, notice);
    Redirect::to(to.into())
}

/// The queued notice, if any; the cookie is expired in the same response so it shows once.
/// An unknown code is dropped silently.
pub fn take(cookies: &CookieJar<'_>) -> Option<Notice> {
    let code = cookies.get(NOTICE_COOKIE)?.value().to_owned();
    cookies.remove(Cookie::build(NOTICE_COOKIE).path("/"));
    Notice::parse(&code)
}

#[cfg(test)]
mod tests {
    use super::Notice;

    #[test]
    fn every_notice_round_trips_through_its_unique_code() {
        for notice in Notice::ALL {
            assert_eq!(Notice::parse(notice.code()), Some(*notice));
            assert!(!notice.text().is_empty());
        }
        let mut codes: Vec<_> = Notice::ALL.iter().map(|n| n.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Notice::ALL.len(), "codes are unique");
        assert_eq!(Notice::parse("<script>"), None);
        assert_eq!(Notice::parse(""), None);
    }
}
