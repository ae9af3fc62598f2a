//! A refused form is shown again where it was sent, with the status code kept, the message by
//! the field it concerns and what was typed (never a password) — not a dead-end error page.
//! Server faults (5xx) still get the error page; scripts asking for JSON still get JSON.

use rocket::request::Request;
use rocket::response::{self, Responder};

use super::respond::Page;
use crate::error::{AppError, wants_json};
use crate::views::{FieldError, RenderError};

/// Why a form was refused, and which field it concerns (`None`: the form as a whole).
pub struct Refusal {
    pub field: Option<&'static str>,
    pub error: AppError,
}

impl Refusal {
    pub fn on(field: &'static str, error: AppError) -> Self {
        Self { field: Some(field), error }
    }

    /// Whether the form should be shown again (the sender can fix it), rather than an error page.
    pub fn is_fixable(&self) -> bool {
        self.error.status().code < 500
    }
}

impl From<AppError> for Refusal {
    fn from(error: AppError) -> Self {
        Self { field: None, error }
    }
}

/// What a refused form's handler answers.
pub enum Refused {
    /// The form again, rendered with the refusal; sent with the refusal's status.
    Form {
        page: Page,
        error: AppError,
    },
    Fault(AppError),
}

impl From<AppError> for Refused {
    fn from(error: AppError) -> Self {
        Refused::Fault(error)
    }
}

impl<'r> Responder<'r, 'static> for Refused {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        match self {
            Refused::Form { error, .. } if wants_json(request) => error.respond_to(request),
            Refused::Form { page, .. } => page.respond_to(request),
            Refused::Fault(error) => error.respond_to(request),
        }
    }
}

impl Refusal {
    /// The answer to this refusal: the form again, rendered by `render` with the message by
    /// its field and sent with the refusal's status; a server fault's error page otherwise.
    pub fn form_again(self, render: impl FnOnce(&FieldError<'_>) -> Result<String, RenderError>) -> Refused {
        if !self.is_fixable() {
            return Refused::Fault(self.error);
        }
        let message = self.error.user_message();
        match render(&FieldError { field: self.field.unwrap_or_default(), message: &message }) {
            Ok(html) => Refused::Form { page: Page::with_status(html, self.error.status()), error: self.error },
            Err(e) => Refused::Fault(e.into()),
        }
    }
}

/// At most this much of a typed value is shown again: enough for any valid one.
pub fn kept(typed: Option<&str>) -> String {
    typed.unwrap_or_default().chars().take(256).collect()
}
