//! Checkpoints of the SQLite write-ahead log, off the writer's path. SQLite's automatic checkpoint runs
//! inside the commit that crosses 1,000 WAL pages, so one issuance in a few hundred waited for a copy
//! of the log into the database file and its fsync: the issuance path's latency tail. Here the writer
//! never checkpoints; a thread of its own copies committed frames with a PASSIVE checkpoint (which
//! never blocks the writer) every [`INTERVAL`], and, once the log holds more than [`RESTART_FRAMES`],
//! a RESTART checkpoint, which briefly holds new writes back, so that the log restarts from the
//! beginning instead of growing. Durability is unchanged: commits still fsync the log.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// How often committed frames are copied into the database file.
const INTERVAL: Duration = Duration::from_millis(50);
/// Log size (in 4 KiB pages) above which the log is restarted; by then PASSIVE checkpoints have
/// copied nearly all of it, so the RESTART has little left to copy while writes wait.
const RESTART_FRAMES: i64 = 4_096;

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
        match checkpoint(conn, "PASSIVE") {
            Ok(frames) if frames > RESTART_FRAMES => {
                if let Err(e) = checkpoint(conn, "RESTART") {
                    tracing::warn!(error = %e, "WAL restart checkpoint failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

/// One checkpoint of `mode`; the log's size in frames before it.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    let started = Instant::now();
    let (_busy, log, _copied): (i64, i64, i64) =
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    crate::metrics::record_store(
        "sqlite",
        if mode == "PASSIVE" {
            "checkpoint"
        } else {
            "checkpoint_restart"
        },
        started.elapsed(),
    );
    Ok(log)
}
