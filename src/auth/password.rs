//! argon2id with OWASP's parameters, run on blocking threads under a concurrency bound (each
//! hash holds 19 MiB, so the bound is also a memory bound).

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OnceCell, Semaphore};

use crate::domain::Password;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("hashing worker stopped: {0}")]
    Worker(#[from] tokio::task::JoinError),
    #[error("hashing pool closed")]
    Closed,
}

fn argon2() -> Argon2<'static> {
    // OWASP: m = 19 MiB, t = 2, p = 1. The constants are valid, so `new` cannot fail here;
    // the fallback keeps the function total anyway.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub struct PasswordHasher {
    permits: Semaphore,
    /// Verified against when the user does not exist, so both failures cost the same time.
    decoy: OnceCell<String>,
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Self {
        Self { permits: Semaphore::new(concurrency.max(1)), decoy: OnceCell::new() }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let secret = password.expose().to_owned();
        self.blocking(move || {
            let salt =
                SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| HashError::Argon2(e.to_string()))?;
            argon2()
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Argon2(e.to_string()))
        })
        .await
    }

    /// Whether `password` matches `stored`. With `stored = None` it checks against a decoy hash
    /// and returns false, taking as long as a real check.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<bool, HashError> {
        let (stored, real) = match stored {
            Some(hash) => (hash.to_owned(), true),
            None => (self.decoy().await?, false),
        };
        let secret = password.expose().to_owned();
        let matched = self
            .blocking(move || {
                let parsed = PasswordHash::new(&stored).map_err(|e| HashError::Argon2(e.to_string()))?;
                Ok(argon2().verify_password(secret.as_bytes(), &parsed).is_ok())
            })
            .await?;
        Ok(real && matched)
    }

    async fn decoy(&self) -> Result<String, HashError> {
        self.decoy
            .get_or_try_init(|| async {
                let random = ulid::Ulid::new().to_string();
                let decoy = Password::parse(&random).ok_or(HashError::Argon2("decoy".into()))?;
                self.hash(&decoy).await
            })
            .await
            .cloned()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Closed)?;
        tokio::task::spawn_blocking(work).await?
    }
}
