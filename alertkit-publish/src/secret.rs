//! [`Secret`]: a string that never shows up in `Debug`, `Display` or serialized output.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret looks like in `Debug` output, errors and redacted views.
pub const REDACTED: &str = "***";

/// A webhook URL, API key, token or password.
///
/// `Debug` and `Serialize` print `***`; [`expose`](Secret::expose) is the one
/// way to the value, so every use is easy to find. Cloning is an `Arc`
/// increment.
///
/// ```
/// use alertkit_publish::Secret;
///
/// let key = Secret::new("xoxb-123-456");
/// assert_eq!(format!("{key:?}"), r#"Secret("***")"#);
/// assert_eq!(key.expose(), "xoxb-123-456");
/// assert_eq!(serde_json::to_string(&key).unwrap(), r#""***""#);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }

    /// The secret value. Never log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A URL with everything but its scheme, host and port hidden:
    /// `https://hooks.slack.com/***`. Anything that does not look like a URL
    /// is fully hidden.
    ///
    /// ```
    /// use alertkit_publish::Secret;
    ///
    /// let url = Secret::new("https://user:pw@hooks.slack.com:443/services/T0/B0/XYZ?x=1");
    /// assert_eq!(url.redacted_url(), "https://hooks.slack.com:443/***");
    /// assert_eq!(Secret::new("not a url").redacted_url(), "***");
    /// ```
    pub fn redacted_url(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
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

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Secret").field(&REDACTED).finish()
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

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// Serializes an optional secret URL as its [`Secret::redacted_url`] (for redacted views).
#[cfg_attr(not(feature = "slack"), allow(dead_code))]
pub(crate) fn serialize_url<S: Serializer>(
    value: &Option<Secret>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(url) => serializer.serialize_some(&url.redacted_url()),
        None => serializer.serialize_none(),
    }
}

/// Replaces every occurrence of each non-trivial secret in `text` with `***`.
///
/// Used on response body excerpts: a target may echo a key back.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        // Very short values would redact ordinary words.
        if s.expose().len() >= 6 && out.contains(s.expose()) {
            out = out.replace(s.expose(), REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_everywhere() {
        let s = Secret::new("hunter2-very-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(scrub("echo hunter2-very-secret!", &[&s]), "echo ***!");
        assert_eq!(
            Secret::new("https://host").redacted_url(),
            "https://host/***"
        );
        assert_eq!(Secret::new("://host").redacted_url(), "***");
        assert_eq!(Secret::new("https:///path").redacted_url(), "***");
    }
}
