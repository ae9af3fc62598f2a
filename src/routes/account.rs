use rocket::State;
use rocket::form::{Form, FromForm};
use rocket::http::{Cookie, CookieJar};
use rocket::response::Redirect;

use super::flash::{self, Notice};
use super::guards::ClientIp;
use super::pages::frame;
use super::refused::{Refusal, Refused, kept};
use super::visitor::{Visitor, set_session_cookie};
use crate::auth::SESSION_COOKIE;
use crate::domain::{Password, Username};
use crate::error::AppError;
use crate::service::{IssuedSession, LoginRejected, RegisterRejected};
use crate::state::App;
use crate::views::Pages;

/// Fields are optional so a missing one is our 422 with a sentence, not a bare form error.
#[derive(FromForm)]
pub struct AccountForm {
    username: Option<String>,
    password: Option<String>,
    csrf: Option<String>,
}

#[derive(FromForm)]
pub struct CsrfForm {
    csrf: Option<String>,
}

fn start(app: &App, cookies: &CookieJar<'_>, session: IssuedSession, notice: Notice) -> Redirect {
    set_session_cookie(cookies, session.token, app.settings.cookie_secure, app.accounts.absolute_timeout());
    flash::redirect(cookies, notice, "/")
}

/// The account form `template` again, answering `refusal`, with the typed username kept.
fn again(
    (app, pages): (&App, &Pages<'_>),
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    template: &'static str,
    form: &AccountForm,
    refusal: Refusal,
) -> Refused {
    let frame = frame(app, visitor, cookies, true, None);
    refusal.form_again(|error| pages.account_form(&frame, template, &kept(form.username.as_deref()), Some(error)))
}

#[rocket::post("/register", data = "<form>")]
pub async fn register(
    app: &State<App>,
    pages: Pages<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    form: Form<AccountForm>,
) -> Result<Redirect, Refused> {
    try_register(app, visitor, cookies, &form)
        .await
        .map_err(|refusal| again((app, &pages), visitor, cookies, "register", &form, refusal))
}

async fn try_register(
    app: &App,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    form: &AccountForm,
) -> Result<Redirect, Refusal> {
    visitor.verify_csrf(app, form.csrf.as_deref())?;
    let username = Username::parse(form.username.as_deref().unwrap_or_default())
        .ok_or_else(|| Refusal::on("username", AppError::Unprocessable(Username::RULE.into())))?;
    let password = Password::parse(form.password.as_deref().unwrap_or_default())
        .ok_or_else(|| Refusal::on("password", AppError::Unprocessable(Password::RULE.into())))?;
    let previous = visitor.session.as_ref().map(|s| s.key.as_str());
    match app.accounts.register(username, &password, previous).await.map_err(AppError::from)? {
        Ok(session) => Ok(start(app, cookies, session, Notice::Registered)),
        Err(RegisterRejected::Taken) => Err(Refusal::on(
            "username",
            AppError::Conflict("That username is already taken. Please choose another one.".into()),
        )),
    }
}

#[rocket::post("/login", data = "<form>")]
pub async fn login(
    app: &State<App>,
    pages: Pages<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    client: ClientIp,
    form: Form<AccountForm>,
) -> Result<Redirect, Refused> {
    try_login(app, visitor, cookies, client, &form)
        .await
        .map_err(|refusal| again((app, &pages), visitor, cookies, "login", &form, refusal))
}

async fn try_login(
    app: &App,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    client: ClientIp,
    form: &AccountForm,
) -> Result<Redirect, Refusal> {
    visitor.verify_csrf(app, form.csrf.as_deref())?;
    let username = form.username.as_deref().and_then(Username::parse);
    let password = form.password.as_deref().and_then(Password::parse);
    let previous = visitor.session.as_ref().map(|s| s.key.as_str());
    match app.accounts.login(username, password, client.0, previous).await.map_err(AppError::from)? {
        Ok(session) => Ok(start(app, cookies, session, Notice::LoggedIn)),
        Err(LoginRejected::BadCredentials) => Err(AppError::BadCredentials.into()),
        Err(LoginRejected::Throttled) => Err(AppError::TooManyRequests(
            "Too many failed logins from your address. Wait a minute and try again.".into(),
        )
        .into()),
        Err(LoginRejected::AccountThrottled) => Err(AppError::TooManyRequests(
            "Too many failed logins for this account. Wait an hour and try again.".into(),
        )
        .into()),
    }
}

#[rocket::post("/logout", data = "<form>")]
pub async fn logout(
    app: &State<App>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    form: Form<CsrfForm>,
) -> Result<Redirect, AppError> {
    visitor.verify_csrf(app, form.csrf.as_deref())?;
    if let Some(session) = &visitor.session {
        app.accounts.logout(&session.key).await?;
    }
    cookies.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok(flash::redirect(cookies, Notice::LoggedOut, "/"))
}
