//! Checkpoints of the SQLite write-ahead log, mostly off the writer's path. SQLite's automatic
//! checkpoint runs inside the commit that crosses 1,000 WAL pages, so one batch of issuances in a few
//! hundred waited for a copy of the log into the database file and its fsync. Here a thread of its own
//! copies committed frames with a PASSIVE checkpoint (which never blocks the writer) every [`INTERVAL`].
//! The writer keeps SQLite's automatic checkpoint only as a backstop at a larger size
//! (`WAL_AUTOCHECKPOINT` in sqlite.rs): by then this thread has copied nearly every frame, so the
//! writer's checkpoint completes quickly and the log restarts from the beginning instead of growing.
//! A RESTART or FULL checkpoint from here is never used: it holds every write back (each issuance,
//! for as long as the copy takes, seconds on a large log). Durability is unchanged: commits still
//! fsync the log.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// How often committed frames are copied into the database file.
const INTERVAL: Duration = Duration::from_millis(50);

/// Runs the checkpoints until dropped.
pub(crate) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

/// Starts the checkpoint thread on its own connection to `path`.
pub(crate) fn start(path: &Path, busy_timeout: Duration) -> Result<Checkpointer, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|conn| {
        conn.busy_timeout(busy_timeout)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(conn)
    })
    .map_err(|e| StoreError::Unavailable(format!("checkpoint connection: {e}")))?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || run(&conn, &stopped))
        .map_err(|e| StoreError::Unavailable(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(Checkpointer { _stop: stop })
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        if let Err(e) = checkpoint(conn) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// One PASSIVE checkpoint.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    let started = Instant::now();
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    crate::metrics::record_store("sqlite", "checkpoint", started.elapsed());
    Ok(())
}
