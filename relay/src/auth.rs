//! Access control: the JWTs a client shows in `hello` (`docs/security.md`).
//!
//! A token is a standard JWT signed with a shared secret (HS256) or with an
//! Ed25519 key pair (EdDSA, so that the relay holds only the public key and
//! cannot mint tokens itself). Its claims name the user (`sub`), one
//! document or a prefix of document ids ending in `*` (`doc`), the access
//! (`role`: `read` or `write`), and when it stops being valid (`exp`,
//! required; `nbf`, optional). Several verification keys may be configured
//! at once, so that keys can be rotated without a moment when valid tokens
//! are refused.
//!
//! With no key configured the relay runs open: every `hello` may write.

use std::path::Path;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// Shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least the
/// hash's size).
pub const MIN_SECRET_BYTES: usize = 32;

/// What a token allows on its documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Catch-up and every echo; each `op` is refused with `read_only`.
    Read,
    Write,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            other => Err(format!("role {other:?}: use \"read\" or \"write\"")),
        }
    }
}

/// The claims of a relay token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user, logged with the connection.
    pub sub: String,
    /// One document id, or a prefix ending in `*` (`*` alone: every one).
    pub doc: String,
    pub role: Role,
    /// Seconds since the Unix epoch after which the token is refused and a
    /// connection holding it is closed.
    pub exp: u64,
    /// Seconds since the Unix epoch before which the token is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

impl Claims {
    /// Whether the `doc` claim covers `doc_id`.
    pub fn grants(&self, doc_id: &str) -> bool {
        match self.doc.strip_suffix('*') {
            Some(prefix) => doc_id.starts_with(prefix),
            None => self.doc == doc_id,
        }
    }
}

/// What a verified `hello` may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// The token's `sub`; `None` on an open relay.
    pub sub: Option<String>,
    pub role: Role,
    /// The token's `exp`, in seconds since the Unix epoch.
    pub exp: Option<u64>,
}

impl Access {
    /// Everything, for ever: a relay without keys.
    pub fn open() -> Access {
        Access {
            sub: None,
            role: Role::Write,
            exp: None,
        }
    }

    pub fn read_only(&self) -> bool {
        self.role == Role::Read
    }

    /// How long until the token expires, from the wall clock now.
    pub fn expires_in(&self) -> Option<Duration> {
        self.exp
            .map(|exp| Duration::from_secs(exp.saturating_sub(now_secs())))
    }
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("a token is required")]
    Missing,
    /// Malformed, a bad signature, or signed with no configured key.
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token has expired")]
    Expired,
    #[error("the token does not grant document {doc_id:?}")]
    WrongDocument { doc_id: String },
}

/// A key or setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Invalid { path: String, why: String },
    #[error("no signing key: give --auth-secret-file or --auth-private-key-file")]
    NoSigningKey,
    #[error("signing failed: {0}")]
    Sign(String),
}

/// One verification key with the one algorithm it accepts: an HS256
/// secret never verifies an EdDSA token or the other way round, and `none`
/// is never accepted.
struct Key {
    key: DecodingKey,
    validation: Validation,
}

/// The relay's verification keys; empty when it runs open.
pub struct Verifier {
    keys: Vec<Key>,
}

impl Verifier {
    /// The keys `--auth-secret-file` and `--auth-public-key-file` name.
    pub fn from_config(config: &Config) -> Result<Verifier, KeyError> {
        let mut keys = Vec::new();
        for path in &config.auth_secret_file {
            let secret = read_secret(path)?;
            keys.push(Key {
                key: DecodingKey::from_secret(&secret),
                validation: validation(Algorithm::HS256),
            });
        }
        for path in &config.auth_public_key_file {
            let pem = read(path)?;
            let key = DecodingKey::from_ed_pem(&pem).map_err(|e| KeyError::Invalid {
                path: path.display().to_string(),
                why: format!("not an Ed25519 public key in PEM ({e})"),
            })?;
            keys.push(Key {
                key,
                validation: validation(Algorithm::EdDSA),
            });
        }
        Ok(Verifier { keys })
    }

    /// Adds an HS256 secret (demo mode's key of the moment).
    pub fn add_secret(&mut self, secret: &[u8]) {
        self.keys.push(Key {
            key: DecodingKey::from_secret(secret),
            validation: validation(Algorithm::HS256),
        });
    }

    /// Whether the relay runs open (no key configured).
    pub fn is_open(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys are configured.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// Checks `hello`'s token for `doc_id`.
    pub fn verify(&self, token: Option<&str>, doc_id: &str) -> Result<Access, Refusal> {
        if self.is_open() {
            return Ok(Access::open());
        }
        let claims = self.claims(token.ok_or(Refusal::Missing)?)?;
        if !claims.grants(doc_id) {
            return Err(Refusal::WrongDocument {
                doc_id: doc_id.to_owned(),
            });
        }
        Ok(Access {
            sub: Some(claims.sub),
            role: claims.role,
            exp: Some(claims.exp),
        })
    }

    /// The claims of a token one of the keys signed, once `exp` and `nbf`
    /// hold. Each key is tried in turn: a signature check fails fast, and
    /// a relay has one key, or two while rotating.
    pub fn claims(&self, token: &str) -> Result<Claims, Refusal> {
        let mut last = Refusal::Invalid("no key".into());
        for key in &self.keys {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => match e.kind() {
                    // Signed with another key (or for another algorithm):
                    // the next key may be the one.
                    ErrorKind::InvalidSignature
                    | ErrorKind::InvalidAlgorithm
                    | ErrorKind::InvalidKeyFormat
                    | ErrorKind::InvalidEddsaKey => last = Refusal::Invalid(e.to_string()),
                    ErrorKind::ExpiredSignature => return Err(Refusal::Expired),
                    ErrorKind::ImmatureSignature => return Err(Refusal::NotYetValid),
                    _ => return Err(Refusal::Invalid(e.to_string())),
                },
            }
        }
        Err(last)
    }
}

/// Required claims and no leeway: the relay closes a connection at `exp`
/// exactly, so accepting a token a little past it at `hello` would only
/// open a connection to close it at once.
fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = 0;
    v.validate_nbf = true;
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "sub"]);
    v
}

/// What mints tokens: the `token` subcommand and the demo's endpoint.
pub struct Signer {
    key: EncodingKey,
    alg: Algorithm,
}

impl Signer {
    /// `--auth-private-key-file` if given, else the first
    /// `--auth-secret-file` (the one new tokens are signed with while
    /// rotating).
    pub fn from_config(config: &Config) -> Result<Signer, KeyError> {
        if let Some(path) = &config.auth_private_key_file {
            let pem = read(path)?;
            let key = EncodingKey::from_ed_pem(&pem).map_err(|e| KeyError::Invalid {
                path: path.display().to_string(),
                why: format!("not an Ed25519 private key in PKCS#8 PEM ({e})"),
            })?;
            return Ok(Signer {
                key,
                alg: Algorithm::EdDSA,
            });
        }
        match config.auth_secret_file.first() {
            Some(path) => Ok(Signer::hs256(&read_secret(path)?)),
            None => Err(KeyError::NoSigningKey),
        }
    }

    /// Demo mode's signer: the configured key, or else a random secret
    /// that `verifier` learns too and that dies with the process.
    pub fn for_demo(config: &Config, verifier: &mut Verifier) -> Result<Signer, KeyError> {
        match Signer::from_config(config) {
            Err(KeyError::NoSigningKey) => {
                let mut secret = [0u8; 32];
                getrandom::getrandom(&mut secret).map_err(|e| KeyError::Sign(e.to_string()))?;
                verifier.add_secret(&secret);
                Ok(Signer::hs256(&secret))
            }
            other => other,
        }
    }

    /// A signer with a shared secret (for tests and tools).
    pub fn hs256(secret: &[u8]) -> Signer {
        Signer {
            key: EncodingKey::from_secret(secret),
            alg: Algorithm::HS256,
        }
    }

    /// An Ed25519 signer from a PKCS#8 PEM private key.
    pub fn eddsa_pem(pem: &[u8]) -> Result<Signer, KeyError> {
        let key = EncodingKey::from_ed_pem(pem).map_err(|e| KeyError::Invalid {
            path: "(pem)".into(),
            why: e.to_string(),
        })?;
        Ok(Signer {
            key,
            alg: Algorithm::EdDSA,
        })
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        jsonwebtoken::encode(&Header::new(self.alg), claims, &self.key)
            .map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// A token for `doc` with `role`, valid from now for `ttl`.
    pub fn mint(
        &self,
        sub: &str,
        doc: &str,
        role: Role,
        ttl: Duration,
    ) -> Result<String, KeyError> {
        self.sign(&Claims {
            sub: sub.to_owned(),
            doc: doc.to_owned(),
            role,
            exp: now_secs() + ttl.as_secs(),
            nbf: None,
        })
    }
}

/// Seconds since the Unix epoch, the clock `exp` and `nbf` count in.
pub fn now_secs() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Parses a duration such as `90s`, `15m`, `1h` or `7d` (a bare number is
/// seconds).
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with s, m, h or d"))?;
    let secs = match unit {
        "" | "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    };
    match secs {
        Some(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "{s:?}: expected a positive duration such as 90s, 15m, 1h or 7d"
        )),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// A secret file's bytes, without the line end an editor or `echo` adds.
fn read_secret(path: &Path) -> Result<Vec<u8>, KeyError> {
    let mut secret = read(path)?;
    while secret.last().is_some_and(|b| b.is_ascii_whitespace()) {
        secret.pop();
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(KeyError::Invalid {
            path: path.display().to_string(),
            why: format!(
                "an HS256 secret must be at least {MIN_SECRET_BYTES} bytes (it is {})",
                secret.len()
            ),
        });
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doc_claim_is_one_id_or_a_prefix() {
        let claims = |doc: &str| Claims {
            sub: "a".into(),
            doc: doc.into(),
            role: Role::Read,
            exp: 0,
            nbf: None,
        };
        assert!(claims("notes").grants("notes"));
        assert!(!claims("notes").grants("notes2"));
        assert!(!claims("notes").grants("note"));
        assert!(claims("team/*").grants("team/a"));
        assert!(claims("team/*").grants("team/"));
        assert!(!claims("team/*").grants("teams"));
        assert!(claims("*").grants("anything"));
    }

    #[test]
    fn ttls_read_like_people_write_them() {
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
    }
}
