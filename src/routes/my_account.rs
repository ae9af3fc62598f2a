//! `/account`: the signed-in person's own account. Changing the password and deleting the
//! account each ask for the password (under the login throttle); a refusal shows the page
//! again with the message next to the field and the status kept.

use rocket::State;
use rocket::form::{Form, FromForm};
use rocket::http::{Cookie, CookieJar, Status};
use rocket::response::Redirect;

use super::flash::{self, Notice};
use super::guards::{ClientIp, SignedIn};
use super::pages::frame;
use super::respond::Page;
use super::visitor::{ActiveSession, Visitor, set_session_cookie};
use crate::auth::SESSION_COOKIE;
use crate::domain::Password;
use crate::error::AppError;
use crate::service::{AccountRejected, Caller};
use crate::state::App;
use crate::views::{FieldError, Pages};

#[derive(FromForm)]
pub struct PasswordForm {
    current: Option<String>,
    new: Option<String>,
    csrf: Option<String>,
}

#[derive(FromForm)]
pub struct DeleteForm {
    password: Option<String>,
    csrf: Option<String>,
}

fn caller(session: &ActiveSession) -> Caller<'_> {
    Caller { user: session.data.user_id, username: &session.data.username, session_key: &session.key }
}

/// The status and sentence for a refused change, or the error page for what is no form's fault.
fn refusal(rejected: AccountRejected) -> Result<(Status, &'static str), AppError> {
    match rejected {
        AccountRejected::WrongPassword => Ok((Status::Forbidden, "That is not your current password.")),
        AccountRejected::Throttled => {
            Ok((Status::TooManyRequests, "Too many wrong passwords from your address. Wait a minute and try again."))
        }
        AccountRejected::AccountThrottled => {
            Ok((Status::TooManyRequests, "Too many wrong passwords for this account. Wait an hour and try again."))
        }
        AccountRejected::NoAccount => Err(AppError::NotFound),
    }
}

fn page_with(
    (app, pages): (&App, &Pages<'_>),
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    status: Status,
    problem: Option<FieldError<'_>>,
) -> Result<Page, AppError> {
    let html = pages.account_page(&frame(app, visitor, cookies, true, None), problem)?;
    Ok(Page { status, ..Page::ok(html) })
}

#[rocket::get("/account")]
pub fn account(
    app: &State<App>,
    pages: Pages<'_>,
    _signed_in: SignedIn<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
) -> Result<Page, AppError> {
    page_with((app, &pages), visitor, cookies, Status::Ok, None)
}

#[rocket::post("/account/password", data = "<form>")]
pub async fn change_password(
    app: &State<App>,
    pages: Pages<'_>,
    signed_in: SignedIn<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    client: ClientIp,
    form: Form<PasswordForm>,
) -> Result<Result<Redirect, Page>, AppError> {
    visitor.verify_csrf(app, form.csrf.as_deref())?;
    let Some(new) = Password::parse(form.new.as_deref().unwrap_or_default()) else {
        let problem = FieldError { field: "new", message: Password::RULE };
        return page_with((app, &pages), visitor, cookies, Status::UnprocessableEntity, Some(problem)).map(Err);
    };
    let current = form.current.as_deref().and_then(Password::parse);
    match app.accounts.change_password(&caller(signed_in.0), current, &new, client.0).await? {
        Ok(session) => {
            set_session_cookie(cookies, session.token, app.settings.cookie_secure, app.accounts.absolute_timeout());
            Ok(Ok(flash::redirect(cookies, Notice::PasswordChanged, "/account")))
        }
        Err(rejected) => {
            let (status, message) = refusal(rejected)?;
            let problem = FieldError { field: "current", message };
            page_with((app, &pages), visitor, cookies, status, Some(problem)).map(Err)
        }
    }
}

#[rocket::post("/account/delete", data = "<form>")]
pub async fn delete_account(
    app: &State<App>,
    pages: Pages<'_>,
    signed_in: SignedIn<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    client: ClientIp,
    form: Form<DeleteForm>,
) -> Result<Result<Redirect, Page>, AppError> {
    visitor.verify_csrf(app, form.csrf.as_deref())?;
    let password = form.password.as_deref().and_then(Password::parse);
    match app.accounts.delete_account(&caller(signed_in.0), password, client.0).await? {
        Ok(()) => {
            cookies.remove(Cookie::build(SESSION_COOKIE).path("/"));
            Ok(Ok(flash::redirect(cookies, Notice::AccountDeleted, "/")))
        }
        Err(rejected) => {
            let (status, message) = refusal(rejected)?;
            let problem = FieldError { field: "password", message };
            page_with((app, &pages), visitor, cookies, status, Some(problem)).map(Err)
        }
    }
}
