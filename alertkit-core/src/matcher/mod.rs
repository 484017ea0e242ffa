//! Alertmanager label matchers: `name op value`, ANDed into [`Matchers`].
//!
//! Compatible with Alertmanager v0.34 (`matcher/parse`, `pkg/labels`):
//!
//! * Operators: `=`, `!=`, `=~`, `!~` ([`MatchOp`]).
//! * Regexes are RE2 and **fully anchored**: `foo=~"b"` is compiled as
//!   `^(?:b)$` and does not match `"abc"`; write `.*b.*` for a substring.
//!   RE2's ASCII-only `\d \w \s \b` and its `\Q...\E` are honoured (see
//!   below).
//! * A missing label is the same as a label with an empty value:
//!   `foo=""` matches when `foo` is absent, `foo!=""` means "`foo` is set",
//!   and `foo=~".*"` matches an absent `foo`.
//!
//! # Syntax
//!
//! The UTF-8 syntax of Alertmanager 0.27+: each name or value is either an
//! unquoted run of characters other than whitespace and
//! ``{ } ! = ~ , \ " ' ` ``, or a double-quoted Go string literal
//! (`"a \"quoted\" \\ value\n"`, `"\u00e9"`). A value is required (`foo=""`,
//! not `foo=`). A list is comma-separated, optionally inside a pair of braces,
//! with one optional trailing comma: `{a="b", c=~"d|e",}`.
//!
//! Classic-syntax inputs are accepted where that is unambiguous: a quoted
//! string that is not a valid Go literal (`"\d+"`, `"C:\dir"`) is read with
//! the classic OpenMetrics rules, keeping unknown escapes literally (as
//! Alertmanager's default fallback parser would), and literal line feeds
//! are tolerated inside quotes.
//!
//! # Rendering
//!
//! [`Display`](fmt::Display) renders `name="value"`, quoting the name unless
//! it is `[a-zA-Z_][a-zA-Z0-9_]*`, and always quoting the value with Go
//! escapes; parsing the output gives back an equal matcher.
//! [`Matchers::to_canonical_string`] renders route keys like
//! Alertmanager's `Matchers.String()` on sorted matchers.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::str::FromStr;
use std::sync::Arc;

use regex::Regex;

use crate::LabelSet;

mod parse;
mod re2;
mod render;
mod serde_impl;
#[cfg(test)]
mod tests;

/// A matcher's comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchOp {
    /// `=`: the value equals the given string.
    Equal,
    /// `!=`: the value differs from the given string.
    NotEqual,
    /// `=~`: the value matches the fully anchored regex.
    Regex,
    /// `!~`: the value does not match the fully anchored regex.
    NotRegex,
}

impl MatchOp {
    /// The operator as written in matchers: `=`, `!=`, `=~` or `!~`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Regex => "=~",
            Self::NotRegex => "!~",
        }
    }

    /// Whether the value is a regex (`=~`, `!~`).
    pub const fn is_regex(self) -> bool {
        matches!(self, Self::Regex | Self::NotRegex)
    }

    /// Whether the operator is positive (`=`, `=~`), i.e. the Alertmanager
    /// API's `isEqual`.
    pub const fn is_equal(self) -> bool {
        matches!(self, Self::Equal | Self::Regex)
    }

    /// The operator for the Alertmanager API's `isRegex`/`isEqual` flags.
    pub const fn from_flags(is_regex: bool, is_equal: bool) -> Self {
        match (is_regex, is_equal) {
            (false, true) => Self::Equal,
            (false, false) => Self::NotEqual,
            (true, true) => Self::Regex,
            (true, false) => Self::NotRegex,
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a matcher or matcher list could not be built or parsed.
///
/// Offsets are byte offsets into the parsed input.
#[non_exhaustive]
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum MatcherError {
    /// A label name was empty (`""="x"`).
    #[error("empty label name{}", at_offset(*offset))]
    EmptyLabelName {
        /// Where the name starts, when parsing.
        offset: Option<usize>,
    },
    /// A matcher did not start with a label name.
    #[error("expected a label name at offset {offset}, found {found}")]
    ExpectedLabelName {
        /// Where the name was expected.
        offset: usize,
        /// The token found instead, or `end of input`.
        found: String,
    },
    /// A label name was not followed by an operator.
    #[error("expected an operator after {name:?} at offset {offset}, found {found}")]
    ExpectedOperator {
        /// The label name.
        name: String,
        /// Where the operator was expected.
        offset: usize,
        /// The token found instead, or `end of input`.
        found: String,
    },
    /// A `!` was not followed by `=` or `~`.
    #[error("invalid operator at offset {offset}: '!' must be followed by '=' or '~'")]
    InvalidOperator {
        /// Where the `!` is.
        offset: usize,
    },
    /// An operator was not followed by a value (`foo=`).
    #[error("expected a label value after {matcher:?} at offset {offset}, found {found}")]
    ExpectedValue {
        /// The name and operator, e.g. `foo=`.
        matcher: String,
        /// Where the value was expected.
        offset: usize,
        /// The token found instead, or `end of input`.
        found: String,
    },
    /// A matcher was followed by something other than `,`, `}` or the end.
    #[error("expected a comma or closing brace at offset {offset}, found {found}")]
    ExpectedCommaOrCloseBrace {
        /// Where the unexpected token starts.
        offset: usize,
        /// The token found.
        found: String,
    },
    /// A character that may not start a token (`\`, `'`, `` ` ``, `~`).
    #[error("unexpected character {ch:?} at offset {offset}")]
    UnexpectedCharacter {
        /// The character.
        ch: char,
        /// Where it is.
        offset: usize,
    },
    /// A double-quoted string was not closed.
    #[error("unterminated quoted string starting at offset {offset}")]
    UnterminatedString {
        /// Where the opening quote is.
        offset: usize,
    },
    /// An opening brace was not closed.
    #[error("missing closing brace for the opening brace at offset {offset}")]
    MissingCloseBrace {
        /// Where the opening brace is.
        offset: usize,
    },
    /// A closing brace without an opening one.
    #[error("unexpected closing brace at offset {offset} without an opening brace")]
    UnexpectedCloseBrace {
        /// Where the closing brace is.
        offset: usize,
    },
    /// Input after the closing brace.
    #[error("unexpected {found} at offset {offset} after the closing brace")]
    TrailingInput {
        /// Where the extra input starts.
        offset: usize,
        /// The token found.
        found: String,
    },
    /// A regex did not compile.
    #[error("invalid regex in matcher {matcher}: {reason}")]
    InvalidRegex {
        /// The matcher, rendered like [`Matcher`]'s `Display`.
        matcher: String,
        /// The regex engine's explanation.
        reason: String,
    },
    /// [`Matcher::from_str`] was given no matcher or several.
    #[error("expected exactly one matcher, found {found}")]
    NotOneMatcher {
        /// How many matchers the input held.
        found: usize,
    },
}

fn at_offset(offset: Option<usize>) -> String {
    offset.map_or_else(String::new, |offset| format!(" at offset {offset}"))
}

/// One label matcher, e.g. `severity=~"critical|page"`.
///
/// Equality and hashing compare the name, operator and value (not the
/// compiled regex). Cloning shares the compiled regex.
#[derive(Clone)]
pub struct Matcher {
    name: Box<str>,
    value: Box<str>,
    test: Test,
}

/// The operator together with the compiled regex for regex operators.
#[derive(Clone, Debug)]
enum Test {
    Equal,
    NotEqual,
    Regex(Compiled),
    NotRegex(Compiled),
}

/// A compiled regex, shared between clones.
///
/// It is a trait object so that `Matcher`, whose equality and hash ignore the
/// regex, is not reported by `clippy::mutable_key_type` as a map key (the
/// regex's internal cache pool has interior mutability).
type Compiled = Arc<dyn IsMatch>;

/// The one `Regex` method matching needs.
trait IsMatch: fmt::Debug + Send + Sync + RefUnwindSafe + UnwindSafe {
    fn is_match(&self, haystack: &str) -> bool;
}

impl IsMatch for Regex {
    #[inline]
    fn is_match(&self, haystack: &str) -> bool {
        Regex::is_match(self, haystack)
    }
}

impl Matcher {
    /// Builds a matcher, compiling the value of `=~`/`!~` as the anchored
    /// regex `^(?:value)$`.
    ///
    /// # Errors
    ///
    /// [`MatcherError::EmptyLabelName`] for an empty name and
    /// [`MatcherError::InvalidRegex`] for a regex that does not compile.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name: String = name.into();
        let value: String = value.into();
        if name.is_empty() {
            return Err(MatcherError::EmptyLabelName { offset: None });
        }
        let compile = || {
            re2::compile_anchored(&value).map_err(|reason| {
                let mut matcher = String::new();
                // Writing to a String cannot fail.
                let _ = render::write_matcher(&mut matcher, &name, op, &value);
                MatcherError::InvalidRegex { matcher, reason }
            })
        };
        let test = match op {
            MatchOp::Equal => Test::Equal,
            MatchOp::NotEqual => Test::NotEqual,
            MatchOp::Regex => Test::Regex(Arc::new(compile()?)),
            MatchOp::NotRegex => Test::NotRegex(Arc::new(compile()?)),
        };
        Ok(Self {
            name: name.into_boxed_str(),
            value: value.into_boxed_str(),
            test,
        })
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        match self.test {
            Test::Equal => MatchOp::Equal,
            Test::NotEqual => MatchOp::NotEqual,
            Test::Regex(_) => MatchOp::Regex,
            Test::NotRegex(_) => MatchOp::NotRegex,
        }
    }

    /// The value: a string or, for `=~`/`!~`, the regex as written (without
    /// the anchoring).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value satisfies the matcher; `None` (label absent)
    /// is treated as the empty string.
    #[inline]
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let value = value.unwrap_or_default();
        match &self.test {
            Test::Equal => *self.value == *value,
            Test::NotEqual => *self.value != *value,
            Test::Regex(re) => re.is_match(value),
            Test::NotRegex(re) => !re.is_match(value),
        }
    }

    /// Whether `labels` satisfies the matcher (an absent label counts as
    /// empty). Does not allocate.
    #[inline]
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name))
    }

    /// Compares by name, value, then operator: Alertmanager's sort order for
    /// route keys.
    fn canonical_cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.name(), self.value(), self.op()).cmp(&(other.name(), other.value(), other.op()))
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op() == other.op() && self.value == other.value
    }
}

impl Eq for Matcher {}

impl Hash for Matcher {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.op().hash(state);
        self.value.hash(state);
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matcher")
            .field("name", &self.name)
            .field("op", &self.op())
            .field("value", &self.value)
            .finish()
    }
}

/// `name="value"`, `name!="value"`, `name=~"value"` or `name!~"value"`; the
/// name is quoted unless it is `[a-zA-Z_][a-zA-Z0-9_]*`.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render::write_matcher(f, &self.name, self.op(), &self.value)
    }
}

/// Parses exactly one matcher; surrounding braces and a trailing comma are
/// allowed (`{foo="bar",}`), like Alertmanager's `parse.Matcher`.
impl FromStr for Matcher {
    type Err = MatcherError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut matchers = parse::parse_matchers(s)?;
        match matchers.pop() {
            Some(matcher) if matchers.is_empty() => Ok(matcher),
            last => Err(MatcherError::NotOneMatcher {
                found: matchers.len() + usize::from(last.is_some()),
            }),
        }
    }
}

/// A list of matchers that must all match (AND), in input order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Matchers(Vec<Matcher>);

impl Matchers {
    /// Wraps matchers, keeping their order.
    pub fn new(matchers: Vec<Matcher>) -> Self {
        Self(matchers)
    }

    /// Parses a comma-separated list, with or without braces; `""` and `{}`
    /// give an empty list.
    ///
    /// ```
    /// use alertkit_core::LabelSet;
    /// use alertkit_core::matcher::Matchers;
    ///
    /// let matchers = Matchers::parse(r#"{service="db", severity=~"critical|page", team!="",}"#)?;
    /// assert_eq!(matchers.len(), 3);
    /// assert_eq!(matchers.to_string(), r#"{service="db", severity=~"critical|page", team!=""}"#);
    ///
    /// let labels = LabelSet::from_pairs([("service", "db"), ("severity", "page"), ("team", "dba")]);
    /// assert!(matchers.matches(&labels));
    /// let labels = LabelSet::from_pairs([("service", "db"), ("severity", "pager")]);
    /// assert!(!matchers.matches(&labels)); // regexes are anchored, and `team` is missing
    ///
    /// let err = Matchers::parse("foo").map_err(|e| e.to_string());
    /// assert_eq!(err, Err(r#"expected an operator after "foo" at offset 3, found end of input"#.to_owned()));
    /// # Ok::<(), alertkit_core::matcher::MatcherError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`MatcherError`] saying what is wrong and where.
    pub fn parse(s: &str) -> Result<Self, MatcherError> {
        parse::parse_matchers(s).map(Self)
    }

    /// Whether `labels` satisfies every matcher (true for an empty list).
    /// Does not allocate.
    #[inline]
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    /// The matchers in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Matcher> {
        self.0.iter()
    }

    /// How many matchers there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no matchers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends a matcher.
    pub fn push(&mut self, matcher: Matcher) {
        self.0.push(matcher);
    }

    /// The matchers as a vector.
    pub fn into_vec(self) -> Vec<Matcher> {
        self.0
    }

    /// The Alertmanager route-key form: matchers sorted by name, value and
    /// operator, joined by `,` without spaces, inside braces, each rendered
    /// as Alertmanager's `Matcher.String()` does (bare name and
    /// OpenMetrics-escaped value, or both Go-quoted if the name holds a
    /// reserved character). The empty list gives `{}`.
    ///
    /// ```
    /// use alertkit_core::matcher::Matchers;
    ///
    /// let matchers = Matchers::parse(r#"team="a\"b", env=~"prod|staging""#)?;
    /// assert_eq!(matchers.to_canonical_string(), r#"{env=~"prod|staging",team="a\"b"}"#);
    /// # Ok::<(), alertkit_core::matcher::MatcherError>(())
    /// ```
    pub fn to_canonical_string(&self) -> String {
        let mut sorted: Vec<&Matcher> = self.0.iter().collect();
        sorted.sort_by(|a, b| a.canonical_cmp(b));
        let mut out = String::with_capacity(2 + sorted.len() * 24);
        out.push('{');
        for (i, m) in sorted.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Writing to a String cannot fail.
            let _ = render::write_canonical(&mut out, &m.name, m.op(), &m.value);
        }
        out.push('}');
        out
    }
}

impl Deref for Matchers {
    type Target = [Matcher];

    fn deref(&self) -> &[Matcher] {
        &self.0
    }
}

impl From<Vec<Matcher>> for Matchers {
    fn from(matchers: Vec<Matcher>) -> Self {
        Self(matchers)
    }
}

impl FromIterator<Matcher> for Matchers {
    fn from_iter<I: IntoIterator<Item = Matcher>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Matchers {
    type Item = &'a Matcher;
    type IntoIter = std::slice::Iter<'a, Matcher>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Matchers {
    type Item = Matcher;
    type IntoIter = std::vec::IntoIter<Matcher>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// `{a="b", c=~"d"}`: input order, joined by `", "`; `{}` when empty.
impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            fmt::Display::fmt(m, f)?;
        }
        f.write_str("}")
    }
}

/// Same as [`Matchers::parse`].
impl FromStr for Matchers {
    type Err = MatcherError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
