//! Compiling a rule pack: validating each rule and pattern, interning
//! patterns and building one pattern set per haystack.

use std::collections::HashMap;

use alertkit_core::{Category, Matchers, Severity};
use regex::bytes::{RegexBuilder, RegexSetBuilder};
use serde::Deserialize as _;

use super::RulePackError;
use super::pack::{Condition, DEFAULT_CONFIDENCE, FieldSet, HAYSTACK_NAMES, Rule, SIZE_LIMIT};
use super::spec::{Patterns, RuleSpec};
use super::template::Template;

/// Interns patterns by (haystack mask, text) so that shared patterns are matched once.
#[derive(Default)]
pub(super) struct Interner {
    ids: HashMap<(u8, String), u32>,
    pub(super) patterns: Vec<(u8, String)>,
}

impl Interner {
    pub(super) fn intern(&mut self, mask: u8, pattern: &str) -> u32 {
        let key = (mask, pattern.to_owned());
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = u32::try_from(self.patterns.len()).unwrap_or(u32::MAX);
        self.patterns.push(key.clone());
        self.ids.insert(key, id);
        id
    }
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    match s.parse::<Severity>() {
        Ok(Severity::Unknown) => {
            Err("\"unknown\" is not a verdict: use critical, warning, info or noise".to_owned())
        }
        Ok(sev) => Ok(sev),
        Err(e) => Err(format!("{e} (without unknown)")),
    }
}

fn parse_category(s: &str) -> Result<Category, String> {
    Category::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s))
        .map_err(|e| e.to_string())
}

fn field_label(section: &str, field: &str, p: &Patterns, i: usize, j: usize) -> String {
    match (p.single, p.list.get(i).is_some_and(|g| g.single)) {
        (true, _) => format!("{section}.{field}"),
        (false, true) => format!("{section}.{field}[{i}]"),
        (false, false) => format!("{section}.{field}[{i}][{j}]"),
    }
}

/// Validates each pattern alone (for an error naming it) and interns it.
fn intern_patterns(
    index: usize,
    name: &str,
    section: &str,
    field: &str,
    mask: u8,
    patterns: &Patterns,
    interner: &mut Interner,
) -> Result<Condition, RulePackError> {
    let mut groups = Vec::with_capacity(patterns.list.len());
    for (i, group) in patterns.list.iter().enumerate() {
        if group.all.is_empty() {
            let label = format!("{section}.{field}[{i}]");
            return Err(RulePackError::rule(
                index,
                name,
                label,
                "empty list of regexes",
            ));
        }
        let mut ids: Vec<&str> = Vec::with_capacity(group.all.len());
        for (j, p) in group.all.iter().enumerate() {
            let label = || field_label(section, field, patterns, i, j);
            if p.is_empty() {
                return Err(RulePackError::rule(index, name, label(), "empty regex"));
            }
            RegexBuilder::new(p)
                .unicode(false)
                .case_insensitive(true)
                .size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| RulePackError::rule(index, name, label(), one_line_error(&e)))?;
            ids.push(p.as_str());
        }
        groups.push(ids);
    }
    // Single-regex groups are alternatives of one another: one merged regex
    // per condition keeps the pattern sets small (fewer ids to track).
    let (singles, multis): (Vec<_>, Vec<_>) = groups.into_iter().partition(|g| g.len() == 1);
    let mut condition = Condition::default();
    if !singles.is_empty() {
        let merged = if singles.len() == 1 {
            singles.concat().concat()
        } else {
            let parts: Vec<String> = singles
                .iter()
                .map(|g| format!("(?:{})", g.concat()))
                .collect();
            parts.join("|")
        };
        condition.0.push(vec![interner.intern(mask, &merged)]);
    }
    for all in multis {
        condition
            .0
            .push(all.into_iter().map(|p| interner.intern(mask, p)).collect());
    }
    Ok(condition)
}

fn one_line_error(e: &regex::Error) -> String {
    super::template::one_line(&e.to_string())
}

pub(super) fn compile_rule(
    index: usize,
    spec: RuleSpec,
    interner: &mut Interner,
) -> Result<Rule, RulePackError> {
    let name = spec.name;
    let err = |field: &str, reason: String| RulePackError::rule(index, &name, field, reason);
    let matchers = spec
        .matchers
        .as_deref()
        .map(Matchers::parse)
        .transpose()
        .map_err(|e| err("matchers", e.to_string()))?;
    let severity = spec
        .severity
        .as_deref()
        .map(parse_severity)
        .transpose()
        .map_err(|e| err("severity", e))?;
    let category = spec
        .category
        .as_deref()
        .map(parse_category)
        .transpose()
        .map_err(|e| err("category", e))?;
    let confidence = spec.confidence.unwrap_or(DEFAULT_CONFIDENCE);
    if !(0.0..=1.0).contains(&confidence) {
        return Err(err(
            "confidence",
            format!("{confidence} is outside 0.0..=1.0"),
        ));
    }
    if let Some(i) = spec
        .recommendations
        .iter()
        .position(|r| r.trim().is_empty())
    {
        return Err(err(&format!("recommendations[{i}]"), "empty text".into()));
    }
    if severity.is_none()
        && category.is_none()
        && spec.summary.is_none()
        && spec.recommendations.is_empty()
    {
        return Err(err(
            "severity",
            "the rule sets nothing: give at least one of severity, category, summary, recommendations"
                .into(),
        ));
    }
    let mut when = Vec::with_capacity(spec.when.len());
    for (alt, conditions) in spec.when.iter().enumerate() {
        let section = if spec.when.len() == 1 {
            "when".to_owned()
        } else {
            format!("when[{alt}]")
        };
        let mut fields = Vec::new();
        for (field, mask, patterns) in conditions.fields() {
            if !patterns.list.is_empty() {
                fields.push(intern_patterns(
                    index, &name, &section, field, mask, patterns, interner,
                )?);
            }
        }
        if fields.is_empty() {
            return Err(err(
                &section,
                "an alternative without conditions would match every alert: remove `when` instead"
                    .into(),
            ));
        }
        when.push(fields);
    }
    let mut unless = Condition::default();
    for (field, mask, patterns) in spec.unless.fields() {
        let c = intern_patterns(index, &name, "unless", field, mask, patterns, interner)?;
        unless.0.extend(c.0);
    }
    Ok(Rule {
        matchers,
        when,
        unless,
        severity,
        category,
        confidence,
        summary: spec.summary.as_deref().map(Template::parse),
        recommendations: spec
            .recommendations
            .iter()
            .map(|r| Template::parse(r))
            .collect(),
        name,
    })
}

pub(super) fn build_sets(patterns: &[(u8, String)]) -> Result<[FieldSet; 4], RulePackError> {
    let mut out: [FieldSet; 4] = std::array::from_fn(|_| FieldSet {
        set: None,
        global: Vec::new(),
    });
    for (bit, (field, name)) in out.iter_mut().zip(HAYSTACK_NAMES).enumerate() {
        let mask = 1u8 << bit;
        let mut texts = Vec::new();
        for (id, (m, p)) in patterns.iter().enumerate() {
            if m & mask != 0 {
                texts.push(p.as_str());
                field.global.push(u32::try_from(id).unwrap_or(u32::MAX));
            }
        }
        if texts.is_empty() {
            continue;
        }
        let set = RegexSetBuilder::new(texts)
            .unicode(false)
            .case_insensitive(true)
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| RulePackError::TooLarge {
                field: name,
                reason: one_line_error(&e),
            })?;
        field.set = Some(set);
    }
    Ok(out)
}
