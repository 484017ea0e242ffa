//! Ordered, immutable, cheaply cloned string maps: [`LabelSet`] and [`Annotations`].

use std::fmt;

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::fingerprint::Fingerprint;
use super::pairs::{Builder, BuilderVisitor, Pairs};

/// Adds `(name, value)` pairs of any string type to a builder.
fn collect<I, K, V>(pairs: I) -> Builder
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut b = Builder::default();
    for (k, v) in pairs {
        b.push(k.as_ref(), v.as_ref());
    }
    b
}

/// Alert labels: the identity of an alert.
///
/// A `LabelSet` is sorted by name, never holds an empty value (Prometheus and
/// Alertmanager treat `foo=""` as "no label `foo`"), and carries its
/// [`Fingerprint`], computed once when the set is built. Cloning is an `Arc`
/// increment, so the set can travel through every stage of the pipeline.
///
/// ```
/// use alertkit_core::LabelSet;
///
/// let labels = LabelSet::from_pairs([("severity", "critical"), ("alertname", "HighLatency"), ("service", "db")]);
/// assert_eq!(labels.get("service"), Some("db"));
/// assert_eq!(labels.fingerprint().to_string(), "52abb4dd02d696b5");
/// let names: Vec<&str> = labels.iter().map(|(name, _)| name).collect();
/// assert_eq!(names, ["alertname", "service", "severity"]);
/// ```
#[derive(Clone)]
pub struct LabelSet {
    pairs: Pairs,
    fingerprint: Fingerprint,
}

impl LabelSet {
    /// Builds a set from `(name, value)` pairs in any order.
    ///
    /// Empty values are dropped and, for a repeated name, the last value wins.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::build(collect(pairs))
    }

    fn build(b: Builder) -> Self {
        let pairs = b.finish(true);
        let fingerprint = Fingerprint::of_sorted(pairs.iter());
        Self { pairs, fingerprint }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.get(name)
    }

    /// Whether label `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The Alertmanager/Prometheus fingerprint of these labels.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Pairs in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.pairs.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// The labels as a JSON object (names sorted), the text
    /// `serde_json::to_string` gives; encoded on first use and shared by
    /// every clone of this set, so the journal and the history rows that
    /// store it encode it once.
    ///
    /// ```
    /// use alertkit_core::LabelSet;
    ///
    /// let labels = LabelSet::from_pairs([("severity", "page"), ("alertname", "Down \"db\"")]);
    /// assert_eq!(labels.to_json(), r#"{"alertname":"Down \"db\"","severity":"page"}"#);
    /// assert_eq!(labels.to_json(), serde_json::to_string(&labels).unwrap());
    /// ```
    pub fn to_json(&self) -> &str {
        self.pairs.json()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.pairs.len() == 0
    }

    /// The labels both sets share with equal values (Alertmanager's `commonLabels`).
    pub fn intersection(&self, other: &LabelSet) -> LabelSet {
        Self::build(self.pairs.common(&other.pairs))
    }
}

impl Default for LabelSet {
    fn default() -> Self {
        Self::build(Builder::default())
    }
}

impl PartialEq for LabelSet {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint && self.pairs == other.pairs
    }
}

impl Eq for LabelSet {}

impl std::hash::Hash for LabelSet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.fingerprint.hash(state);
    }
}

/// Renders like Prometheus' `LabelSet.String()`: `{a="1", b="2"}`.
impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_pairs(self.iter(), f)
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_pairs(self.iter(), f)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for LabelSet {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Self::from_pairs(iter)
    }
}

/// Alert annotations: free-form, ordered text such as `summary` and `description`.
///
/// Unlike labels, annotations keep empty values and do not take part in the
/// fingerprint. Cloning is an `Arc` increment.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Annotations(Pairs);

impl Annotations {
    /// Builds annotations from `(name, value)` pairs in any order; for a repeated name the last value wins.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self(collect(pairs).finish(false))
    }

    /// The value of annotation `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    /// Pairs in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.0.iter()
    }

    /// Number of annotations.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The annotations as a JSON object (names sorted), encoded once and
    /// shared by every clone; see [`LabelSet::to_json`].
    pub fn to_json(&self) -> &str {
        self.0.json()
    }

    /// Whether there are no annotations.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// The annotations both sets share with equal values (Alertmanager's `commonAnnotations`).
    pub fn intersection(&self, other: &Annotations) -> Annotations {
        Self(self.0.common(&other.0).finish(false))
    }
}

impl fmt::Debug for Annotations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_pairs(self.iter(), f)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Annotations {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Self::from_pairs(iter)
    }
}

fn fmt_pairs<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    f.write_str("{")?;
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{k}={v:?}")?;
    }
    f.write_str("}")
}

// --- serde: a JSON object in name order -------------------------------------

fn serialize_pairs<'a, S: Serializer>(
    pairs: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

impl Serialize for LabelSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_pairs(self.iter(), serializer)
    }
}

impl<'de> Deserialize<'de> for LabelSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_option(BuilderVisitor)
            .map(Self::build)
    }
}

impl Serialize for Annotations {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_pairs(self.iter(), serializer)
    }
}

impl<'de> Deserialize<'de> for Annotations {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_option(BuilderVisitor)
            .map(|b| Self(b.finish(false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_deduplicated_and_empty_values_dropped() {
        let set = LabelSet::from_pairs([("b", "1"), ("a", "x"), ("c", ""), ("a", "y")]);
        let pairs: Vec<_> = set.iter().collect();
        assert_eq!(pairs, [("a", "y"), ("b", "1")]);
        assert_eq!(set.get("c"), None);
        assert_eq!(set, LabelSet::from_pairs([("a", "y"), ("b", "1")]));
    }

    proptest::proptest! {
        #[test]
        fn behaves_like_a_sorted_map(pairs in proptest::collection::vec(("[a-c]{1,2}", "[x-z]{0,2}"), 0..12)) {
            let mut want = std::collections::BTreeMap::new();
            for (k, v) in &pairs {
                want.insert(k.clone(), v.clone());
            }
            want.retain(|_, v| !v.is_empty());
            let set = LabelSet::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let got: Vec<(String, String)> = set.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            let want: Vec<(String, String)> = want.into_iter().collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    proptest::proptest! {
        /// The cached JSON is the text serde_json writes, byte for byte, for
        /// any names and values (control characters, quotes, backslashes,
        /// unicode), and reads back as the same pairs.
        #[test]
        fn to_json_is_serde_json_text(
            pairs in proptest::collection::vec(("\\PC{1,8}|[\\x00-\\x1f\"\\\\]{1,4}", "(\\PC|[\\x00-\\x1f\\x7f\"\\\\])*"), 0..8),
        ) {
            let labels = LabelSet::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let annotations = Annotations::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            proptest::prop_assert_eq!(labels.to_json(), serde_json::to_string(&labels).unwrap());
            proptest::prop_assert_eq!(annotations.to_json(), serde_json::to_string(&annotations).unwrap());
            // Once encoded, clones share it.
            let clone = labels.clone();
            proptest::prop_assert!(std::ptr::eq(clone.to_json(), labels.to_json()));
            let back: Annotations = serde_json::from_str(annotations.to_json()).unwrap();
            proptest::prop_assert_eq!(back, annotations);
        }
    }

    #[test]
    fn annotations_keep_empty_values() {
        let ann = Annotations::from_pairs([("summary", ""), ("description", "d")]);
        assert_eq!(ann.get("summary"), Some(""));
        assert_eq!(ann.len(), 2);
    }

    #[test]
    fn serde_round_trip_in_name_order() {
        let set: LabelSet = serde_json::from_str(r#"{"z":"1","a":"2"}"#).unwrap();
        assert_eq!(serde_json::to_string(&set).unwrap(), r#"{"a":"2","z":"1"}"#);
        let null: LabelSet = serde_json::from_str("null").unwrap();
        assert!(null.is_empty());
        assert!(serde_json::from_str::<LabelSet>(r#"{"":"x"}"#).is_err());
        assert!(serde_json::from_str::<LabelSet>(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn display_is_prometheus_style() {
        let set = LabelSet::from_pairs([("b", "x\"y"), ("a", "1")]);
        assert_eq!(set.to_string(), r#"{a="1", b="x\"y"}"#);
    }

    #[test]
    fn intersection() {
        let a = LabelSet::from_pairs([("a", "1"), ("b", "2"), ("c", "3")]);
        let b = LabelSet::from_pairs([("a", "1"), ("b", "X"), ("c", "3")]);
        assert_eq!(
            a.intersection(&b),
            LabelSet::from_pairs([("a", "1"), ("c", "3")])
        );
    }
}
