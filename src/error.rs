//! `AppError`: the one error that becomes a response. It picks the status, logs the cause
//! chain once (server faults only) and shows the user a safe message (its `Responder`, which
//! draws the page, is in `routes::error_page`).

use rocket::http::Status;
use rocket::request::Request;

use crate::service::ServiceError;
use crate::views::RenderError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// A request the server cannot read (a malformed body or parameter), with what to fix.
    #[error("{0}")]
    BadRequest(String),
    #[error("login required")]
    Unauthorized,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("the form expired or did not come from this site")]
    Csrf,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMedia(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("a backend is unavailable")]
    Unavailable(#[source] ServiceError),
    #[error("the session store is unavailable")]
    SessionsUnavailable,
    #[error("internal error")]
    Internal(#[source] ServiceError),
    /// A status Rocket raised itself (no route, unreadable body...).
    #[error("{0}")]
    Caught(Status),
    #[error("rendering a page")]
    Render(#[from] RenderError),
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        if e.is_backend_outage() { AppError::Unavailable(e) } else { AppError::Internal(e) }
    }
}

impl AppError {
    pub fn status(&self) -> Status {
        match self {
            AppError::NotFound => Status::NotFound,
            AppError::BadRequest(_) => Status::BadRequest,
            AppError::Unauthorized | AppError::BadCredentials => Status::Unauthorized,
            AppError::Forbidden(_) | AppError::Csrf => Status::Forbidden,
            AppError::Conflict(_) => Status::Conflict,
            AppError::Unprocessable(_) => Status::UnprocessableEntity,
            AppError::TooLarge(_) => Status::PayloadTooLarge,
            AppError::UnsupportedMedia(_) => Status::UnsupportedMediaType,
            AppError::TooManyRequests(_) => Status::TooManyRequests,
            AppError::Unavailable(_) | AppError::SessionsUnavailable => Status::ServiceUnavailable,
            AppError::Internal(_) | AppError::Render(_) => Status::InternalServerError,
            AppError::Caught(status) => *status,
        }
    }

    /// What the user reads: never a cause chain, a path or a query.
    pub fn user_message(&self) -> String {
        match self {
            AppError::NotFound => "There is nothing at this address. The photo may have been deleted.".into(),
            AppError::Unauthorized => "Please log in first.".into(),
            AppError::BadCredentials => "Wrong username or password.".into(),
            AppError::Csrf => {
                "The form expired or did not come from this site. Go back, reload the page and try again.".into()
            }
            AppError::Unavailable(_) => {
                "Part of the site is temporarily unavailable. Nothing was changed; please try again in a moment.".into()
            }
            AppError::Internal(_) | AppError::Render(_) => {
                "Something went wrong on our side. Nothing was changed; please try again.".into()
            }
            AppError::Caught(status) if status.code >= 500 => {
                "Something went wrong on our side; please try again.".into()
            }
            AppError::Caught(status) => format!("The request could not be processed ({}).", status.reason_lossy()),
            other => other.to_string(),
        }
    }

    /// Logs the cause chain of a server fault, once per response; other errors log nothing.
    pub fn log(&self) {
        let cause: &dyn std::error::Error = match self {
            AppError::Unavailable(cause) | AppError::Internal(cause) => cause,
            AppError::Render(cause) => cause,
            _ => return,
        };
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(status = self.status().code, cause = %chain, "request failed");
    }
}

/// The page title for an error, in the reader's words rather than HTTP's.
pub fn title(status: Status) -> &'static str {
    match status.code {
        400 => "That request could not be read",
        401 => "Please log in",
        403 => "Not allowed",
        404 => "Page not found",
        409 => "Already taken",
        413 => "Too large",
        415 => "Not a kind of file we take",
        422 => "Please check what you entered",
        429 => "Too many attempts",
        503 => "Temporarily unavailable",
        500..=599 => "Something went wrong",
        _ => "That did not work",
    }
}

/// Scripts (the upload page's XHR) ask for JSON; so does everything under /api.
pub fn wants_json(request: &Request<'_>) -> bool {
    request.uri().path().starts_with("/api/") || request.accept().is_some_and(|accept| accept.preferred().is_json())
}
