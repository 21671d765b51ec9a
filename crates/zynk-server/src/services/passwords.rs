//! Password hashing: PBKDF2-HMAC-SHA256 (the data model's scheme) at a configurable iteration
//! count, stored as a PHC string (`$pbkdf2-sha256$i=600000,l=32$salt$hash`) so the scheme and
//! count travel with the hash and can be raised. Hashing runs on the blocking pool, at most one
//! hash per core at a time, never on the async executor.

use std::sync::Arc;

use pbkdf2::password_hash::phc::PasswordHash;
use pbkdf2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use pbkdf2::{Algorithm, Params, Pbkdf2};
use tokio::sync::{OnceCell, Semaphore};

/// Hashing failed (bad stored hash, or the blocking task died).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Wrong password.
    Mismatch,
    /// Right password; the stored hash is current.
    Match,
    /// Right password; the stored hash uses fewer iterations than configured (or another
    /// scheme) and should be replaced.
    MatchNeedsUpgrade,
}

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    iterations: u32,
    permits: Arc<Semaphore>,
    dummy: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    /// A hasher producing hashes with `iterations` rounds.
    pub fn new(iterations: u32) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            iterations,
            permits: Arc::new(Semaphore::new(cores)),
            dummy: Arc::default(),
        }
    }

    /// The configured iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Hashes `password` into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let iterations = self.iterations;
        let password = password.to_owned();
        self.blocking(move || hash_blocking(&password, iterations))
            .await
    }

    /// Checks `password` against a stored PHC string.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verification, HashError> {
        let iterations = self.iterations;
        let (password, stored) = (password.to_owned(), stored.to_owned());
        self.blocking(move || verify_blocking(&password, &stored, iterations))
            .await
    }

    /// Spends the same work as a real verification, so unknown usernames cannot be told apart
    /// from wrong passwords by timing.
    pub async fn verify_dummy(&self, password: &str) -> Result<(), HashError> {
        let dummy = self
            .dummy
            .get_or_try_init(|| self.hash("zynk-dummy-password"))
            .await?;
        self.verify(password, dummy).await.map(|_| ())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HashError(e.to_string()))?
    }
}

fn hasher(iterations: u32) -> Result<Pbkdf2, HashError> {
    let params = Params::new(iterations).map_err(|e| HashError(e.to_string()))?;
    Ok(Pbkdf2::new(Algorithm::Pbkdf2Sha256, params))
}

fn hash_blocking(password: &str, iterations: u32) -> Result<String, HashError> {
    let hash = hasher(iterations)?
        .hash_password(password.as_bytes())
        .map_err(|e| HashError(e.to_string()))?;
    Ok(hash.to_string())
}

fn verify_blocking(
    password: &str,
    stored: &str,
    iterations: u32,
) -> Result<Verification, HashError> {
    let parsed = PasswordHash::new(stored).map_err(|e| HashError(format!("stored hash: {e}")))?;
    match hasher(iterations)?.verify_password(password.as_bytes(), &parsed) {
        Ok(()) => {}
        Err(pbkdf2::password_hash::Error::PasswordInvalid) => return Ok(Verification::Mismatch),
        Err(e) => return Err(HashError(e.to_string())),
    }
    let current = parsed.algorithm.as_str() == "pbkdf2-sha256"
        && Params::try_from(&parsed).is_ok_and(|p| p.rounds() >= iterations);
    Ok(if current {
        Verification::Match
    } else {
        Verification::MatchNeedsUpgrade
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_carry_their_parameters() {
        let hasher = PasswordHasher::new(1_000);
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$pbkdf2-sha256$i=1000,l=32$"), "{hash}");
        assert_eq!(
            hasher.verify("correct horse", &hash).await.unwrap(),
            Verification::Match
        );
        assert_eq!(
            hasher.verify("wrong", &hash).await.unwrap(),
            Verification::Mismatch
        );
        let stronger = PasswordHasher::new(2_000);
        assert_eq!(
            stronger.verify("correct horse", &hash).await.unwrap(),
            Verification::MatchNeedsUpgrade
        );
        assert!(hasher.verify("x", "not a phc string").await.is_err());
        hasher.verify_dummy("anything").await.unwrap();
    }

    #[test]
    fn default_iteration_count_is_owasp() {
        assert_eq!(Params::RECOMMENDED_ROUNDS, 600_000);
    }
}
