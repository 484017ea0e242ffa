//! The alertkit reference server.
//!
//! `cargo run -p alertkit-server` starts it with zero configuration on
//! `0.0.0.0:8080`: history in `alertkit.db` (SQLite) in the working
//! directory, the label classifier, no publishing targets. Environment:
//! `SERVER_HOST`, `SERVER_PORT`, `DATABASE_URL`, `LOG_LEVEL`.

mod api;
mod config;
#[cfg(test)]
mod tests;
mod views;

use std::sync::Arc;

use alertkit_core::HistoryStore;
use alertkit_core::layer::{DirectHandoff, FanOut};
use alertkit_core::memory::LabelClassifier;
use alertkit_core::pipeline::Pipeline;
use alertkit_store::SqliteHistoryStore;

use crate::api::AppState;
use crate::config::Config;

/// Builds the pipeline over `store` and the state the handlers share.
fn build(store: Arc<dyn HistoryStore>) -> (Pipeline, AppState) {
    // No targets configured: publishing is metrics-only.
    let handoff = Arc::new(DirectHandoff::new(FanOut::new()));
    let pipeline = Pipeline::builder(Arc::clone(&store), handoff)
        .classifier(Arc::new(LabelClassifier))
        .spawn();
    let state = AppState {
        ingest: pipeline.ingest(),
        store,
    };
    (pipeline, state)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .map_err(|e| format!("invalid configuration LOG_LEVEL: {e}"))?;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .init();

    let store = SqliteHistoryStore::open(&config.database_url)
        .await
        .map_err(|e| format!("cannot open DATABASE_URL {}: {e}", config.database_url))?;
    let (pipeline, state) = build(Arc::new(store.clone()));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} (SERVER_HOST/SERVER_PORT): {e}",
                config.listen
            )
        })?;
    tracing::info!(listen = %config.listen, profile = "lite", database = %config.database_url, publishing = "metrics-only", "alertkit server started");
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    pipeline.shutdown().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
