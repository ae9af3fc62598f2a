//! The `Visitor` request guard: who is asking (a live session or nobody) and the CSRF token
//! their forms must carry; the session and CSRF cookies.

use std::sync::OnceLock;

use rocket::http::{Cookie, CookieJar, SameSite};
use rocket::request::{FromRequest, Outcome, Request};
use sha2::{Digest, Sha256};

use crate::auth::{SESSION_COOKIE, random_token, session_key};
use crate::error::AppError;
use crate::session::SessionData;
use crate::state::App;

const NONCE_COOKIE: &str = "stratus_csrf";

/// A short, non-reversible tag of the session shown in the footer for teaching.
fn fingerprint(token: &str) -> String {
    hex::encode(&Sha256::digest(format!("fingerprint:{token}").as_bytes())[..4])
}

pub fn set_session_cookie(cookies: &CookieJar<'_>, token: String, secure: bool, max_age: std::time::Duration) {
    let cookie = Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(rocket::time::Duration::seconds(max_age.as_secs() as i64));
    cookies.add(cookie);
}

#[derive(Debug, Clone)]
pub struct ActiveSession {
    /// Where the session lives in the `SessionStore`.
    pub key: String,
    pub data: SessionData,
    pub fingerprint: String,
    token: String,
}

enum Binding {
    Session(String),
    Anonymous { cookie_nonce: Option<String>, issued: OnceLock<String> },
}

pub struct Visitor {
    pub session: Option<ActiveSession>,
    /// The session store failed this request: the visitor is shown as logged out, and
    /// actions that need a login answer 503 rather than 401.
    pub session_unavailable: bool,
    binding: Binding,
    secure_cookies: bool,
}

impl Visitor {
    pub fn username(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.data.username.as_str())
    }

    /// The token this visitor's forms carry. For an anonymous visitor without a nonce cookie,
    /// one is issued now (client-side state only).
    pub fn csrf_token(&self, app: &App, cookies: &CookieJar<'_>) -> String {
        match &self.binding {
            Binding::Session(token) => app.csrf.token(&format!("session:{token}")),
            Binding::Anonymous { cookie_nonce: Some(nonce), .. } => app.csrf.token(&format!("anon:{nonce}")),
            Binding::Anonymous { cookie_nonce: None, issued } => {
                let nonce = issued.get_or_init(|| {
                    let nonce = random_token();
                    cookies.add(
                        Cookie::build((NONCE_COOKIE, nonce.clone()))
                            .http_only(true)
                            .same_site(SameSite::Strict)
                            .secure(self.secure_cookies)
                            .path("/"),
                    );
                    nonce
                });
                app.csrf.token(&format!("anon:{nonce}"))
            }
        }
    }

    /// `Err(Forbidden)` unless `submitted` is the token this visitor's forms were given.
    pub fn verify_csrf(&self, app: &App, submitted: Option<&str>) -> Result<(), AppError> {
        let binding = match &self.binding {
            Binding::Session(token) => format!("session:{token}"),
            Binding::Anonymous { cookie_nonce: Some(nonce), .. } => format!("anon:{nonce}"),
            Binding::Anonymous { cookie_nonce: None, .. } => return Err(AppError::Csrf),
        };
        match submitted {
            Some(token) if app.csrf.verify(&binding, token) => Ok(()),
            _ => Err(AppError::Csrf),
        }
    }

    /// The logged-in session, or 401.
    pub fn require_session(&self) -> Result<&ActiveSession, AppError> {
        self.session.as_ref().ok_or(AppError::Unauthorized)
    }
}

impl Visitor {
    /// The visitor this request already resolved (through the guard), else an anonymous one:
    /// for responders, which cannot wait on the session store. The catcher resolves the guard
    /// first, so only a response built before any guard ran shows the signed-out header.
    pub fn resolved<'r>(request: &'r Request<'_>) -> &'r Visitor {
        let secure = request.rocket().state::<App>().is_some_and(|app| app.settings.cookie_secure);
        request.local_cache(|| anonymous(request, secure, false))
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for &'r Visitor {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(request.local_cache_async(resolve(request)).await)
    }
}

async fn resolve(request: &Request<'_>) -> Visitor {
    let Some(app) = request.rocket().state::<App>() else {
        return anonymous(request, false, false);
    };
    let secure_cookies = app.settings.cookie_secure;
    let Some(token) = request.cookies().get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return anonymous(request, secure_cookies, false);
    };
    let key = session_key(&token);
    match app.accounts.resume(&key).await {
        Ok(Some(data)) => Visitor {
            session: Some(ActiveSession { key, data, fingerprint: fingerprint(&token), token: token.clone() }),
            session_unavailable: false,
            binding: Binding::Session(token),
            secure_cookies,
        },
        Ok(None) => {
            request.cookies().remove(Cookie::build(SESSION_COOKIE).path("/"));
            anonymous(request, secure_cookies, false)
        }
        Err(e) => {
            // A session backend outage logs the visitor out for this request rather than
            // failing the page.
            tracing::warn!(error = %e, "session store unavailable; treating visitor as anonymous");
            anonymous(request, secure_cookies, true)
        }
    }
}

/// A visitor without a session, bound to their CSRF nonce cookie if they have one.
fn anonymous(request: &Request<'_>, secure_cookies: bool, session_unavailable: bool) -> Visitor {
    let cookie_nonce = request.cookies().get(NONCE_COOKIE).map(|c| c.value().to_owned()).filter(|v| v.len() >= 16);
    Visitor {
        session: None,
        session_unavailable,
        binding: Binding::Anonymous { cookie_nonce, issued: OnceLock::new() },
        secure_cookies,
    }
}

impl ActiveSession {
    /// The raw cookie token; only the logout path needs it, to expire the cookie.
    pub fn token(&self) -> &str {
        &self.token
    }
}
