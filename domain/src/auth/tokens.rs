//! HS256 access tokens carrying the caller's roles and customers.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use crate::{
    error::{Error, Result},
    ids::{CustomerId, UserId},
    tenancy::{Caller, Role},
};

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct AccessClaims {
    pub sub: UserId,
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub customer_ids: Vec<CustomerId>,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

pub const ISSUER: &str = "launchpad";

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn sign(&self, caller: &Caller) -> Result<String> {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: caller.user_id,
            email: caller.email.clone(),
            name: caller.name.clone(),
            roles: caller.roles.clone(),
            customer_ids: caller.customer_ids.clone(),
            iat: now,
            exp: now + self.access_ttl.num_seconds(),
            iss: ISSUER.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("jwt encode: {e}")))
    }

    /// Verifies signature, algorithm, issuer and expiry (no leeway).
    pub fn verify(&self, token: &str) -> Result<Caller> {
        Ok(self.claims(token)?.into())
    }

    /// When a valid token expires (a live stream ends then: the client
    /// reconnects with a fresh token instead of listening past its login).
    pub fn expires_at(&self, token: &str) -> Result<DateTime<Utc>> {
        let exp = self.claims(token)?.exp;
        DateTime::from_timestamp(exp, 0)
            .ok_or_else(|| Error::Unauthorized("invalid access token".into()))
    }

    fn claims(&self, token: &str) -> Result<AccessClaims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        // RFC 7519 §4.1.4: the token is expired *at* `exp` (jsonwebtoken only
        // rejects it a second later), so a zero TTL really means "expired".
        v.reject_tokens_expiring_in_less_than = 1;
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "sub", "iss"]);
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &v).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                Error::Unauthorized(match e.kind() {
                    ErrorKind::ExpiredSignature => "access token expired".into(),
                    _ => "invalid access token".into(),
                })
            })?;
        Ok(data.claims)
    }
}

impl From<AccessClaims> for Caller {
    fn from(c: AccessClaims) -> Self {
        Caller {
            user_id: c.sub,
            email: c.email,
            name: c.name,
            roles: c.roles,
            customer_ids: c.customer_ids,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            user_id: UserId::new(),
            email: "a@b.co".into(),
            name: "A".into(),
            roles: vec![Role::CustomerMember],
            customer_ids: vec![CustomerId::new()],
        }
    }

    #[test]
    fn round_trip_and_tamper() {
        let k = TokenKeys::new(
            b"secret-secret-secret-secret-1234",
            Duration::minutes(5),
            Duration::days(1),
        );
        let t = k.sign(&caller()).unwrap();
        assert_eq!(k.verify(&t).unwrap().email, "a@b.co");
        let other = TokenKeys::new(
            b"another-secret-another-secret-12",
            Duration::minutes(5),
            Duration::days(1),
        );
        assert!(other.verify(&t).is_err());
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        parts[1].insert(3, 'x');
        assert!(k.verify(&parts.join(".")).is_err());
    }

    #[test]
    fn expired_is_rejected() {
        let k = TokenKeys::new(
            b"secret-secret-secret-secret-1234",
            Duration::seconds(-5),
            Duration::days(1),
        );
        let t = k.sign(&caller()).unwrap();
        assert!(matches!(k.verify(&t), Err(Error::Unauthorized(m)) if m.contains("expired")));
        let zero = TokenKeys::new(
            b"secret-secret-secret-secret-1234",
            Duration::zero(),
            Duration::days(1),
        );
        let t = zero.sign(&caller()).unwrap();
        assert!(matches!(zero.verify(&t), Err(Error::Unauthorized(m)) if m.contains("expired")));
    }
}
