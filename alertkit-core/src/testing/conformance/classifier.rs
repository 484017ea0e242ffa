//! The [`Classifier`] conformance suite.

use std::future::Future;
use std::sync::Arc;

use proptest::test_runner::TestCaseError;

use super::{check, ensure, once, runtime};
use crate::testing::strategies::alert;
use crate::{Alert, Classification, Classifier, LabelSet};

/// The [`Classifier`] suite, with options. [`classifier`] runs it with defaults.
pub struct ClassifierSuite<F> {
    make: F,
    deterministic: bool,
    cases: u32,
}

impl<F> std::fmt::Debug for ClassifierSuite<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassifierSuite")
            .field("deterministic", &self.deterministic)
            .field("cases", &self.cases)
            .finish_non_exhaustive()
    }
}

/// Runs the [`Classifier`] suite with defaults (deterministic, 64 cases).
///
/// Checks: a stable, non-empty id; every generated alert (hostile labels,
/// huge annotations) gets a well-formed verdict (confidence finite in
/// `0..=1`, no empty recommendation) or a typed error, never a panic; the
/// same alert gets the same severity and category twice (unless
/// [`ClassifierSuite::nondeterministic`]); 64 concurrent calls complete.
pub fn classifier<F, Fut, C>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = C>,
    C: Classifier,
{
    ClassifierSuite::new(make).run();
}

impl<F, Fut, C> ClassifierSuite<F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = C>,
    C: Classifier,
{
    /// The suite with default options.
    pub fn new(make: F) -> Self {
        Self {
            make,
            deterministic: true,
            cases: 64,
        }
    }

    /// Skips the same-input-same-verdict check (for sampling models).
    #[must_use]
    pub fn nondeterministic(mut self) -> Self {
        self.deterministic = false;
        self
    }

    /// Number of generated alerts (default 64).
    #[must_use]
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases.max(1);
        self
    }

    /// Runs the checks.
    pub fn run(self) {
        let rt = runtime();
        let make = &self.make;
        let deterministic = self.deterministic;
        once(&rt, "concurrency", async {
            concurrency(make().await).await
        });
        check(
            &rt,
            "generated_alerts",
            self.cases,
            alert(),
            |a| async move { generated(make().await, a, deterministic).await },
        );
    }
}

fn well_formed(c: &Classification) -> Result<(), TestCaseError> {
    ensure(
        c.confidence.is_finite() && (0.0..=1.0).contains(&c.confidence),
        || format!("confidence {} outside 0..=1", c.confidence),
    )?;
    ensure(
        c.recommendations.iter().all(|r| !r.trim().is_empty()),
        || "empty recommendation".into(),
    )
}

async fn generated(
    c: impl Classifier,
    alert: Alert,
    deterministic: bool,
) -> Result<(), TestCaseError> {
    let id = c.id().to_owned();
    ensure(!id.is_empty(), || "classifier id is empty".into())?;
    let first = c.classify(&alert).await;
    ensure(c.id() == id, || {
        "classifier id changed between calls".into()
    })?;
    match first {
        Ok(v) => {
            well_formed(&v)?;
            if deterministic && let Ok(again) = c.classify(&alert).await {
                ensure(
                    again.severity == v.severity && again.category == v.category,
                    || {
                        format!(
                            "same alert classified {}/{} then {}/{}",
                            v.severity, v.category, again.severity, again.category
                        )
                    },
                )?;
            }
            Ok(())
        }
        Err(e) => ensure(!e.to_string().is_empty(), || {
            "error with an empty message".into()
        }),
    }
}

async fn concurrency(c: impl Classifier) -> Result<(), TestCaseError> {
    let c = Arc::new(c);
    let now = time::OffsetDateTime::now_utc();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let c = Arc::clone(&c);
        let a = Alert::firing(
            LabelSet::from_pairs([
                ("alertname", format!("Concurrent{}", i % 8)),
                ("i", i.to_string()),
            ]),
            now,
        );
        tasks.push(tokio::spawn(async move {
            c.classify(&a).await.map(|v| well_formed(&v))
        }));
    }
    for t in tasks {
        match t
            .await
            .map_err(|e| TestCaseError::fail(format!("classify panicked: {e}")))?
        {
            Ok(check) => check?,
            Err(e) => ensure(!e.to_string().is_empty(), || {
                "error with an empty message".into()
            })?,
        }
    }
    Ok(())
}
