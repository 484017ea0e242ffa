//! [`LabelClassifier`]: the verdict an alert's own labels give.

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

#[async_trait]
impl Classifier for LabelClassifier {
    fn id(&self) -> &str {
        "labels/1"
    }

    async fn classify(&self, alert: &Alert) -> Result<Classification, ClassifyError> {
        let (severity, confidence) = match alert.label_severity() {
            Severity::Unknown => (Severity::Warning, 0.1),
            known => (known, 0.5),
        };
        let summary = alert
            .summary()
            .or_else(|| alert.alertname())
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect::<String>();
        Ok(Classification::new(
            severity,
            Category::Other,
            confidence,
            ClassificationSource::Default,
        )
        .with_summary(summary)
        .with_model(self.id()))
    }
}
