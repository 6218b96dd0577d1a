//! Bearer tokens: made here, shown once, stored as their SHA-256 only; and
//! the extractor that checks them on every API request.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::problem::Problem;
use crate::http::AppState;
use crate::store::TokenRow;

/// The prefix of every token, so that a leaked one is recognisable (secret
/// scanners match on it).
pub const PREFIX: &str = "hrld_";

/// A new token: `hrld_` and 32 random bytes in base64url.
pub fn generate() -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// What the database keeps of a token: its SHA-256, in hex. Tokens are
/// looked up by this hash, so the plaintext is never compared.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The token a request was made with, checked: present, known, not revoked.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenRow);

impl Caller {
    /// Refuses read-only tokens (403).
    pub fn may_write(&self) -> Result<(), Problem> {
        if self.0.read_only {
            return Err(Problem::forbidden(format!(
                "the token {:?} is read-only; make a token without --read-only to write",
                self.0.name
            )));
        }
        Ok(())
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(Problem::unauthorized(
                "send a token: Authorization: Bearer hrld_… (make one with `herald token create --name NAME`)",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| Problem::unauthorized("the Authorization header must be `Bearer <token>`"))?;
        match app.store.use_token(&hash(token), chrono::Utc::now()).await? {
            Some(row) => Ok(Caller(row)),
            None => Err(Problem::unauthorized("the token is unknown or revoked")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43, "{a}");
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
    }
}
