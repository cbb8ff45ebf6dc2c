//! Argon2id password hashing, off the async runtime.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};

use crate::{error::Result, values::Password};

pub async fn hash(password: &Password) -> Result<String> {
    let p = password.expose().to_string();
    let h = tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(p.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(anyhow::Error::new)?
    .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(h)
}

/// Verifies `password` against a PHC hash string. A malformed hash verifies false.
pub async fn verify(password: &str, hash: &str) -> Result<bool> {
    let p = password.to_string();
    let h = hash.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&h)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(p.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(anyhow::Error::new)?;
    Ok(ok)
}

/// A real hash (of a random password) to verify against when the user does
/// not exist, so that a login for an unknown email costs as much as one with
/// a wrong password.
pub static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    let pw: [u8; 16] = rand::random();
    Argon2::default()
        .hash_password(&pw, &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});
