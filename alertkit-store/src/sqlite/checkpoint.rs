//! Background WAL checkpoints, off the writer's path (the intake journal's
//! and the history database's).
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the
//! threshold: that commit copies the WAL into the database file and waits
//! for its `fsync`, and every write queued behind it waits too. A task with
//! its own connection runs `PASSIVE` checkpoints every interval instead;
//! they copy what is committed without blocking the writer, on whichever
//! core is free. The writer's auto-checkpoint stays as the backstop: it then
//! finds little left to copy, and lets the WAL restart from its start.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{ConnectOptions, Connection};

/// Stops the task when the last clone of its owner is dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    _stop: tokio::sync::watch::Sender<()>,
}

/// Checkpoints the database of `options` every `every` until `writer`
/// (the pool whose WAL it is) is closed or the returned handle is dropped.
pub(super) fn spawn(
    options: SqliteConnectOptions,
    writer: SqlitePool,
    every: Duration,
) -> Arc<Checkpointer> {
    let (stop, mut stopped) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        let mut conn = match options.connect().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no background checkpoints: cannot open a connection");
                return;
            }
        };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => break,
            }
            if writer.is_closed() {
                break;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut conn)
                .await
            {
                tracing::debug!(error = %e, "background checkpoint failed; the writer's own checkpoint remains");
            }
        }
        let _ = conn.close().await;
    });
    Arc::new(Checkpointer { _stop: stop })
}
