//! Opening the history store named by `DATABASE_URL`.

use std::sync::Arc;

use alertkit_core::{Handoff, HistoryStore, Journal, Outbox};
use alertkit_store::{
    FileJournal, OutboxOptions, PostgresHistoryStore, PostgresOptions, SqliteHistoryStore,
    SqliteOptions,
};

use crate::config::{Database, DatabaseKind};
use crate::telemetry;

/// An open store, and how to close it.
#[derive(Clone)]
pub(crate) struct Opened {
    /// The store, for the pipeline and the handlers.
    pub(crate) store: Arc<dyn HistoryStore>,
    backend: Backend,
    journal: Option<FileJournal>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteHistoryStore),
    Postgres(PostgresHistoryStore),
}

impl Opened {
    /// The intake journal the pipeline acknowledges on (SQLite with `database.journal`).
    pub(crate) fn journal(&self) -> Option<Arc<dyn Journal>> {
        self.journal
            .clone()
            .map(|j| Arc::new(j) as Arc<dyn Journal>)
    }

    /// The durable outbox the store keeps.
    pub(crate) fn outbox(&self) -> Arc<dyn Outbox> {
        match &self.backend {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// History statistics.
    pub(crate) fn stats(&self) -> Arc<dyn alertkit_core::traits::HistoryStats> {
        match &self.backend {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// The pipeline's hand-off: releases held outbox rows.
    pub(crate) fn handoff(&self) -> Arc<dyn Handoff> {
        match &self.backend {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// Which targets new notifications are enqueued for.
    pub(crate) fn set_outbox(&self, options: OutboxOptions) {
        match &self.backend {
            Backend::Sqlite(s) => s.set_outbox(options),
            Backend::Postgres(s) => s.set_outbox(options),
        }
    }

    /// Deletes what `policy` no longer keeps (see [`crate::retention`]).
    pub(crate) async fn prune(
        &self,
        policy: &alertkit_store::RetentionPolicy,
    ) -> Result<alertkit_store::PruneReport, alertkit_core::StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.prune(policy).await,
            Backend::Postgres(s) => s.prune(policy).await,
        }
    }

    /// Connections in use, idle and at most (SQLite: writer plus readers).
    pub(crate) fn pool_status(&self) -> alertkit_store::PoolStatus {
        match &self.backend {
            Backend::Sqlite(s) => s.pool_status(),
            Backend::Postgres(s) => s.pool_status(),
        }
    }

    /// Closes the pools, waiting for connections to finish.
    pub(crate) async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(s) => s.close().await,
        }
        if let Some(j) = &self.journal {
            j.close().await;
        }
    }
}

/// Opens and migrates the database; the error names `DATABASE_URL` without
/// its credentials.
pub(crate) async fn open(db: &Database) -> Result<Opened, String> {
    let fail = |e: alertkit_core::StoreError| {
        format!(
            "cannot open DATABASE_URL {}: {}",
            db.redacted(),
            with_sources(&e)
        )
    };
    let backend = match db.kind {
        DatabaseKind::Sqlite => {
            let mut options = SqliteOptions::new(db.url.expose());
            options.read_connections = db.pool_size;
            Backend::Sqlite(SqliteHistoryStore::open_with(options).await.map_err(fail)?)
        }
        DatabaseKind::Postgres => {
            let mut options = PostgresOptions::new(db.url.expose());
            options.max_connections = db.pool_size;
            if let Some(schema) = &db.schema {
                options = options.schema(schema.clone());
            }
            Backend::Postgres(
                PostgresHistoryStore::open_with(options)
                    .await
                    .map_err(fail)?,
            )
        }
    };
    let store: Arc<dyn HistoryStore> = match &backend {
        Backend::Sqlite(s) => Arc::new(s.clone()),
        Backend::Postgres(s) => Arc::new(s.clone()),
    };
    let journal = match db.kind {
        DatabaseKind::Sqlite if db.journal => Some(
            FileJournal::open_beside(db.url.expose())
                .await
                .map_err(|e| {
                    format!(
                        "cannot open the journal beside DATABASE_URL {}: {}",
                        db.redacted(),
                        with_sources(&e)
                    )
                })?,
        ),
        _ => None,
    };
    let opened = Opened {
        store,
        backend,
        journal,
    };
    // Until the first scrape refreshes them.
    telemetry::record_pool(opened.pool_status());
    Ok(opened)
}

/// `e` and its sources ("history store failure: journal: … is in use by
/// another process"): the top-level message alone does not say what to fix.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
