//! Passwords, session tokens, CSRF tokens and login throttling: no request in sight (the
//! `Visitor` guard that uses them lives in `routes`).

mod csrf;
pub(crate) mod password;
mod throttle;
mod token;

pub use csrf::CsrfKey;
pub use password::PasswordHasher;
pub use throttle::{LoginThrottle, PER_ACCOUNT_LIMIT, Refused};
pub use token::{SESSION_COOKIE, random_token, session_key};
