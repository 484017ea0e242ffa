//! `serde` support: matchers travel as their `Display` strings.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

use super::{Matcher, MatcherError, Matchers};

/// Serialized as its [`Display`](fmt::Display) string.
impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Deserialized from a string with [`FromStr`].
impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParseVisitor::new(
            "a label matcher such as `name=\"value\"`",
        ))
    }
}

/// Serialized as its [`Display`](fmt::Display) string.
impl Serialize for Matchers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Deserialized from a string with [`Matchers::parse`].
impl<'de> Deserialize<'de> for Matchers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParseVisitor::new(
            "a list of label matchers such as `{name=\"value\", other=~\"regex\"}`",
        ))
    }
}

/// Deserializes a `T` from a string with its [`FromStr`].
struct ParseVisitor<T> {
    expecting: &'static str,
    target: PhantomData<fn() -> T>,
}

impl<T> ParseVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        Self {
            expecting,
            target: PhantomData,
        }
    }
}

impl<T: FromStr<Err = MatcherError>> Visitor<'_> for ParseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}
