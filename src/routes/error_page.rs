//! `AppError` as a response: JSON for scripts, else the error page in the site's frame.

use std::io::Cursor;

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};

use super::visitor::Visitor;
use crate::error::{AppError, title, wants_json};
use crate::state::App;
use crate::views::{ErrorPage, Pages};

impl<'r> Responder<'r, 'static> for AppError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        self.log();
        let status = self.status();
        let message = self.user_message();
        let mut response = Response::build();
        response.status(status);
        if status == Status::Unauthorized {
            response.header(Header::new("WWW-Authenticate", "Cookie realm=\"stratus\""));
        }
        if wants_json(request) {
            let body = serde_json::json!({ "error": message, "status": status.code }).to_string();
            return response.header(ContentType::JSON).sized_body(body.len(), Cursor::new(body)).ok();
        }
        let html = request.rocket().state::<App>().and_then(|app| {
            let frame = super::frame(app, Visitor::resolved(request), request.cookies(), false, None);
            Pages::new(request.rocket(), &app.views)
                .error_page(&frame, &ErrorPage { status: status.code, title: title(status), message: &message })
        });
        let (content_type, body) = match html {
            Some(html) => (ContentType::HTML, html),
            None => (ContentType::Plain, format!("{} {}\n{}\n", status.code, status.reason_lossy(), message)),
        };
        response.header(content_type).sized_body(body.len(), Cursor::new(body)).ok()
    }
}
