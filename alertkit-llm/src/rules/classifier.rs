//! [`RuleClassifier`]: a [`Classifier`] backed by a [`RulePack`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use alertkit_core::{
    Alert, Category, Classification, ClassificationSource, Classifier, ClassifyError, Severity,
};
use async_trait::async_trait;
use serde::Deserialize;

use super::template::{alert_summary, one_line};
use super::{RulePack, RulePackError};

/// Longest verdict summary, in characters.
const MAX_SUMMARY_CHARS: usize = 200;

/// Confidence when no rule matched at all.
const NO_MATCH_CONFIDENCE: f64 = 0.2;

/// Severity when no rule sets one and the alert has no usable `severity` label.
const FALLBACK_SEVERITY: Severity = Severity::Warning;

/// Settings of the rule classifier, as they appear in a configuration file.
///
/// ```
/// use alertkit_llm::rules::RulesConfig;
///
/// let config: RulesConfig = toml::from_str("reassess = true").unwrap();
/// assert!(config.reassess);
/// assert!(config.pack.is_none());
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RulesConfig {
    /// Judge the severity from the rules even when the alert carries a
    /// `severity` label. Off by default: an explicit label is respected.
    #[serde(default)]
    pub reassess: bool,
    /// A rule pack file to use instead of the built-in default pack.
    #[serde(default)]
    pub pack: Option<PathBuf>,
}

impl RulesConfig {
    /// The defaults: respect `severity` labels, built-in pack.
    pub fn new() -> Self {
        Self::default()
    }

    /// With [`RulesConfig::reassess`] set.
    #[must_use]
    pub fn reassess(mut self, reassess: bool) -> Self {
        self.reassess = reassess;
        self
    }

    /// With a pack file.
    #[must_use]
    pub fn pack(mut self, path: impl Into<PathBuf>) -> Self {
        self.pack = Some(path.into());
        self
    }
}

/// Classifies alerts with an ordered [`RulePack`], synchronously and without I/O.
///
/// * Severity: an alert's own `severity` label, normalised with
///   [`Severity::from_label`], is respected unless [`RuleClassifier::reassess`]
///   is on or the label is absent or unrecognised; otherwise the first
///   matching rule that sets a severity decides, else `warning`.
/// * Category, summary and recommendations come from the first matching rule
///   that sets each. A `runbook_url` annotation becomes the first
///   recommendation.
/// * Confidence is the lowest confidence of the rules that decided severity
///   and category (0.2 when nothing matched).
/// * Source is [`ClassificationSource::Rules`], or
///   [`ClassificationSource::Default`] when no rule matched.
/// * [`Classifier::id`] is the pack's id (name, version, content hash) plus
///   `/reassess` when that switch is on, so cached verdicts are not reused
///   across packs or modes.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use alertkit_core::{Alert, Annotations, Category, Classifier, LabelSet, Severity};
/// use alertkit_llm::rules::RuleClassifier;
///
/// let classifier = RuleClassifier::default();
/// let alert = Alert::firing(
///     LabelSet::from_pairs([("alertname", "PostgresqlDown"), ("instance", "db1:9187")]),
///     time::OffsetDateTime::now_utc(),
/// )
/// .with_annotations(Annotations::from_pairs([("summary", "Postgresql down (instance db1:9187)")]));
/// let verdict = classifier.classify(&alert).await.unwrap();
/// assert_eq!(verdict.severity, Severity::Critical);
/// assert_eq!(verdict.category, Category::Availability);
/// assert!(!verdict.recommendations.is_empty());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct RuleClassifier {
    pack: Arc<RulePack>,
    reassess: bool,
    id: Arc<str>,
}

impl Default for RuleClassifier {
    /// The built-in pack, respecting `severity` labels.
    fn default() -> Self {
        Self::new(RulePack::default_pack())
    }
}

impl RuleClassifier {
    /// A classifier over `pack`, respecting `severity` labels.
    pub fn new(pack: impl Into<Arc<RulePack>>) -> Self {
        let pack = pack.into();
        let id = Arc::from(pack.id());
        Self {
            pack,
            reassess: false,
            id,
        }
    }

    /// A classifier as `config` describes.
    ///
    /// # Errors
    ///
    /// [`RulePackError`] when the configured pack file cannot be loaded.
    pub fn from_config(config: &RulesConfig) -> Result<Self, RulePackError> {
        let pack = match &config.pack {
            Some(path) => Arc::new(RulePack::from_path(path)?),
            None => RulePack::default_pack(),
        };
        Ok(Self::new(pack).reassess(config.reassess))
    }

    /// Whether to ignore `severity` labels and judge from the rules.
    #[must_use]
    pub fn reassess(mut self, reassess: bool) -> Self {
        self.reassess = reassess;
        self.id = if reassess {
            Arc::from(format!("{}/reassess", self.pack.id()))
        } else {
            Arc::from(self.pack.id())
        };
        self
    }

    /// The pack in use.
    pub fn pack(&self) -> &RulePack {
        &self.pack
    }

    /// Classifies one alert, synchronously (a few microseconds).
    pub fn classify_now(&self, alert: &Alert) -> Classification {
        let started = Instant::now();
        let label = if self.reassess {
            Severity::Unknown
        } else {
            alert.label_severity()
        };
        let from_label = label != Severity::Unknown;
        let ev = self.pack.evaluate(alert, !from_label);
        let (severity, severity_confidence) = match (from_label, ev.severity) {
            (true, _) => (label, None),
            (false, Some(rule)) => (
                rule.severity().unwrap_or(FALLBACK_SEVERITY),
                Some(rule.confidence()),
            ),
            (false, None) => (FALLBACK_SEVERITY, Some(NO_MATCH_CONFIDENCE)),
        };
        let category = ev
            .category
            .and_then(|r| r.category())
            .unwrap_or(Category::Other);
        let category_confidence = ev.category.map(|r| r.confidence());
        let confidence = if ev.matched() {
            [severity_confidence, category_confidence]
                .into_iter()
                .flatten()
                .fold(1.0_f64, f64::min)
        } else {
            NO_MATCH_CONFIDENCE
        };
        let summary = ev
            .summary
            .and_then(|r| r.summary_for(alert))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| one_line(alert_summary(alert)));
        let mut recommendations = Vec::new();
        if let Some(url) = ["runbook_url", "runbook"]
            .into_iter()
            .find_map(|k| alert.annotations.get(k))
            .map(one_line)
            .filter(|u| !u.is_empty())
        {
            recommendations.push(format!("Follow the runbook: {}", truncate(url, 300)));
        }
        if let Some(rule) = ev.recommendations {
            recommendations.extend(rule.recommendations_for(alert).filter(|r| !r.is_empty()));
        }
        let source = if ev.matched() {
            ClassificationSource::Rules
        } else {
            ClassificationSource::Default
        };
        let mut verdict = Classification::new(severity, category, confidence, source)
            .with_summary(truncate(summary, MAX_SUMMARY_CHARS))
            .with_recommendations(recommendations);
        verdict.model = Some(Arc::clone(&self.id));
        verdict.latency = started.elapsed();
        verdict
    }
}

/// At most `max` characters of `s`, with an ellipsis when cut.
fn truncate(mut s: String, max: usize) -> String {
    // A string has at most as many characters as bytes.
    if s.len() <= max {
        return s;
    }
    if let Some((end, _)) = s.char_indices().nth(max) {
        s.truncate(end);
        s.push('…');
    }
    s
}

#[async_trait]
impl Classifier for RuleClassifier {
    fn id(&self) -> &str {
        &self.id
    }

    async fn classify(&self, alert: &Alert) -> Result<Classification, ClassifyError> {
        Ok(self.classify_now(alert))
    }

    fn try_classify_now(&self, alert: &Alert) -> Option<Result<Classification, ClassifyError>> {
        Some(Ok(self.classify_now(alert)))
    }
}
