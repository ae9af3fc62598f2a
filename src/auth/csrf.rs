//! CSRF tokens: an HMAC of what the form is bound to. Logged-in visitors are bound to their
//! session token; anonymous ones to a random nonce kept only in their own cookie (double
//! submit), so showing a form never creates server-side state.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct CsrfKey([u8; 32]);

impl CsrfKey {
    /// Derives the CSRF key from the app's secret key, so the secret itself signs nothing.
    pub fn derive(secret: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"stratus csrf v1\0");
        hasher.update(secret);
        Self(hasher.finalize().into())
    }

    fn mac(&self, binding: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(binding.as_bytes());
        mac
    }

    pub fn token(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(binding).finalize().into_bytes())
    }

    /// Constant-time comparison of a submitted token with the one `binding` calls for.
    pub fn verify(&self, binding: &str, submitted: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(submitted) {
            Ok(raw) => self.mac(binding).verify_slice(&raw).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_to_their_binding_and_key() {
        let key = CsrfKey::derive(b"secret");
        let token = key.token("session:abc");
        assert!(key.verify("session:abc", &token));
        assert!(!key.verify("session:abd", &token));
        assert!(!CsrfKey::derive(b"other").verify("session:abc", &token));
        assert!(!key.verify("session:abc", ""));
        assert!(!key.verify("session:abc", "!!not base64!!"));
    }
}
