//! Request guards shared by the handlers.

use std::net::{IpAddr, Ipv4Addr};

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};

use super::visitor::{ActiveSession, Visitor};
use crate::state::App;

/// A logged-in visitor's session; fails before any request body is read: 401 without a
/// session, 503 when the session store cannot be asked.
pub struct SignedIn<'r>(pub &'r ActiveSession);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SignedIn<'r> {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        let visitor: &'r Visitor = match request.guard::<&Visitor>().await {
            Outcome::Success(v) => v,
            _ => return Outcome::Error((Status::Unauthorized, ())),
        };
        match &visitor.session {
            Some(session) => Outcome::Success(SignedIn(session)),
            None if visitor.session_unavailable => Outcome::Error((Status::ServiceUnavailable, ())),
            None => Outcome::Error((Status::Unauthorized, ())),
        }
    }
}

/// A signed-in user holding the admin role (granted with `stratus admin grant NAME`): 401 when
/// signed out, 403 for anyone else, 503 when the database cannot be asked. The role is read on
/// every request, so a revoke takes effect at once.
pub struct Admin;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Admin {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        let signed_in = match request.guard::<SignedIn<'r>>().await {
            Outcome::Success(signed_in) => signed_in,
            Outcome::Error(e) => return Outcome::Error(e),
            Outcome::Forward(status) => return Outcome::Forward(status),
        };
        let Some(app) = request.rocket().state::<App>() else {
            return Outcome::Error((Status::InternalServerError, ()));
        };
        match app.accounts.is_admin(signed_in.0.data.user_id).await {
            Ok(true) => Outcome::Success(Admin),
            Ok(false) => Outcome::Error((Status::Forbidden, ())),
            Err(e) => {
                tracing::warn!(error = ?e, "checking the admin role");
                Outcome::Error((Status::ServiceUnavailable, ()))
            }
        }
    }
}

/// The client's address (`X-Forwarded-For` believed from `trusted_proxies` only), or 0.0.0.0
/// when unknown, so throttling still has a key.
pub struct ClientIp(pub IpAddr);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ClientIp {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let ip = match request.rocket().state::<App>() {
            Some(app) => app.access_log.client_ip(request),
            None => request.client_ip().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        };
        Outcome::Success(ClientIp(ip))
    }
}

/// `scheme://host` as this request named the site (`https` when cookies are marked secure,
/// which says the site is served over HTTPS): for links that must be absolute.
pub struct SiteOrigin(pub String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SiteOrigin {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let secure = request.rocket().state::<App>().is_some_and(|app| app.settings.cookie_secure);
        let scheme = if secure { "https" } else { "http" };
        let host = request.host().map_or_else(|| "localhost".to_owned(), |host| host.to_string());
        Outcome::Success(SiteOrigin(format!("{scheme}://{host}")))
    }
}
