//! [`Secret`]: a string that is never printed.
//!
//! Webhook URLs, API keys, tokens and passwords are held as [`Secret`]s across
//! alertkit (publisher configuration, the LLM classifier, the reference
//! server). They never show up in `Debug`, `Display`, serialized output or
//! error messages; [`Secret::expose`] is the one way to the value.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a secret looks like in `Debug`/`Display` output, serialized views and
/// redacted URLs.
pub const REDACTED: &str = "***";

/// A webhook URL, API key, token or password.
///
/// * `Debug` prints `Secret("***")`, `Display` prints `***` and `Serialize`
///   writes the string `"***"`, so configuration echoed back through an API
///   stays safe.
/// * `Deserialize` reads a plain string.
/// * [`expose`](Secret::expose) is the one way to the value, so every use is
///   easy to find.
/// * [`matches`](Secret::matches) (and `==`) compare in constant time,
///   without revealing the secret's length.
///
/// Cloning is cheap: an `Arc` increment and a 32-byte copy.
///
/// ```
/// use alertkit_core::Secret;
///
/// let key = Secret::new("xoxb-123-456");
/// assert_eq!(format!("{key:?}"), r#"Secret("***")"#);
/// assert_eq!(key.to_string(), "***");
/// assert_eq!(key.expose(), "xoxb-123-456");
/// assert_eq!(serde_json::to_string(&key).unwrap(), r#""***""#);
///
/// let parsed: Secret = serde_json::from_str(r#""xoxb-123-456""#).unwrap();
/// assert_eq!(parsed, key);
/// assert!(key.matches(b"xoxb-123-456"));
/// assert!(!key.matches(b"xoxb-123"));
/// ```
#[derive(Clone)]
pub struct Secret {
    value: Arc<str>,
    /// SHA-256 of `value`, computed once so that [`Secret::matches`] spends no
    /// time proportional to the secret's length.
    digest: [u8; 32],
}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        let value = value.into();
        let digest = Sha256::digest(value.as_bytes()).into();
        Self { value, digest }
    }

    /// The secret value, for the one place that must send or open it. Never
    /// log or format it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// Whether `candidate` equals the secret (a bearer token or password
    /// presented by a client).
    ///
    /// The comparison is constant-time: `candidate` is hashed with SHA-256
    /// and the digest compared to the secret's (computed once, at
    /// [`Secret::new`]) with [`subtle`]. The time taken depends on the
    /// candidate's length only: neither where the values differ nor the
    /// secret's length can be learnt from it.
    ///
    /// ```
    /// use alertkit_core::Secret;
    ///
    /// let token = Secret::new("s3cr3t-admin-token");
    /// assert!(token.matches(b"s3cr3t-admin-token"));
    /// assert!(!token.matches(b"s3cr3t-admin-tokeN"));
    /// assert!(!token.matches(b"s3cr3t"));
    /// assert!(!token.matches(b""));
    /// ```
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let candidate: [u8; 32] = Sha256::digest(candidate).into();
        self.digest.ct_eq(&candidate).into()
    }

    /// A URL with everything but its scheme, host and port hidden:
    /// `https://hooks.slack.com/***`. Anything that does not look like a URL
    /// is fully hidden.
    ///
    /// ```
    /// use alertkit_core::Secret;
    ///
    /// let url = Secret::new("https://user:pw@hooks.slack.com:443/services/T0/B0/XYZ?x=1");
    /// assert_eq!(url.redacted_url(), "https://hooks.slack.com:443/***");
    /// assert_eq!(Secret::new("not a url").redacted_url(), "***");
    /// ```
    pub fn redacted_url(&self) -> String {
        let Some((scheme, rest)) = self.value.split_once("://") else {
            return REDACTED.to_owned();
        };
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+')
        {
            return REDACTED.to_owned();
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        // Drop `user:password@`.
        let host = authority.rsplit('@').next().unwrap_or_default();
        if host.is_empty() {
            return REDACTED.to_owned();
        }
        format!("{scheme}://{host}/{REDACTED}")
    }
}

/// Constant-time, like [`Secret::matches`].
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.digest.ct_eq(&other.digest).into()
    }
}

impl Eq for Secret {}

/// `Secret("***")`.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Secret").field(&REDACTED).finish()
    }
}

/// `***`.
impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// Serialized as `"***"`: configuration echoed back through an API stays safe.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// Read from a plain string.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?} {s}"), r#"Secret("***") ***"#);
        assert!(!format!("{s:?} {s:#?}").contains("hunter2"));
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""***""#);
        assert_eq!(
            serde_json::to_string(&Some(s)).unwrap(),
            r#""***""#,
            "Option<Secret> too"
        );
    }

    #[test]
    fn deserializes_from_a_string() {
        let s: Secret = serde_json::from_str(r#""hunter2""#).unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert!(serde_json::from_str::<Secret>("42").is_err());
    }

    #[test]
    fn compared_by_value() {
        let s = Secret::new("hunter2-hunter2");
        assert!(s.matches(b"hunter2-hunter2"));
        assert!(!s.matches(b"hunter2-hunter3"));
        assert!(!s.matches(b"hunter2"));
        assert!(!s.matches(b"hunter2-hunter2-"));
        assert!(!s.matches(b""));
        assert!(Secret::new("").matches(b""));
        assert_eq!(s, Secret::from("hunter2-hunter2".to_owned()));
        assert_ne!(s, Secret::new("hunter2"));
        assert!(Secret::new("").is_empty());
        assert!(!s.is_empty());
    }

    #[test]
    fn redacted_url() {
        assert_eq!(
            Secret::new("https://host").redacted_url(),
            "https://host/***"
        );
        assert_eq!(
            Secret::new("https://user:pw@host:8443/p?q#f").redacted_url(),
            "https://host:8443/***"
        );
        assert_eq!(
            Secret::new("redis+unix://h/x").redacted_url(),
            "redis+unix://h/***"
        );
        assert_eq!(Secret::new("://host").redacted_url(), "***");
        assert_eq!(Secret::new("https:///path").redacted_url(), "***");
        assert_eq!(Secret::new("ht tp://host").redacted_url(), "***");
        assert_eq!(Secret::new("not a url").redacted_url(), "***");
    }
}
