//! The Alertmanager/Prometheus alert fingerprint.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;
const SEPARATOR: u8 = 0xff;

/// The identity of an alert: FNV-1a 64 over its sorted labels.
///
/// Byte-compatible with prometheus/common `labelSetToFingerprint`, which
/// Alertmanager uses: for each label in bytewise name order, hash the name,
/// `0xFF`, the value, `0xFF` (the separator never occurs in UTF-8, so
/// `{a="bc"}` and `{ab="c"}` differ). It renders as 16 lowercase hex digits.
/// Annotations, times and status do not affect it.
///
/// ```
/// use alertkit_core::{Fingerprint, LabelSet};
///
/// let labels = LabelSet::from_pairs([("first-label", "first-label-value")]);
/// assert_eq!(labels.fingerprint().to_string(), "476b44f5db3e21f9");
/// assert_eq!("476b44f5db3e21f9".parse::<Fingerprint>().unwrap(), labels.fingerprint());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// Wraps a raw 64-bit fingerprint.
    pub const fn from_u64(value: u64) -> Self {
        Self(value)
    }

    /// The raw 64-bit value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Hashes label pairs that are **already sorted by name (bytewise), unique,
    /// and free of empty values**; other input gives a fingerprint Alertmanager
    /// would not compute.
    ///
    /// [`LabelSet`](crate::LabelSet) calls this once when it is built, so
    /// [`LabelSet::fingerprint`](crate::LabelSet::fingerprint) is free; this
    /// entry point exists for callers holding sorted labels in another form.
    ///
    /// ```
    /// use alertkit_core::Fingerprint;
    ///
    /// let fp = Fingerprint::of_sorted([("alertname", "HighLatency"), ("service", "db"), ("severity", "critical")]);
    /// assert_eq!(fp.to_string(), "52abb4dd02d696b5");
    /// ```
    pub fn of_sorted<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut h = OFFSET_BASIS;
        for (name, value) in pairs {
            h = fnv1a(h, name.as_bytes());
            h = fnv1a(h, &[SEPARATOR]);
            h = fnv1a(h, value.as_bytes());
            h = fnv1a(h, &[SEPARATOR]);
        }
        Self(h)
    }
}

/// FNV-1a 64 over `bytes`, continuing from `h`.
#[inline]
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({:016x})", self.0)
    }
}

/// Error parsing a [`Fingerprint`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fingerprint {0:?}: expected 16 hexadecimal digits")]
pub struct InvalidFingerprint(pub String);

impl FromStr for Fingerprint {
    type Err = InvalidFingerprint;

    /// Accepts exactly 16 hex digits, either case (Alertmanager renders `%016x`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidFingerprint(s.chars().take(64).collect()));
        }
        u64::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| InvalidFingerprint(s.to_owned()))
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::deserialize_parsed(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LabelSet;

    /// Vectors from prometheus/common `model/signature_test.go`
    /// (`TestLabelsToSignature` / `TestMetricToFingerprint`) and the worked
    /// example in Alertmanager's webhook documentation.
    #[test]
    fn upstream_vectors() {
        let cases: &[(&[(&str, &str)], u64)] = &[
            (&[], 14_695_981_039_346_656_037),
            (
                &[("name", "garland, briggs"), ("fear", "love is not enough")],
                5_799_056_148_416_392_346,
            ),
            (
                &[("first-label", "first-label-value")],
                0x476b_44f5_db3e_21f9,
            ),
            (
                &[
                    ("severity", "critical"),
                    ("alertname", "HighLatency"),
                    ("service", "db"),
                ],
                0x52ab_b4dd_02d6_96b5,
            ),
        ];
        for (pairs, want) in cases {
            let got = LabelSet::from_pairs(pairs.iter().copied()).fingerprint();
            assert_eq!(got.as_u64(), *want, "labels {pairs:?}");
        }
    }

    #[test]
    fn separator_prevents_collisions() {
        let a = LabelSet::from_pairs([("a", "bc")]).fingerprint();
        let b = LabelSet::from_pairs([("ab", "c")]).fingerprint();
        assert_ne!(a, b);
    }

    #[test]
    fn renders_16_lowercase_hex_digits() {
        assert_eq!(Fingerprint::from_u64(0xab).to_string(), "00000000000000ab");
        assert_eq!(
            "00000000000000AB".parse::<Fingerprint>(),
            Ok(Fingerprint::from_u64(0xab))
        );
        assert!("abc".parse::<Fingerprint>().is_err());
        assert!("+00000000000000a".parse::<Fingerprint>().is_err());
        assert!("zzzzzzzzzzzzzzzz".parse::<Fingerprint>().is_err());
    }
}
