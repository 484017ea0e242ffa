//! [`LabelClassifier`]: the verdict an alert's own labels give.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;

use crate::{
    Alert, Category, Classification, ClassificationSource, Classifier, ClassifyError, Severity,
};

/// Classifies from the alert's `severity` label alone ([`Severity::from_label`]),
/// with source [`ClassificationSource::Default`].
///
/// Confidence is 0.5 when the label names a known severity and 0.1 otherwise
/// (then the severity is `warning`, so an unlabelled alert is neither paged
/// nor dropped). It is the last link of a fallback chain: it never fails and
/// never waits.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use alertkit_core::{Alert, Classifier, LabelSet, Severity, memory::LabelClassifier};
///
/// let alert = Alert::firing(LabelSet::from_pairs([("alertname", "X"), ("severity", "page")]), time::OffsetDateTime::now_utc());
/// let verdict = LabelClassifier.classify(&alert).await.unwrap();
/// assert_eq!(verdict.severity, Severity::Critical);
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LabelClassifier;

/// Shared by every verdict, so classifying allocates no model string.
static MODEL: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(ID));

const ID: &str = "labels/1";

/// `s` cut to at most `max` bytes, at a character boundary.
fn truncated(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[async_trait]
impl Classifier for LabelClassifier {
    fn id(&self) -> &str {
        ID
    }

    async fn classify(&self, alert: &Alert) -> Result<Classification, ClassifyError> {
        Ok(verdict(alert))
    }

    fn try_classify_now(&self, alert: &Alert) -> Option<Result<Classification, ClassifyError>> {
        Some(Ok(verdict(alert)))
    }
}

/// The label-based verdict (synchronous).
fn verdict(alert: &Alert) -> Classification {
    let (severity, confidence) = match alert.label_severity() {
        Severity::Unknown => (Severity::Warning, 0.1),
        known => (known, 0.5),
    };
    let summary = truncated(
        alert
            .summary()
            .or_else(|| alert.alertname())
            .unwrap_or_default(),
        200,
    );
    let mut verdict = Classification::new(
        severity,
        Category::Other,
        confidence,
        ClassificationSource::Default,
    )
    .with_summary(summary);
    verdict.model = Some(Arc::clone(&MODEL));
    verdict
}
