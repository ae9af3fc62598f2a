//! Session tokens: random, carried in one cookie, and stored only as a hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The cookie that carries a session token.
pub const SESSION_COOKIE: &str = "stratus_session";

/// The store key for a session token: a hash, so a leaked store cannot be replayed as cookies.
pub fn session_key(token: &str) -> String {
    hex::encode(Sha256::digest(format!("session:{token}").as_bytes()))
}

/// 256 random bits, URL-safe: a session token or a CSRF nonce.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}
