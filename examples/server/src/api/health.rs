//! Liveness and readiness, with one probe per dependency.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use alertkit_core::StoreError;
use alertkit_store::SchemaError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

/// How long one probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a probe found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CheckResult {
    /// `ok`, `failed` or `skipped` (configured but not used yet; does not fail readiness).
    pub(crate) status: &'static str,
    /// What was checked, or why it failed.
    pub(crate) detail: String,
}

type ProbeFuture = Pin<Box<dyn Future<Output = CheckResult> + Send>>;

/// A named readiness check of one dependency.
#[derive(Clone)]
pub(crate) struct Probe {
    name: &'static str,
    run: Arc<dyn Fn() -> ProbeFuture + Send + Sync>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").field("name", &self.name).finish()
    }
}

impl Probe {
    /// A probe named `name` running `run`.
    pub(crate) fn new<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CheckResult> + Send + 'static,
    {
        Self {
            name,
            run: Arc::new(move || Box::pin(run())),
        }
    }

    /// The history database answers and holds exactly the migrations this
    /// build embeds (`check`, the store's schema check). A database that a
    /// newer build migrated further stays ready, and the detail says so: a
    /// rolling upgrade must not take the older replicas out of service
    /// while the newer ones start.
    pub(crate) fn database<F, Fut>(backend: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), StoreError>> + Send + 'static,
    {
        Self::new("database", move || {
            let checked = check();
            async move {
                let Err(e) = checked.await else {
                    return CheckResult {
                        status: "ok",
                        detail: format!("{backend}: reachable, migrations applied"),
                    };
                };
                match std::error::Error::source(&e).and_then(|s| s.downcast_ref::<SchemaError>()) {
                    Some(newer @ SchemaError::Unknown { .. }) => CheckResult {
                        status: "ok",
                        detail: format!("{backend}: reachable; {newer}"),
                    },
                    _ => CheckResult {
                        status: "failed",
                        detail: format!("{backend}: {}", crate::store::with_sources(&e)),
                    },
                }
            }
        })
    }

    /// The intake journal can take appends (its last write and flush
    /// succeeded, its files are there); the detail says how far history
    /// is behind it.
    pub(crate) fn journal(
        journal: Arc<dyn alertkit_core::Journal>,
        ingest: alertkit_core::pipeline::Ingest,
    ) -> Self {
        Self::new("journal", move || {
            let journal = Arc::clone(&journal);
            let backlog = ingest.journal_backlog();
            async move {
                match journal.check().await {
                    Ok(()) => CheckResult {
                        status: "ok",
                        detail: match backlog {
                            Some(b) => format!(
                                "appends and flushes succeed; {} of at most {} acknowledged alerts not yet in history",
                                b.unrecorded, b.limit
                            ),
                            None => "appends and flushes succeed".to_owned(),
                        },
                    },
                    Err(e) => CheckResult {
                        status: "failed",
                        detail: std::error::Error::source(&e)
                            .map_or_else(|| e.to_string(), ToString::to_string),
                    },
                }
            }
        })
    }

    /// A cache answers a lookup (Redis: one round trip).
    pub(crate) fn cache(name: &'static str, cache: Arc<dyn alertkit_core::Cache>) -> Self {
        Self::new(name, move || {
            let cache = Arc::clone(&cache);
            async move {
                match cache.get("readyz").await {
                    Ok(_) => CheckResult {
                        status: "ok",
                        detail: "reachable".to_owned(),
                    },
                    Err(e) => CheckResult {
                        status: "failed",
                        detail: e.to_string(),
                    },
                }
            }
        })
    }
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    status: &'static str,
}

/// Readiness, per dependency.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    /// One entry per dependency (`database`, `redis`, …).
    checks: BTreeMap<&'static str, CheckResult>,
}

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "alive", body = Health))
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready to take traffic: every dependency answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "every dependency answers", body = Readiness),
        (status = 503, description = "a dependency fails (see `checks`)", body = Readiness),
    )
)]
pub(crate) async fn readyz(State(s): State<Arc<AppState>>) -> (StatusCode, Json<Readiness>) {
    let runs = s.probes.iter().map(|p| async move {
        let result = tokio::time::timeout(PROBE_TIMEOUT, (p.run)())
            .await
            .unwrap_or_else(|_| CheckResult {
                status: "failed",
                detail: format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
            });
        (p.name, result)
    });
    let checks: BTreeMap<_, _> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .collect();
    let ready = checks.values().all(|c| c.status != "failed");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        checks,
    };
    (status, Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the database probe reports when the store's check returns `result`.
    async fn database(result: fn() -> Result<(), StoreError>) -> CheckResult {
        let probe = Probe::database("sqlite", move || async move { result() });
        (probe.run)().await
    }

    fn schema(e: SchemaError) -> Result<(), StoreError> {
        Err(StoreError::Backend(Box::new(e)))
    }

    #[tokio::test]
    async fn the_database_probe_reads_the_schema_check() {
        let ok = database(|| Ok(())).await;
        assert_eq!(
            (ok.status, ok.detail.as_str()),
            ("ok", "sqlite: reachable, migrations applied")
        );
        // Migrated further by a newer build: still serving, and it says so.
        let newer = database(|| schema(SchemaError::Unknown { version: 29991231 })).await;
        assert_eq!(newer.status, "ok");
        assert!(
            newer
                .detail
                .starts_with("sqlite: reachable; migration 29991231 is applied but unknown"),
            "{}",
            newer.detail
        );
        for broken in [
            || schema(SchemaError::Modified { version: 7 }),
            || schema(SchemaError::Failed { version: 7 }),
        ] {
            let r = database(broken).await;
            assert_eq!(r.status, "failed");
            assert!(r.detail.contains("migration 7"), "{}", r.detail);
        }
        let down = database(|| {
            Err(StoreError::Unavailable(Box::new(std::io::Error::other(
                "connection refused",
            ))))
        })
        .await;
        assert_eq!(down.status, "failed");
        assert!(
            down.detail.ends_with("connection refused"),
            "{}",
            down.detail
        );
    }
}
