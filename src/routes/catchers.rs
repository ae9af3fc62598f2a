//! Errors Rocket raises itself (no route, a failed guard, an unreadable body) get the same
//! pages as the app's own errors.

use rocket::Catcher;
use rocket::http::Status;
use rocket::request::Request;

use super::visitor::Visitor;
use crate::error::AppError;

#[rocket::catch(default)]
async fn default_catcher(status: Status, request: &Request<'_>) -> AppError {
    super::fairings::record_refused_before_routing(status.code, request);
    // So the error page's header shows who is signed in (the responder cannot wait for it).
    let _ = request.guard::<&Visitor>().await;
    match status.code {
        401 => AppError::Unauthorized,
        403 => AppError::Forbidden("You are not allowed to do that.".into()),
        404 => AppError::NotFound,
        413 => {
            AppError::TooLarge("The request is larger than the upload limit. Resize the photo and try again.".into())
        }
        415 => AppError::UnsupportedMedia("This kind of request body is not accepted here.".into()),
        // Raised by the sign-in guard when the session store is down.
        503 => AppError::SessionsUnavailable,
        _ => AppError::Caught(status),
    }
}

pub fn catchers() -> Vec<Catcher> {
    rocket::catchers![default_catcher]
}
