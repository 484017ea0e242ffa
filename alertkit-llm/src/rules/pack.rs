//! [`RulePack`]: compiled rules and the one-pass matcher.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use alertkit_core::{Alert, Category, Matchers, Severity};
use regex::bytes::{RegexSet, SetMatches};

use super::RulePackError;
use super::compile::{Interner, build_sets, compile_rule};
use super::spec::{PackFile, RuleSpec};
use super::template::Template;
use super::text::Haystacks;

/// Haystack bit: the alertname split into words.
pub(crate) const ALERTNAME: u8 = 1;
/// Haystack bit: the summary annotation.
pub(crate) const SUMMARY: u8 = 2;
/// Haystack bit: the description annotation.
pub(crate) const DESCRIPTION: u8 = 4;
/// Haystack bit: the PromQL expression.
pub(crate) const EXPR: u8 = 8;

pub(super) const HAYSTACK_NAMES: [&str; 4] = ["alertname", "summary", "description", "expr"];

/// Confidence of a rule that does not give one.
pub(super) const DEFAULT_CONFIDENCE: f64 = 0.7;

/// Size limits for the pattern sets: generous, since a pack is trusted configuration.
pub(super) const SIZE_LIMIT: usize = 64 << 20;

/// The default rule pack, as shipped (`alertkit-llm/rules/default.toml`).
pub const DEFAULT_PACK_TOML: &str = include_str!("../../rules/default.toml");

static DEFAULT_PACK: LazyLock<Arc<RulePack>> = LazyLock::new(|| {
    let pack = RulePack::from_toml_str(DEFAULT_PACK_TOML);
    Arc::new(pack.expect("the embedded default rule pack compiles (checked by its tests)"))
});

/// One compiled rule. Read-only: rules come from a pack file.
#[derive(Debug)]
pub struct Rule {
    pub(super) name: String,
    pub(super) matchers: Option<Matchers>,
    /// Alternatives (any may match); in each, every field must match; a
    /// field matches when one of its groups has all its patterns matched.
    /// Empty: the rule always applies.
    pub(super) when: Vec<Vec<Condition>>,
    /// Any matching group rejects the rule.
    pub(super) unless: Condition,
    pub(super) severity: Option<Severity>,
    pub(super) category: Option<Category>,
    pub(super) confidence: f64,
    pub(super) summary: Option<Template>,
    pub(super) recommendations: Vec<Template>,
}

impl Rule {
    /// The rule's `name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The severity it sets, if any.
    pub fn severity(&self) -> Option<Severity> {
        self.severity
    }

    /// The category it sets, if any.
    pub fn category(&self) -> Option<Category> {
        self.category
    }

    /// Its confidence, in `0..=1`.
    pub fn confidence(&self) -> f64 {
        self.confidence
    }

    pub(crate) fn summary_for(&self, alert: &Alert) -> Option<String> {
        self.summary.as_ref().map(|t| t.render(alert))
    }

    pub(crate) fn recommendations_for<'a>(
        &'a self,
        alert: &'a Alert,
    ) -> impl Iterator<Item = String> + 'a {
        self.recommendations.iter().map(|t| t.render(alert))
    }

    fn matches(&self, hits: &Hits<'_>, alert: &Alert) -> bool {
        (self.when.is_empty()
            || self
                .when
                .iter()
                .any(|alt| alt.iter().all(|field| field.matches(hits))))
            && !self.unless.matches(hits)
            && self
                .matchers
                .as_ref()
                .is_none_or(|m| m.matches(&alert.labels))
    }
}

/// Any of the groups, each needing all its pattern ids matched.
#[derive(Debug, Default)]
pub(super) struct Condition(pub(super) Vec<Vec<u32>>);

impl Condition {
    fn matches(&self, hits: &Hits<'_>) -> bool {
        self.0.iter().any(|all| all.iter().all(|&p| hits.get(p)))
    }
}

/// Which rule decided each output field for one alert (see [`RulePack::evaluate`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Evaluation<'a> {
    /// The first matching rule that sets `severity` (`None` when the caller did not ask).
    pub severity: Option<&'a Rule>,
    /// The first matching rule that sets `category`.
    pub category: Option<&'a Rule>,
    /// The first matching rule that sets `summary`.
    pub summary: Option<&'a Rule>,
    /// The first matching rule that sets `recommendations`.
    pub recommendations: Option<&'a Rule>,
}

impl Evaluation<'_> {
    /// Whether any rule matched.
    pub fn matched(&self) -> bool {
        self.severity.is_some()
            || self.category.is_some()
            || self.summary.is_some()
            || self.recommendations.is_some()
    }
}

/// The patterns of one haystack, compiled together.
#[derive(Debug)]
pub(super) struct FieldSet {
    pub(super) set: Option<RegexSet>,
    /// Local pattern index → global pattern id.
    pub(super) global: Vec<u32>,
}

/// Where one pattern sits in each haystack's set ([`NOT_IN_SET`] when it
/// does not look at that haystack).
type Locals = [u32; 4];

/// The [`Locals`] entry of a haystack a pattern does not look at.
const NOT_IN_SET: u32 = u32::MAX;

/// The patterns one alert matched: each set's matches, read only for the
/// patterns the rules ask about (most alerts are decided by a few rules).
struct Hits<'a> {
    sets: [Option<SetMatches>; 4],
    locals: &'a [Locals],
}

impl Hits<'_> {
    fn get(&self, pattern: u32) -> bool {
        let Some(locals) = self.locals.get(pattern as usize) else {
            return false;
        };
        self.sets.iter().zip(locals).any(|(set, &local)| {
            let local = local as usize;
            set.as_ref()
                .is_some_and(|m| local < m.len() && m.matched(local))
        })
    }
}

/// An ordered, compiled list of classification rules.
///
/// Load one with [`RulePack::from_toml_str`] or [`RulePack::from_path`], or
/// use the built-in [`RulePack::default_pack`]. The format is described in
/// the [module docs](super).
#[derive(Debug)]
pub struct RulePack {
    name: String,
    version: String,
    description: String,
    id: String,
    rules: Vec<Rule>,
    fields: [FieldSet; 4],
    /// Per global pattern id, its index in each haystack's set.
    locals: Vec<Locals>,
}

/// 64-bit FNV-1a, for the pack's content hash.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn is_simple_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl RulePack {
    /// Parses and compiles a pack from TOML text.
    ///
    /// # Errors
    ///
    /// [`RulePackError`] naming the rule index and field that is wrong: bad
    /// TOML, an unknown key, a regex that does not compile, a matcher that
    /// does not parse, an unknown severity or category, a confidence outside
    /// `0..=1`.
    pub fn from_toml_str(text: &str) -> Result<Self, RulePackError> {
        let file: PackFile =
            toml::from_str(text).map_err(|e| RulePackError::Syntax(e.to_string()))?;
        let name = file.name.unwrap_or_else(|| "custom".to_owned());
        if !is_simple_name(&name) {
            return Err(RulePackError::Pack {
                field: "name",
                reason: "must be 1 to 64 characters of letters, digits, '-', '_' or '.'".into(),
            });
        }
        if !is_simple_name(&file.version) {
            return Err(RulePackError::Pack {
                field: "version",
                reason: "must be 1 to 64 characters of letters, digits, '-', '_' or '.'".into(),
            });
        }
        let mut interner = Interner::default();
        let mut names = HashSet::new();
        let mut rules = Vec::with_capacity(file.rule.len());
        for (index, value) in file.rule.into_iter().enumerate() {
            let raw_name = value
                .get("name")
                .and_then(toml::Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let spec: RuleSpec = value.try_into().map_err(|e: toml::de::Error| {
                RulePackError::rule(index, &raw_name, "rule", e.message().trim())
            })?;
            if spec.name.trim().is_empty() {
                return Err(RulePackError::rule(index, "", "name", "must not be empty"));
            }
            if !names.insert(spec.name.clone()) {
                return Err(RulePackError::rule(
                    index,
                    &spec.name,
                    "name",
                    "another rule has the same name",
                ));
            }
            rules.push(compile_rule(index, spec, &mut interner)?);
        }
        let fields = build_sets(&interner.patterns)?;
        let mut locals = vec![[NOT_IN_SET; 4]; interner.patterns.len()];
        for (f, field) in fields.iter().enumerate() {
            for (local, &global) in field.global.iter().enumerate() {
                if let Some(l) = locals.get_mut(global as usize) {
                    l[f] = u32::try_from(local).unwrap_or(NOT_IN_SET);
                }
            }
        }
        let hash = fnv1a(text.as_bytes());
        Ok(Self {
            id: format!("rules/{name}@{}+{:08x}", file.version, hash >> 32),
            name,
            version: file.version,
            description: file.description.unwrap_or_default(),
            rules,
            fields,
            locals,
        })
    }

    /// Reads and compiles a pack file.
    ///
    /// # Errors
    ///
    /// [`RulePackError::Io`] when the file cannot be read, otherwise as
    /// [`RulePack::from_toml_str`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, RulePackError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| RulePackError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// The built-in pack ([`DEFAULT_PACK_TOML`]), compiled once per process.
    pub fn default_pack() -> Arc<RulePack> {
        Arc::clone(&DEFAULT_PACK)
    }

    /// The pack's `name` (`custom` when the file gives none).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pack's `version`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The pack's `description`, possibly empty.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// `rules/<name>@<version>+<content hash>`: changes whenever the pack text changes.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Number of distinct patterns compiled.
    pub fn pattern_count(&self) -> usize {
        self.locals.len()
    }

    /// Finds, for each output field, the first matching rule that sets it.
    /// With `want_severity` false, rules are not consulted for the severity
    /// (the caller already knows it) and [`Evaluation::severity`] is `None`.
    pub fn evaluate<'a>(&'a self, alert: &Alert, want_severity: bool) -> Evaluation<'a> {
        let haystacks = Haystacks::of(alert);
        let hays: [&[u8]; 4] = [
            &haystacks.alertname,
            haystacks.summary,
            haystacks.description,
            &haystacks.expr,
        ];
        let mut sets: [Option<SetMatches>; 4] = Default::default();
        for ((out, field), hay) in sets.iter_mut().zip(&self.fields).zip(hays) {
            if let Some(set) = &field.set
                && !hay.is_empty()
            {
                *out = Some(set.matches(hay)).filter(SetMatches::matched_any);
            }
        }
        let hits = Hits {
            sets,
            locals: &self.locals,
        };
        let mut ev = Evaluation::default();
        let mut need_severity = want_severity;
        for rule in &self.rules {
            let useful = (need_severity && rule.severity.is_some())
                || (ev.category.is_none() && rule.category.is_some())
                || (ev.summary.is_none() && rule.summary.is_some())
                || (ev.recommendations.is_none() && !rule.recommendations.is_empty());
            if !useful || !rule.matches(&hits, alert) {
                continue;
            }
            if need_severity && rule.severity.is_some() {
                ev.severity = Some(rule);
                need_severity = false;
            }
            if ev.category.is_none() && rule.category.is_some() {
                ev.category = Some(rule);
            }
            if ev.summary.is_none() && rule.summary.is_some() {
                ev.summary = Some(rule);
            }
            if ev.recommendations.is_none() && !rule.recommendations.is_empty() {
                ev.recommendations = Some(rule);
            }
            if !need_severity
                && ev.category.is_some()
                && ev.summary.is_some()
                && ev.recommendations.is_some()
            {
                break;
            }
        }
        ev
    }
}
