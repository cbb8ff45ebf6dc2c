//! What people write about people (session notes, quick notes, scores) is
//! sealed with AES-256-GCM before it reaches the database.
//!
//! Keys come from `LAUNCHPAD_COACHING_KEYS`: `kid:base64key[,kid:base64key…]`,
//! each key 32 bytes; the first seals, all open. Every sealed row stores the
//! id of the key it was sealed with, so a new key goes first and the old ones
//! stay listed until the rows sealed with them are rewritten. A sealed value
//! is `nonce (12 bytes) || ciphertext || tag`, with the row and field as
//! associated data: a value copied to another row or field does not open.

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::Digest;

use crate::config::{self, ConfigError};
use crate::error::{Error, Result};

pub const KEYS_VAR: &str = "LAUNCHPAD_COACHING_KEYS";

/// The id of the key used when `LAUNCHPAD_COACHING_KEYS` is not set: derived
/// from a constant, so it protects nothing; for development only (startup
/// logs a warning).
pub const DEVELOPMENT_KEY_ID: &str = "development";

/// The keys that seal and open coaching notes. `Debug` shows key ids only.
#[derive(Clone)]
pub struct NoteKeys {
    keys: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for NoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("NoteKeys").field("key_ids", &ids).finish()
    }
}

/// A sealed value and the key it was sealed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl NoteKeys {
    /// Parses `kid:base64key[,kid:base64key…]`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut keys: Vec<(String, [u8; 32])> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kid, b64) = part
                .split_once(':')
                .ok_or("each key is kid:base64 (32 bytes)")?;
            let kid = kid.trim();
            if kid.is_empty()
                || kid.len() > 32
                || !kid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!("key id {kid:?}: 1-32 letters, digits, '-' or '_'"));
            }
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| format!("key {kid}: not base64"))?;
            let key: [u8; 32] = raw
                .try_into()
                .map_err(|_| format!("key {kid}: must be 32 bytes"))?;
            if keys.iter().any(|(k, _)| k == kid) {
                return Err(format!("key id {kid} is listed twice"));
            }
            keys.push((kid.to_string(), key));
        }
        if keys.is_empty() {
            return Err("no key given".into());
        }
        Ok(Self { keys })
    }

    /// From `LAUNCHPAD_COACHING_KEYS`; the development key when it is unset.
    pub fn from_env() -> Result<Self, ConfigError> {
        match config::optional(KEYS_VAR)? {
            Some(v) => Self::parse(&v).map_err(|m| config::invalid(KEYS_VAR, m)),
            None => Ok(Self::development()),
        }
    }

    /// The key used when none is configured.
    pub fn development() -> Self {
        let key: [u8; 32] =
            sha2::Sha256::digest(b"launchpad coaching notes: development key").into();
        Self {
            keys: vec![(DEVELOPMENT_KEY_ID.to_string(), key)],
        }
    }

    /// Whether notes are sealed with the development key (the API warns
    /// at startup).
    pub fn is_development(&self) -> bool {
        self.current_id() == DEVELOPMENT_KEY_ID
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    fn key(&self, kid: &str) -> Option<LessSafeKey> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, bytes)| {
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte key"))
        })
    }

    /// Seals `plain`, bound to `context` (the row and field).
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Sealed> {
        let (kid, _) = &self.keys[0];
        let key = self.key(kid).expect("current key");
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no randomness for a nonce"))?;
        let mut buf = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut buf,
        )
        .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + buf.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&buf);
        Ok(Sealed {
            key_id: kid.clone(),
            bytes,
        })
    }

    /// Opens a value sealed for `context` with key `kid`. An unknown key id
    /// or a value that does not open is an internal error naming the key,
    /// never the content.
    pub fn open(&self, kid: &str, context: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let key = self.key(kid).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "coaching data sealed with key {kid:?}, which {KEYS_VAR} does not list"
            ))
        })?;
        if sealed.len() < NONCE_LEN {
            return Err(Error::Internal(anyhow::anyhow!("sealed value too short")));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| anyhow::anyhow!("sealed value: bad nonce"))?;
        let mut buf = rest.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| {
                anyhow::anyhow!("coaching data does not open with key {kid:?} (altered or moved)")
            })?;
        Ok(plain.to_vec())
    }

    /// Seals a JSON value.
    pub fn seal_json<T: serde::Serialize>(&self, context: &str, v: &T) -> Result<Sealed> {
        let bytes = serde_json::to_vec(v).map_err(anyhow::Error::from)?;
        self.seal(context, &bytes)
    }

    /// Opens a JSON value.
    pub fn open_json<T: serde::de::DeserializeOwned>(
        &self,
        kid: &str,
        context: &str,
        sealed: &[u8],
    ) -> Result<T> {
        let bytes = self.open(kid, context, sealed)?;
        Ok(serde_json::from_slice(&bytes).map_err(anyhow::Error::from)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([b; 32])
    }

    #[test]
    fn seals_opens_and_rotates() {
        let old = NoteKeys::parse(&format!("k1:{}", key(1))).unwrap();
        let s = old.seal("session:1:notes", b"talked about AHT").unwrap();
        assert_eq!(s.key_id, "k1");
        assert!(!s.bytes.windows(3).any(|w| w == b"AHT"));
        assert_eq!(
            old.open("k1", "session:1:notes", &s.bytes).unwrap(),
            b"talked about AHT"
        );
        // Another row or field: does not open.
        assert!(old.open("k1", "session:2:notes", &s.bytes).is_err());
        // A new key first: new values use it, old ones still open.
        let rotated = NoteKeys::parse(&format!("k2:{}, k1:{}", key(2), key(1))).unwrap();
        assert_eq!(rotated.current_id(), "k2");
        assert!(rotated.open("k1", "session:1:notes", &s.bytes).is_ok());
        assert_eq!(rotated.seal("x", b"y").unwrap().key_id, "k2");
        // Dropped key: an error naming the key id.
        let only_new = NoteKeys::parse(&format!("k2:{}", key(2))).unwrap();
        let e = only_new
            .open("k1", "session:1:notes", &s.bytes)
            .unwrap_err();
        assert!(format!("{e:?}").contains("k1"));
    }

    #[test]
    fn bad_key_lists() {
        assert!(NoteKeys::parse("").is_err());
        assert!(NoteKeys::parse("k1").is_err());
        assert!(NoteKeys::parse("k1:c2hvcnQ=").is_err());
        assert!(NoteKeys::parse(&format!("k1:{},k1:{}", key(1), key(2))).is_err());
        assert!(NoteKeys::parse(&format!("bad id:{}", key(1))).is_err());
        assert_eq!(
            format!("{:?}", NoteKeys::development()),
            r#"NoteKeys { key_ids: ["development"] }"#
        );
    }
}
