//! Every certificate as an Open Badges 3.0 `OpenBadgeCredential` (W3C
//! Verifiable Credentials 2.0 data model), signed as a VC-JWT with the
//! platform's Ed25519 key (`EdDSA`), whose public keys are published as a
//! JWKS; revocation is published in a W3C Bitstring Status List, itself a
//! signed credential at a public URL.

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::{Certificate, Subject, issue::verify_url};
use crate::{
    config::{self, ConfigError},
    error::{Error, Result},
};

/// Bits per status list: the W3C minimum (16 KiB), so that one list hides
/// which certificate a verifier checks among at least 131,072.
pub const LIST_SIZE: i64 = 131_072;

struct Key {
    kid: String,
    encoding: EncodingKey,
    public: [u8; 32],
}

/// The platform's credential signing keys: the first signs, every one is
/// published (keys are rotated by adding a new one first and keeping the
/// old ones until what they signed no longer matters).
pub struct CredentialKeys {
    keys: Vec<Key>,
    /// The built-in development key (no `LAUNCHPAD_CREDENTIAL_KEYS`).
    pub development: bool,
}

impl std::fmt::Debug for CredentialKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("CredentialKeys")
            .field("kids", &kids)
            .field("development", &self.development)
            .finish()
    }
}

fn key(kid: &str, seed: [u8; 32]) -> std::result::Result<Key, String> {
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let der = signing
        .to_pkcs8_der()
        .map_err(|e| format!("key {kid}: {e}"))?;
    Ok(Key {
        kid: kid.to_string(),
        encoding: EncodingKey::from_ed_der(der.as_bytes()),
        public: signing.verifying_key().to_bytes(),
    })
}

impl CredentialKeys {
    /// `kid:seed` entries separated by commas; `seed` is the base64 (standard
    /// or URL-safe) of a 32-byte Ed25519 private key. The first key signs.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let mut keys = vec![];
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, seed) = entry.split_once(':').ok_or("each key is kid:base64-seed")?;
            let kid = kid.trim();
            if kid.is_empty()
                || kid.len() > 64
                || !kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(format!(
                    "key id {kid:?}: 1-64 letters, digits, '-', '_' or '.'"
                ));
            }
            let seed = seed.trim();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(seed)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(seed))
                .map_err(|_| format!("key {kid}: the seed is not base64"))?;
            let seed: [u8; 32] = bytes
                .try_into()
                .map_err(|_| format!("key {kid}: the seed must be 32 bytes"))?;
            if keys.iter().any(|k: &Key| k.kid == kid) {
                return Err(format!("key id {kid} appears twice"));
            }
            keys.push(key(kid, seed)?);
        }
        if keys.is_empty() {
            return Err("no key".into());
        }
        Ok(Self {
            keys,
            development: false,
        })
    }

    /// A fixed key anyone can read in this source: for development only.
    pub fn development() -> Self {
        let seed: [u8; 32] = Sha256::digest(b"launchpad development credential key").into();
        Self {
            keys: vec![key("dev-1", seed).expect("the development key is valid")],
            development: true,
        }
    }

    /// `LAUNCHPAD_CREDENTIAL_KEYS`, else the development key (the caller
    /// warns: credentials signed with it prove nothing).
    pub fn from_env() -> std::result::Result<Self, ConfigError> {
        match config::optional("LAUNCHPAD_CREDENTIAL_KEYS")? {
            Some(v) => {
                Self::parse(&v).map_err(|m| config::invalid("LAUNCHPAD_CREDENTIAL_KEYS", &m))
            }
            None => Ok(Self::development()),
        }
    }

    /// The kid of the signing key.
    pub fn current_kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// The public keys as a JWK Set (RFC 7517; OKP keys, RFC 8037).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| {
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k.public),
                    "kid": k.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        json!({ "keys": keys })
    }

    /// Signs `claims` as a VC-JWT (`typ: vc+jwt`, `cty: vc`).
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let k = &self.keys[0];
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("vc+jwt".into());
        header.cty = Some("vc".into());
        header.kid = Some(k.kid.clone());
        jsonwebtoken::encode(&header, claims, &k.encoding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("signing a credential: {e}")))
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn base(public_url: &str) -> &str {
    public_url.trim_end_matches('/')
}

/// The public URL of status list `list`.
pub fn status_list_url(public_url: &str, list: i64) -> String {
    format!("{}/credentials/status/{list}", base(public_url))
}

/// The certificate as an `OpenBadgeCredential`, with its VC-JWT claims
/// (`iss`, `jti`, `nbf`, `iat`).
pub fn claims(c: &Certificate, public_url: &str) -> Value {
    let root = base(public_url);
    let id = format!("urn:uuid:{}", c.id);
    let issuer_id = format!("{root}/issuers/{}", c.customer_id);
    let (achievement_id, kind, criteria) = match c.subject() {
        Subject::Course(course) => (
            format!("{root}/api/v1/courses/{course}"),
            "Course",
            "Completed every lesson of the course.",
        ),
        Subject::Path(path) => (
            format!("{root}/api/v1/paths/{path}"),
            "LearningProgram",
            "Completed every course of the learning path.",
        ),
    };
    // The learner is named by a salted hash of their e-mail address (or of
    // their name when no address was recorded), never in clear.
    let salt = c.id.to_string();
    let (identity_type, identity) = match &c.recipient_email {
        Some(e) => ("emailAddress", e.trim().to_lowercase()),
        None => ("name", c.recipient_name.clone()),
    };
    let hash = hex::encode(Sha256::digest(format!("{identity}{salt}").as_bytes()));
    let index = c.status_index;
    let list = index / LIST_SIZE;
    let list_url = status_list_url(public_url, list);
    let verify = verify_url(public_url, &c.verification_code);
    json!({
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
        ],
        "id": id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {
            "id": issuer_id,
            "type": ["Profile"],
            "name": c.issuer_name,
            "url": root,
        },
        "validFrom": rfc3339(c.issued_at),
        "name": c.course_title,
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [{
                "type": "IdentityObject",
                "identityHash": format!("sha256${hash}"),
                "identityType": identity_type,
                "hashed": true,
                "salt": salt,
            }],
            "achievement": {
                "id": achievement_id,
                "type": ["Achievement"],
                "achievementType": kind,
                "name": c.course_title,
                "description": format!("Completion of “{}”, issued by {}.", c.course_title, c.issuer_name),
                "criteria": { "narrative": criteria },
            },
        },
        "credentialStatus": {
            "id": format!("{list_url}#{}", index % LIST_SIZE),
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": (index % LIST_SIZE).to_string(),
            "statusListCredential": list_url,
        },
        "evidence": [{
            "id": verify,
            "type": ["Evidence"],
            "name": "Verification page",
        }],
        "iss": issuer_id,
        "jti": id,
        "nbf": c.issued_at.timestamp(),
        "iat": c.issued_at.timestamp(),
    })
}

/// The bitstring of list `list`: bit `i` (the most significant bit of byte
/// `i / 8` first) set when the certificate at that index is revoked.
pub async fn revoked_bits(db: &PgPool, list: i64) -> Result<Vec<u8>> {
    if !(0..=i64::MAX / LIST_SIZE - 1).contains(&list) {
        return Err(Error::not_found("status list"));
    }
    let start = list * LIST_SIZE;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM certificates WHERE status_index >= $1 AND status_index < $2)",
    )
    .bind(start)
    .bind(start + LIST_SIZE)
    .fetch_one(db)
    .await?;
    if !exists && list > 0 {
        return Err(Error::not_found("status list"));
    }
    let revoked: Vec<i64> = sqlx::query_scalar(
        "SELECT status_index FROM certificates
         WHERE revoked_at IS NOT NULL AND status_index >= $1 AND status_index < $2",
    )
    .bind(start)
    .bind(start + LIST_SIZE)
    .fetch_all(db)
    .await?;
    let mut bits = vec![0u8; (LIST_SIZE / 8) as usize];
    for i in revoked {
        let p = (i - start) as usize;
        bits[p / 8] |= 0x80 >> (p % 8);
    }
    Ok(bits)
}

/// `encodedList`: the multibase (`u`, base64url without padding) of the
/// GZIP of the bitstring.
pub fn encode_list(bits: &[u8]) -> String {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bits).expect("writing to memory");
    let zipped = gz.finish().expect("writing to memory");
    format!(
        "u{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(zipped)
    )
}

/// The `BitstringStatusListCredential` of list `list`, as VC-JWT claims.
pub fn status_list_claims(public_url: &str, list: i64, bits: &[u8], now: DateTime<Utc>) -> Value {
    let root = base(public_url);
    let url = status_list_url(public_url, list);
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": { "id": root, "type": ["Profile"], "name": "Launchpad" },
        "validFrom": rfc3339(now),
        "credentialSubject": {
            "id": format!("{url}#list"),
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode_list(bits),
        },
        "iss": root,
        "jti": url,
        "iat": now.timestamp(),
        "nbf": now.timestamp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_publish_their_public_half() {
        let seed = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let other = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let k = CredentialKeys::parse(&format!("2026-12:{seed}, 2026-06:{other}")).unwrap();
        assert_eq!(k.current_kid(), "2026-12");
        let jwks = k.jwks();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
        assert!(CredentialKeys::parse("nokid").is_err());
        assert!(CredentialKeys::parse("a:AAAA").is_err());
        assert!(CredentialKeys::parse(&format!("a:{seed},a:{seed}")).is_err());
        let jwt = k.sign(&json!({"hello": "world"})).unwrap();
        assert_eq!(jwt.split('.').count(), 3);
    }

    #[test]
    fn the_list_sets_the_most_significant_bit_first() {
        let mut bits = vec![0u8; 2];
        bits[0] |= 0x80 >> 1;
        assert_eq!(bits[0], 0b0100_0000);
        assert!(encode_list(&bits).starts_with('u'));
    }
}
