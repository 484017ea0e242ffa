//! Packed storage for sorted string pairs: the representation behind
//! [`LabelSet`](super::LabelSet) and [`Annotations`](super::Annotations).
//!
//! All names and values of a set live in one `String`; a sorted table of
//! offsets indexes them. A set therefore costs three allocations whatever
//! its size (the `Arc`, the text, the table) instead of two per pair, and
//! parsing appends JSON strings straight into the text without an
//! intermediate `String` per label.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, OnceLock};

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};

/// Where one pair's name and value sit in the text.
#[derive(Debug, Clone, Copy)]
struct Span {
    name: u32,
    name_len: u32,
    value: u32,
    value_len: u32,
}

#[derive(Debug, Default)]
struct Packed {
    text: String,
    spans: Vec<Span>,
    /// The pairs as a JSON object, encoded on first use: the journal, the
    /// alert row and the timeline row all store the same text.
    json: OnceLock<Box<str>>,
}

fn slice(text: &str, start: u32, len: u32) -> &str {
    let start = start as usize;
    text.get(start..start + len as usize).unwrap_or_default()
}

/// The bytes of a span: comparisons need no UTF-8 boundary checks.
fn bytes(text: &str, start: u32, len: u32) -> &[u8] {
    let start = start as usize;
    text.as_bytes()
        .get(start..start + len as usize)
        .unwrap_or_default()
}

impl Packed {
    fn name_bytes(&self, s: &Span) -> &[u8] {
        bytes(&self.text, s.name, s.name_len)
    }

    fn name(&self, s: &Span) -> &str {
        slice(&self.text, s.name, s.name_len)
    }

    fn value(&self, s: &Span) -> &str {
        slice(&self.text, s.value, s.value_len)
    }
}

/// Appends `s` as a JSON string, escaped exactly as `serde_json` escapes
/// it (so stored text does not depend on which of the two encoded it).
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is an ASCII byte: a character boundary.
        out.push_str(s.get(start..i).unwrap_or_default());
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

static EMPTY: LazyLock<Arc<Packed>> = LazyLock::new(Arc::default);

/// Sorted, unique pairs shared behind one `Arc`: cloning is a reference-count
/// increment, lookups are binary searches.
#[derive(Clone)]
pub(super) struct Pairs(Arc<Packed>);

impl Pairs {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        let p = &*self.0;
        p.spans
            .binary_search_by(|s| p.name_bytes(s).cmp(name.as_bytes()))
            .ok()
            .map(|i| p.value(&p.spans[i]))
    }

    pub(super) fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        let p = &*self.0;
        p.spans.iter().map(move |s| (p.name(s), p.value(s)))
    }

    pub(super) fn len(&self) -> usize {
        self.0.spans.len()
    }

    /// The pairs as a JSON object, `{"name":"value",…}` in name order;
    /// encoded once and shared by every clone.
    pub(super) fn json(&self) -> &str {
        self.0.json.get_or_init(|| {
            let mut out = String::with_capacity(self.0.text.len() + 6 * self.len() + 2);
            out.push('{');
            for (i, (k, v)) in self.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_str(&mut out, k);
                out.push(':');
                push_json_str(&mut out, v);
            }
            out.push('}');
            out.into_boxed_str()
        })
    }

    /// The pairs `other` holds with the same value.
    pub(super) fn common(&self, other: &Pairs) -> Builder {
        let mut b = Builder::default();
        for (k, v) in self.iter().filter(|(k, v)| other.get(k) == Some(v)) {
            b.push(k, v);
        }
        b
    }
}

impl Default for Pairs {
    fn default() -> Self {
        Self(Arc::clone(&EMPTY))
    }
}

impl PartialEq for Pairs {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.iter().eq(other.iter())
    }
}

impl Eq for Pairs {}

impl Hash for Pairs {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for (k, v) in self.iter() {
            k.hash(state);
            v.hash(state);
        }
    }
}

/// Collects pairs in any order, then [`finish`](Builder::finish)es them.
#[derive(Debug, Default)]
pub(super) struct Builder {
    text: String,
    spans: Vec<Span>,
}

impl Builder {
    fn append(&mut self, s: &str) -> Option<(u32, u32)> {
        let start = u32::try_from(self.text.len()).ok()?;
        let len = u32::try_from(s.len()).ok()?;
        start.checked_add(len)?;
        self.text.push_str(s);
        Some((start, len))
    }

    /// Adds a pair. Offsets are 32-bit: a pair that would end past 4 GiB of
    /// text is not added (parsing reports that case as an error; bodies are
    /// bounded far below it).
    pub(super) fn push(&mut self, name: &str, value: &str) {
        if let (Some((name, name_len)), Some((value, value_len))) =
            (self.append(name), self.append(value))
        {
            self.spans.push(Span {
                name,
                name_len,
                value,
                value_len,
            });
        }
    }

    /// Sorts by name (bytewise, like Go's `sort.Strings`), keeps the last value
    /// given for a repeated name (like Go's JSON decoder) and then, for labels,
    /// drops empty values: `{"a":"x","a":""}` means "no label `a`".
    pub(super) fn finish(mut self, drop_empty_values: bool) -> Pairs {
        if self.spans.is_empty() {
            return Pairs::default();
        }
        let text = &self.text;
        let name = |s: &Span| bytes(text, s.name, s.name_len);
        if !self.spans.is_sorted_by(|a, b| name(a) < name(b)) {
            // Stable: among equal names the input order is kept, so the last one wins.
            self.spans.sort_by(|a, b| name(a).cmp(name(b)));
            self.spans.dedup_by(|later, kept| {
                let same = name(later) == name(kept);
                if same {
                    kept.value = later.value;
                    kept.value_len = later.value_len;
                }
                same
            });
        }
        if drop_empty_values {
            self.spans.retain(|s| s.value_len > 0);
        }
        Pairs(Arc::new(Packed {
            text: self.text,
            spans: self.spans,
            json: OnceLock::new(),
        }))
    }
}

// --- serde ---------------------------------------------------------------------

/// Appends one JSON string to the builder's text.
struct Append<'a>(&'a mut Builder);

impl<'de> DeserializeSeed<'de> for Append<'_> {
    type Value = Option<(u32, u32)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Append<'_> {
    type Value = Option<(u32, u32)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.0.append(s))
    }
}

/// Reads `null` (as empty: Alertmanager never sends it, other producers do)
/// or a JSON object of strings into a [`Builder`]. Empty names are rejected.
pub(super) struct BuilderVisitor;

impl<'de> Visitor<'de> for BuilderVisitor {
    type Value = Builder;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of string values")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Builder::default())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Builder::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Room for a typical label set (ten labels, a few hundred bytes) up
        // front: growing from empty would cost several reallocations.
        let mut b = Builder {
            text: String::with_capacity(256),
            spans: Vec::with_capacity(map.size_hint().unwrap_or(12).min(64)),
        };
        while let Some(name) = map.next_key_seed(Append(&mut b))? {
            let value = map.next_value_seed(Append(&mut b))?;
            match (name, value) {
                (Some((_, 0)), _) => return Err(A::Error::custom("empty label name")),
                (Some((name, name_len)), Some((value, value_len))) => b.spans.push(Span {
                    name,
                    name_len,
                    value,
                    value_len,
                }),
                _ => return Err(A::Error::custom("labels larger than 4 GiB")),
            }
        }
        Ok(b)
    }
}
