//! [`FilterLayer`]: per-target filtering of notifications.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use serde::{Deserialize, Serialize};
use tower::{Layer, Service};

use crate::{Matchers, Notification, PublishReceipt, Severity};

/// Which notifications a target wants.
///
/// Every condition must hold. The severity is the classification's when the
/// notification has one, else the `severity` label's
/// ([`Severity::from_label`]); an alert of unknown severity ranks as a
/// warning. `min_confidence` only applies to classified notifications.
///
/// ```
/// use alertkit_core::{Matchers, Severity, layer::PublishFilter};
///
/// let filter = PublishFilter {
///     min_severity: Some(Severity::Warning),
///     matchers: Matchers::parse(r#"{env="prod"}"#).unwrap(),
///     min_confidence: Some(0.5),
/// };
/// # let _ = filter;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishFilter {
    /// Drop notifications less urgent than this.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Label matchers the alert must satisfy.
    #[serde(default)]
    pub matchers: Matchers,
    /// Drop classified notifications below this confidence.
    #[serde(default)]
    pub min_confidence: Option<f64>,
}

impl PublishFilter {
    /// `Ok(())` if the target should get `n`, else the reason it should not.
    pub fn check(&self, n: &Notification) -> Result<(), String> {
        let severity = n
            .classification
            .as_ref()
            .map_or_else(|| n.alert.label_severity(), |c| c.severity);
        if let Some(min) = self.min_severity
            && !severity.at_least(min)
        {
            return Err(format!("severity {severity} below {min}"));
        }
        if !self.matchers.matches(&n.alert.labels) {
            return Err(format!("labels do not match {}", self.matchers));
        }
        if let (Some(min), Some(c)) = (self.min_confidence, &n.classification)
            && c.confidence < min
        {
            return Err(format!("confidence {:.2} below {min:.2}", c.confidence));
        }
        Ok(())
    }
}

/// Skips notifications a [`PublishFilter`] rejects, answering
/// [`PublishReceipt::skipped`] without calling the wrapped publisher.
#[derive(Debug, Clone)]
pub struct FilterLayer {
    filter: Arc<PublishFilter>,
}

impl FilterLayer {
    /// Filters with `filter`.
    pub fn new(filter: PublishFilter) -> Self {
        Self {
            filter: Arc::new(filter),
        }
    }
}

impl<S> Layer<S> for FilterLayer {
    type Service = Filter<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Filter {
            inner,
            filter: Arc::clone(&self.filter),
        }
    }
}

/// The service built by [`FilterLayer`].
#[derive(Debug, Clone)]
pub struct Filter<S> {
    inner: S,
    filter: Arc<PublishFilter>,
}

impl<S> Filter<S> {
    /// The filter in use.
    pub fn filter(&self) -> &PublishFilter {
        &self.filter
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S> Service<Notification> for Filter<S>
where
    S: Service<Notification, Response = PublishReceipt>,
{
    type Response = PublishReceipt;
    type Error = S::Error;
    type Future = Either<Ready<Result<PublishReceipt, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, n: Notification) -> Self::Future {
        match self.filter.check(&n) {
            Ok(()) => Either::Right(self.inner.call(n)),
            Err(reason) => {
                metrics::counter!("alertkit_publish_filtered_total").increment(1);
                Either::Left(ready(Ok(PublishReceipt::skipped(reason))))
            }
        }
    }
}
