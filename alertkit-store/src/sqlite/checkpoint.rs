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

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::task::JoinHandle;

/// The checkpoint task: stopped by [`close`](Self::close), or when the last
/// clone of its owner drops this handle.
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Opens the task's connection to the database of `options` (now, so
    /// that it never opens, or creates, a file its owner has since closed
    /// or removed) and checkpoints every `every` from then on.
    pub(super) async fn start(options: SqliteConnectOptions, every: Duration) -> Arc<Self> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = match options.connect().await {
            Ok(conn) => Some(tokio::spawn(run(conn, every, stopped))),
            Err(e) => {
                tracing::warn!(error = %e, "no background checkpoints: cannot open a connection");
                None
            }
        };
        Arc::new(Self {
            stop,
            task: tokio::sync::Mutex::new(task),
        })
    }

    /// Stops the task and waits until its connection is closed. Every
    /// caller waits, also when another is closing it at the same time, and
    /// a cancelled call leaves the task for the next one to wait for.
    pub(super) async fn close(&self) {
        self.stop.send_replace(true);
        let mut task = self.task.lock().await;
        if let Some(running) = task.as_mut() {
            let _ = running.await;
            *task = None;
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn run(
    mut conn: SqliteConnection,
    every: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|&stop| stop) => break,
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut conn)
            .await
        {
            tracing::debug!(error = %e, "background checkpoint failed; the writer's own checkpoint remains");
        }
    }
    let _ = conn.close().await;
}
