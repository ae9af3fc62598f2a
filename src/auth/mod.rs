//! Passwords, sessions as seen by a request, CSRF tokens and login throttling.

mod csrf;
pub(crate) mod password;
mod throttle;
mod visitor;

pub use csrf::CsrfKey;
pub use password::PasswordHasher;
pub use throttle::{LoginThrottle, PER_ACCOUNT_LIMIT, Refused};
pub use visitor::{ActiveSession, SESSION_COOKIE, Visitor, random_token, session_key, set_session_cookie};
