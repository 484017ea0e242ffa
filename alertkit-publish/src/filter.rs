//! [`TargetFilter`]: which notifications a target wants, and [`Filtered`], a publisher applying it.

use std::sync::Arc;

use alertkit_core::layer::PublishFilter;
use alertkit_core::{Matchers, Notification, PublishError, PublishReceipt, Publisher, Severity};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A target's filters: core's [`PublishFilter`] plus `drop_noise`.
///
/// Every condition must hold. The severity is the classification's when
/// there is one, else the `severity` label's; `min_confidence` only applies
/// to classified notifications; `drop_noise` drops notifications whose
/// severity is `noise` (heartbeats such as `Watchdog`, or what a classifier
/// called noise) even when `min_severity` is unset.
///
/// ```
/// use alertkit_publish::TargetFilter;
///
/// let filter: TargetFilter = toml::from_str(r#"
///     min_severity = "warning"
///     matchers = '{env="prod"}'
///     min_confidence = 0.5
///     drop_noise = true
/// "#).unwrap();
/// assert!(filter.drop_noise);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TargetFilter {
    /// Drop notifications less urgent than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    /// Label matchers the alert must satisfy.
    #[serde(default)]
    pub matchers: Matchers,
    /// Drop classified notifications below this confidence (`0.0..=1.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_confidence: Option<f64>,
    /// Drop notifications of severity `noise`.
    #[serde(default)]
    pub drop_noise: bool,
}

impl TargetFilter {
    /// The core filter for the shared conditions.
    pub fn publish_filter(&self) -> PublishFilter {
        PublishFilter {
            min_severity: self.min_severity,
            matchers: self.matchers.clone(),
            min_confidence: self.min_confidence,
        }
    }

    /// Whether this filter lets everything through.
    pub fn is_pass_all(&self) -> bool {
        self.min_severity.is_none()
            && self.matchers.is_empty()
            && self.min_confidence.is_none()
            && !self.drop_noise
    }

    /// `Ok(())` if the target should get `n`, else why not.
    ///
    /// # Errors
    ///
    /// The reason, e.g. `severity info below warning` or `noise dropped`.
    pub fn check(&self, n: &Notification) -> Result<(), String> {
        if self.drop_noise {
            let severity = n
                .classification
                .as_ref()
                .map_or_else(|| n.alert.label_severity(), |c| c.severity);
            if severity == Severity::Noise {
                return Err("noise dropped".to_owned());
            }
        }
        self.publish_filter().check(n)
    }

    /// Checks the values serde cannot: `min_confidence` in `0..=1`.
    #[cfg_attr(
        not(any(
            feature = "slack",
            feature = "pagerduty",
            feature = "rootly",
            feature = "webhook"
        )),
        allow(dead_code)
    )]
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self.min_confidence {
            Some(c) if !(0.0..=1.0).contains(&c) => Err(format!("{c} is outside 0.0..=1.0")),
            _ => Ok(()),
        }
    }
}

/// A publisher that answers [`PublishReceipt::skipped`] for notifications its
/// [`TargetFilter`] rejects, and otherwise delegates.
///
/// ```
/// use std::sync::Arc;
/// use alertkit_publish::{Filtered, RecordingPublisher, TargetFilter};
///
/// let filtered = Filtered::new(Arc::new(RecordingPublisher::new("sink", 10)), TargetFilter::default());
/// # let _ = filtered;
/// ```
#[derive(Debug)]
pub struct Filtered<P: ?Sized> {
    filter: TargetFilter,
    inner: Arc<P>,
}

impl<P: Publisher + ?Sized> Filtered<P> {
    /// `inner` behind `filter`.
    pub fn new(inner: Arc<P>, filter: TargetFilter) -> Self {
        Self { filter, inner }
    }

    /// The filter.
    pub fn filter(&self) -> &TargetFilter {
        &self.filter
    }

    /// The wrapped publisher.
    pub fn get_ref(&self) -> &Arc<P> {
        &self.inner
    }
}

#[async_trait]
impl<P: Publisher + ?Sized> Publisher for Filtered<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn publish(&self, n: &Notification) -> Result<PublishReceipt, PublishError> {
        match self.filter.check(n) {
            Ok(()) => self.inner.publish(n).await,
            Err(reason) => {
                metrics::counter!("alertkit_publish_filtered_total").increment(1);
                Ok(PublishReceipt::skipped(reason))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alertkit_core::{Alert, EventKind, LabelSet, Origin};

    use super::*;

    fn n(severity: &str) -> Notification {
        Notification::new(
            Alert::firing(
                LabelSet::from_pairs([("alertname", "A"), ("severity", severity)]),
                time::OffsetDateTime::UNIX_EPOCH,
            ),
            EventKind::Firing,
            Arc::new(Origin::named("r")),
        )
    }

    #[test]
    fn drops_noise_and_low_severity() {
        let f = TargetFilter {
            drop_noise: true,
            ..TargetFilter::default()
        };
        assert_eq!(f.check(&n("none")), Err("noise dropped".to_owned()));
        assert!(f.check(&n("info")).is_ok());
        let f = TargetFilter {
            min_severity: Some(Severity::Warning),
            ..TargetFilter::default()
        };
        assert!(f.check(&n("info")).is_err());
        assert!(f.check(&n("critical")).is_ok());
        assert!(TargetFilter::default().is_pass_all());
    }
}
