//! The TOML shape of a rule pack, before compilation.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};

/// The top level of a pack file. Rules stay raw TOML values so that each can
/// be decoded on its own and its errors can name it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackFile {
    #[serde(default)]
    pub(crate) name: Option<String>,
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) rule: Vec<toml::Value>,
}

/// One `[[rule]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) matchers: Option<String>,
    #[serde(default, deserialize_with = "one_or_many_conditions")]
    pub(crate) when: Vec<Conditions>,
    #[serde(default)]
    pub(crate) unless: Conditions,
    #[serde(default)]
    pub(crate) severity: Option<String>,
    #[serde(default)]
    pub(crate) category: Option<String>,
    #[serde(default)]
    pub(crate) confidence: Option<f64>,
    #[serde(default)]
    pub(crate) summary: Option<String>,
    #[serde(default)]
    pub(crate) recommendations: Vec<String>,
}

/// Regexes per haystack: `when` needs one match in every non-empty list,
/// `unless` rejects the rule on any match.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Conditions {
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) alertname: Patterns,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) summary: Patterns,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) description: Patterns,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) expr: Patterns,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) title: Patterns,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) text: Patterns,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) any: Patterns,
}

/// Regexes of which any may match, written as one string or an array. An
/// element of the array may itself be an array of regexes that must all
/// match (`['\bunhealthy\b', ['\bprobe\b', '\bfail']]`), which keeps
/// patterns free of slow `.*` gaps.
#[derive(Debug, Default)]
pub(crate) struct Patterns {
    /// Any-of groups, each all-of.
    pub(crate) list: Vec<Group>,
    /// Whether it was written as a single string (errors then say `when.expr`, not `when.expr[0]`).
    pub(crate) single: bool,
}

impl Conditions {
    /// `(field name, haystack mask, patterns)` for every field.
    pub(crate) fn fields(&self) -> [(&'static str, u8, &Patterns); 7] {
        use super::pack::{ALERTNAME, DESCRIPTION, EXPR, SUMMARY};
        let text = ALERTNAME | SUMMARY | DESCRIPTION;
        [
            ("alertname", ALERTNAME, &self.alertname),
            ("summary", SUMMARY, &self.summary),
            ("description", DESCRIPTION, &self.description),
            ("expr", EXPR, &self.expr),
            ("title", ALERTNAME | SUMMARY, &self.title),
            ("text", text, &self.text),
            ("any", text | EXPR, &self.any),
        ]
    }
}

/// `when` is one condition table, or an array of them of which any may match.
fn one_or_many_conditions<'de, D: de::Deserializer<'de>>(
    d: D,
) -> Result<Vec<Conditions>, D::Error> {
    struct OneOrMany;

    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<Conditions>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of conditions or an array of such tables")
        }

        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Vec<Conditions>, A::Error> {
            Conditions::deserialize(de::value::MapAccessDeserializer::new(map)).map(|c| vec![c])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Conditions>, A::Error> {
            let mut list = Vec::new();
            while let Some(c) = seq.next_element::<Conditions>()? {
                list.push(c);
            }
            Ok(list)
        }
    }

    d.deserialize_any(OneOrMany)
}

/// One element of a pattern list: a regex, or regexes that must all match.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) all: Vec<String>,
    /// Written as a bare string rather than an array.
    pub(crate) single: bool,
}

impl<'de> Deserialize<'de> for Group {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct GroupVisitor;

        impl<'de> Visitor<'de> for GroupVisitor {
            type Value = Group;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a regex string or an array of regex strings that must all match")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Group, E> {
                Ok(Group {
                    all: vec![v.to_owned()],
                    single: true,
                })
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Group, A::Error> {
                let mut all = Vec::new();
                while let Some(p) = seq.next_element::<String>()? {
                    all.push(p);
                }
                Ok(Group { all, single: false })
            }
        }

        d.deserialize_any(GroupVisitor)
    }
}

fn one_or_many<'de, D: de::Deserializer<'de>>(d: D) -> Result<Patterns, D::Error> {
    struct OneOrMany;

    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Patterns;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a regex string or an array of regexes and arrays of regexes")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Patterns, E> {
            Ok(Patterns {
                list: vec![Group {
                    all: vec![v.to_owned()],
                    single: true,
                }],
                single: true,
            })
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Patterns, A::Error> {
            let mut list = Vec::new();
            while let Some(p) = seq.next_element::<Group>()? {
                list.push(p);
            }
            Ok(Patterns {
                list,
                single: false,
            })
        }
    }

    d.deserialize_any(OneOrMany)
}
