//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>):
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
//! keyed with the base64-decoded part of a `whsec_` secret; several
//! signatures (during a secret rotation) are separated by spaces.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the spec allows 24–64).
pub const SECRET_BYTES: usize = 32;

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The HMAC key of a secret (the base64 after `whsec_`).
pub fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD
        .decode(b64)
        .map_err(|e| format!("a webhook secret must be whsec_ followed by base64: {e}"))
}

/// One signature: `v1,<base64>`.
pub fn sign(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header value: one signature per secret, in order,
/// separated by spaces.
pub fn signature_header(
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, String> {
    let mut out = Vec::with_capacity(secrets.len());
    for s in secrets {
        out.push(sign(&secret_key(s)?, msg_id, timestamp, body));
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks reference
    /// libraries (`test_sign_function` in standard-webhooks/libraries).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_the_spec_test_vector() {
        let key = secret_key(SECRET).unwrap();
        assert_eq!(sign(&key, MSG_ID, TIMESTAMP, BODY.as_bytes()), EXPECTED);
        assert_eq!(
            signature_header(&[SECRET], MSG_ID, TIMESTAMP, BODY.as_bytes()).unwrap(),
            EXPECTED
        );
        // Any change to id, timestamp or body changes the signature.
        assert_ne!(
            sign(&key, "msg_other", TIMESTAMP, BODY.as_bytes()),
            EXPECTED
        );
        assert_ne!(sign(&key, MSG_ID, TIMESTAMP + 1, BODY.as_bytes()), EXPECTED);
        assert_ne!(
            sign(&key, MSG_ID, TIMESTAMP, br#"{"test":2432232314}"#),
            EXPECTED
        );
    }

    #[test]
    fn rotation_sends_one_signature_per_secret() {
        let new = generate_secret();
        let h = signature_header(&[&new, SECRET], MSG_ID, TIMESTAMP, BODY.as_bytes()).unwrap();
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], EXPECTED);
        assert!(parts[0].starts_with("v1,") && parts[0] != EXPECTED);
    }

    #[test]
    fn generated_secrets_have_32_random_bytes() {
        let a = generate_secret();
        assert!(a.starts_with("whsec_"));
        assert_eq!(secret_key(&a).unwrap().len(), SECRET_BYTES);
        assert_ne!(a, generate_secret());
        assert!(secret_key("whsec_not base64!").is_err());
    }
}
