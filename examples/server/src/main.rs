//! The alertkit reference server.
//!
//! `cargo run -p alertkit-server` starts it with zero configuration on
//! `0.0.0.0:8080`: history in `alertkit.db` (SQLite) in the working
//! directory, the label classifier, no publishing targets. Settings come
//! from a TOML file (`--config <file>` or `CONFIG_FILE`) and environment
//! variables named after its keys (`SERVER_PORT`, `DATABASE_URL`, …); the
//! README lists them.

mod api;
mod auth;
mod classify;
mod config;
mod progress;
mod publishing;
mod retention;
mod store;
mod telemetry;
#[cfg(test)]
mod tests;
mod views;

use std::sync::Arc;

use alertkit_core::memory::LabelClassifier;

/// mimalloc instead of glibc's allocator: under ingest load glibc's
/// `malloc`/`free` (with `malloc_consolidate` on the large batch buffers)
/// took about a third of the tokio workers' time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use alertkit_core::pipeline::{Pipeline, PipelineConfig};

use crate::api::{AppState, Probe};
use crate::config::{Command, Config};

/// Builds the pipeline over the store in `parts` (acknowledging on its
/// journal's appends when it has one), handing classified notifications to
/// its hand-off (the store's outbox), and the state the handlers share.
fn build(
    parts: store::Parts,
    classify: Option<Arc<classify::Classify>>,
    publishing: Option<Arc<publishing::Publishing>>,
    config: Config,
) -> (Pipeline, AppState) {
    let store::Parts {
        store,
        journal,
        handoff,
        probe,
    } = parts;
    let classifier: Arc<dyn alertkit_core::Classifier> = match &classify {
        Some(c) => Arc::clone(&c.classifier),
        None => Arc::new(LabelClassifier),
    };
    // Delivery settles and hand-offs signal the same progress, so the proxy
    // wakes on either.
    let progress = publishing
        .as_ref()
        .map_or_else(progress::Progress::default, |p| p.progress().clone());
    let handoff = Arc::new(progress::SignalHandoff::new(handoff, progress.clone()));
    let mut builder = Pipeline::builder(Arc::clone(&store), handoff).classifier(classifier);
    let mut probes = vec![probe];
    if let Some(journal) = &journal {
        builder = builder.journal(Arc::clone(journal));
    }
    let pipeline = builder.spawn();
    if let Some(journal) = journal {
        probes.push(Probe::journal(journal, pipeline.ingest()));
    }
    if let Some(redis) = classify.as_ref().and_then(|c| c.redis.clone()) {
        probes.push(Probe::cache("redis", Arc::new(redis)));
    }
    let state = AppState {
        ingest: pipeline.ingest(),
        store,
        stats: None,
        classify,
        publishing,
        config: Arc::new(config),
        probes: probes.into(),
        database: None,
        progress,
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

/// Runs the server; errors are printed with `Display` (never `Debug`) and
/// exit with status 1.
fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("alertkit-server: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "alertkit server failed");
            eprintln!("alertkit-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (file, migrate_only) =
        match config::parse_args(std::env::args().skip(1), std::env::var("CONFIG_FILE").ok())? {
            Command::Help => {
                println!("{}", config::USAGE);
                return Ok(());
            }
            Command::Run(file) => (file, false),
            Command::Migrate(file) => (file, true),
        };
    let config = Config::load(file.as_deref(), |k| std::env::var(k).ok())?;
    telemetry::init_logging(&config.log_level)?;
    if migrate_only {
        store::migrate(&config.database).await?;
        println!("migrations applied to {}", config.database.redacted());
        return Ok(());
    }
    let metrics = telemetry::prometheus()?;
    let upkeep = telemetry::spawn_upkeep(metrics);

    let opened = store::open(&config.database).await?;
    // A notification waits this long for its classification before it is
    // delivered without one (also after a crash: the outbox holds it).
    let hold = PipelineConfig::default().classify_timeout + std::time::Duration::from_secs(1);
    let publishing = Arc::new(
        publishing::Publishing::start_with(
            config.targets_file.clone(),
            config.simulation_enabled,
            opened.clone(),
            hold,
        )
        .await?,
    );
    let classify = Arc::new(classify::Classify::build(&config).await?);
    let (pipeline, mut state) = build(
        opened.parts(),
        Some(classify),
        Some(Arc::clone(&publishing)),
        config.clone(),
    );
    state.stats = Some(opened.stats());
    state.database = Some(opened.clone());
    let retention = retention::spawn(opened.clone(), config.retention);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} (SERVER_HOST/SERVER_PORT): {e}",
                config.listen
            )
        })?;
    let listen = listener.local_addr().unwrap_or(config.listen);
    tracing::info!(
        listen = %listen,
        database = %config.database.redacted(),
        ingest_auth = config.ingest_auth.scheme(),
        admin_api = config.admin_api_key.is_some(),
        publishing = publishing.mode(),
        "alertkit server started"
    );
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    if let Some(task) = retention {
        task.abort();
    }
    pipeline.shutdown().await;
    publishing.shutdown().await;
    opened.close().await;
    upkeep.abort();
    tracing::info!("stopped");
    Ok(())
}
