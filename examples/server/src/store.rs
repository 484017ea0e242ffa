//! Opening the history store named by `DATABASE_URL`.

use std::sync::Arc;

use alertkit_core::{Handoff, HistoryStore, Journal, Outbox, StoreError};
use alertkit_store::{
    FileJournal, OutboxOptions, PostgresHistoryStore, PostgresOptions, SchemaError,
    SqliteHistoryStore, SqliteOptions,
};

use crate::api::Probe;
use crate::config::{Database, DatabaseKind};
use crate::telemetry;

/// What the pipeline and the handlers take from a history store.
pub(crate) struct Parts {
    /// The store, for the pipeline and the handlers.
    pub(crate) store: Arc<dyn HistoryStore>,
    /// The intake journal the pipeline acknowledges on, if any.
    pub(crate) journal: Option<Arc<dyn Journal>>,
    /// Where classified notifications go (the store's outbox).
    pub(crate) handoff: Arc<dyn Handoff>,
    /// The database's readiness probe.
    pub(crate) probe: Probe,
}

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

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => DatabaseKind::Sqlite.as_str(),
            Self::Postgres(_) => DatabaseKind::Postgres.as_str(),
        }
    }
}

impl Opened {
    /// The store, its journal, its outbox hand-off and its readiness probe.
    pub(crate) fn parts(&self) -> Parts {
        let opened = self.clone();
        Parts {
            store: Arc::clone(&self.store),
            journal: self.journal(),
            handoff: self.handoff(),
            probe: Probe::database(self.backend.name(), move || {
                let opened = opened.clone();
                async move { opened.check_schema().await }
            }),
        }
    }

    /// Whether the database answers and holds exactly this build's
    /// migrations ([`alertkit_store::SchemaError`] as the error's source
    /// when it does not).
    pub(crate) async fn check_schema(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.check_schema().await,
            Backend::Postgres(s) => s.check_schema().await,
        }
    }

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
    ) -> Result<alertkit_store::PruneReport, StoreError> {
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

/// Opens the database, migrating it unless `database.migrate` is off (then
/// it checks the migrations instead); the error names `DATABASE_URL`
/// without its credentials.
pub(crate) async fn open(db: &Database) -> Result<Opened, String> {
    let fail = |e: StoreError| {
        // Only a store that does not migrate checks the schema.
        let pending = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<SchemaError>())
            .is_some_and(|s| matches!(s, SchemaError::Pending { .. }));
        let hint = if pending {
            " (DATABASE_MIGRATE is off: `alertkit-server --migrate` applies them)"
        } else {
            ""
        };
        format!(
            "cannot open DATABASE_URL {}: {}{hint}",
            db.redacted(),
            with_sources(&e)
        )
    };
    let backend = match db.kind {
        DatabaseKind::Sqlite => {
            let mut options = SqliteOptions::new(db.url.expose());
            options.read_connections = db.pool_size;
            options.migrate = db.migrate;
            Backend::Sqlite(SqliteHistoryStore::open_with(options).await.map_err(fail)?)
        }
        DatabaseKind::Postgres => {
            let mut options = PostgresOptions::new(db.url.expose());
            options.max_connections = db.pool_size;
            options.migrate = db.migrate;
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

/// Applies the database's pending migrations (whatever `database.migrate`
/// says) and closes it again, leaving the intake journal alone: what
/// `alertkit-server --migrate` does.
pub(crate) async fn migrate(db: &Database) -> Result<(), String> {
    let db = Database {
        migrate: true,
        journal: false,
        ..db.clone()
    };
    open(&db).await?.close().await;
    Ok(())
}

/// `e` and its sources ("history store failure: journal: … is in use by
/// another process"): the top-level message alone does not say what to fix.
pub(crate) fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
