//! [`RulePackError`]: why a rule pack could not be loaded.

use std::path::PathBuf;

/// Why a rule pack could not be loaded or compiled.
///
/// Messages are lowercase and name the offending rule (by its 0-based index
/// in the file and its `name`) and field, e.g.
/// `rule 3 ("disk-full"): invalid when.expr[1]: regex parse error: …`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulePackError {
    /// The file could not be read.
    #[error("could not read rule pack {path}: {source}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML, or its top level is not a rule pack.
    #[error("rule pack is not valid: {0}")]
    Syntax(String),
    /// A pack-level field (`name`, `version`) is missing or invalid.
    #[error("rule pack: invalid {field}: {reason}")]
    Pack {
        /// The field, e.g. `version`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// One rule is invalid.
    #[error("rule {index} ({name:?}): invalid {field}: {reason}")]
    Rule {
        /// 0-based position of the rule in the pack.
        index: usize,
        /// The rule's `name` (empty when the rule has none yet).
        name: String,
        /// The field, e.g. `severity`, `matchers` or `when.expr[1]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The compiled patterns exceed the regex engine's size limits.
    #[error("rule pack patterns for {field} are too large to compile together: {reason}")]
    TooLarge {
        /// The haystack whose pattern set failed (`alertname`, `summary`, `description`, `expr`).
        field: &'static str,
        /// The regex engine's explanation.
        reason: String,
    },
}

impl RulePackError {
    pub(super) fn rule(
        index: usize,
        name: &str,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Rule {
            index,
            name: name.chars().take(80).collect(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}
