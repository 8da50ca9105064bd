//! The threads behind the writes: the writer, which commits what is queued in groups; the
//! sync thread, which syncs the WAL after each and then tells the callers; and the
//! checkpoint thread, which copies the WAL into the main file beside them.

use super::StoreError;
use super::schema::index_queued;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;

/// Most writes committed together.
const GROUP: usize = 4096;
/// How often the checkpoint thread looks whether there was anything written.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What a write's caller hears: first that its commit is written (to the WAL, not yet
/// synced), then whether it is on the disk.
pub(super) trait Finish: Send {
    /// The group is committed: readers (and a crash of this process) see it.
    fn written(&mut self) {}
    /// The group is on the disk (or failed to get there, or to commit at all).
    fn durable(self: Box<Self>, result: Result<(), StoreError>);
}
/// A queued write.
pub(super) type Job = Box<dyn Write>;

/// A write and the caller waiting on it.
pub(super) trait Write: Send {
    /// Runs inside the group's transaction; says whether it succeeded and what to tell once
    /// the group is committed and synced.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Box<dyn Finish>);
    /// Tells the caller the write will not run.
    fn refuse(self: Box<Self>, e: StoreError);
}

/// Told as soon as a write's commit is written, before the sync (see [`super::Database::submit_early`]).
type Early<T> = Box<dyn FnOnce(&T) + Send>;

/// A write as queued: the work, and who hears of it.
pub(super) struct Pending<T, W, D> {
    /// Runs on the writer thread, inside the group's transaction.
    pub(super) work: W,
    /// Hears of a write that succeeded once it is committed, before the sync.
    pub(super) early: Option<Early<T>>,
    /// Hears the result once the group is on the disk.
    pub(super) done: D,
}

/// A write that ran: its outcome, for whom to tell.
struct Ran<T, D> {
    /// What the work returned (its own error, if it failed).
    outcome: Result<T, StoreError>,
    /// Taken when the commit is written, so it hears only once.
    early: Option<Early<T>>,
    /// Hears the outcome once the group is synced.
    done: D,
}

impl<T, D> Finish for Ran<T, D>
where
    T: Send + 'static,
    D: FnOnce(Result<T, StoreError>) + Send + 'static,
{
    fn written(&mut self) {
        if let (Ok(value), Some(early)) = (&self.outcome, self.early.take()) {
            early(value);
        }
    }

    fn durable(self: Box<Self>, result: Result<(), StoreError>) {
        // A write's own error is what it reports, whatever became of the group.
        (self.done)(self.outcome.and_then(|value| result.map(|()| value)));
    }
}

impl<T, W, D> Write for Pending<T, W, D>
where
    T: Send + 'static,
    W: FnOnce(&Connection) -> rusqlite::Result<T> + Send,
    D: FnOnce(Result<T, StoreError>) + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Box<dyn Finish>) {
        let outcome = (self.work)(conn).map_err(StoreError::from);
        let ok = outcome.is_ok();
        let ran = Ran {
            outcome,
            early: self.early,
            done: self.done,
        };
        (ok, Box::new(ran))
    }

    fn refuse(self: Box<Self>, e: StoreError) {
        (self.done)(Err(e));
    }
}

/// Copies the WAL into the main file once a second after writes (`commits` counts them),
/// beside the writer; a last time when the database is closed.
pub(super) fn checkpoint_loop(
    conn: Connection,
    stop: std_mpsc::Receiver<()>,
    commits: &std::sync::atomic::AtomicU64,
) {
    let mut done = 0;
    loop {
        let last = matches!(
            stop.recv_timeout(CHECKPOINT_EVERY),
            Err(std_mpsc::RecvTimeoutError::Disconnected)
        );
        let now = commits.load(std::sync::atomic::Ordering::Acquire);
        if now != done {
            match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                Ok(()) => done = now,
                Err(e) => tracing::debug!("database checkpoint: {e}"),
            }
        }
        if last {
            return;
        }
    }
}

/// The writer thread: takes what is queued (up to [`GROUP`] writes), runs each in a savepoint
/// of one transaction, indexes the messages they wrote for search, commits once (not synced:
/// `synchronous=NORMAL`), tells the callers
/// that asked to hear early, and hands the group to the sync thread, which syncs the WAL and
/// tells each caller. So the next group commits while the last one is synced: a message is
/// not held up by the sync of the ones before it. When the last handle is gone it marks the
/// database closed cleanly.
pub(super) fn write_loop(
    conn: Connection,
    wal: PathBuf,
    jobs: std_mpsc::Receiver<Job>,
    commits: &std::sync::atomic::AtomicU64,
) {
    let (to_sync, synced) = std_mpsc::channel::<Committed>();
    let syncer = std::thread::Builder::new()
        .name("lanchat-db-sync".into())
        .spawn(move || sync_loop(Wal::new(wal), synced));
    let syncer = match syncer {
        Ok(syncer) => syncer,
        Err(e) => {
            tracing::error!("cannot start the database's sync thread: {e}");
            return;
        }
    };
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Some(committed) = commit_group(&conn, group, commits) {
            // The sync thread ends only after this one.
            let _ = to_sync.send(committed);
        }
    }
    if let Err(e) = conn.execute("DELETE FROM meta WHERE key = 'open_on_boot'", []) {
        tracing::warn!("the database could not be marked closed: {e}");
    }
    let _ = to_sync.send(Committed {
        finishes: Vec::new(),
        outcome: Outcome::Written,
    });
    drop(to_sync);
    if syncer.join().is_err() {
        tracing::error!("the database's sync thread panicked");
    }
}

/// Runs a group of writes in one transaction and commits it (not synced yet), telling the
/// callers that asked to hear early. `None` if the transaction could not begin: each write
/// has been refused.
fn commit_group(
    conn: &Connection,
    group: Vec<Job>,
    commits: &std::sync::atomic::AtomicU64,
) -> Option<Committed> {
    let begun = conn.execute_batch("BEGIN IMMEDIATE");
    if let Err(e) = begun {
        let e = StoreError::from(e);
        for job in group {
            job.refuse(e.clone());
        }
        return None;
    }
    let (mut finishes, failed_alone) = run_group(conn, group);
    let outcome = if failed_alone {
        let _ = conn.execute_batch("ROLLBACK");
        Outcome::NothingWritten // its own error is what it reports
    } else {
        index_queued(conn);
        match conn.execute_batch("COMMIT") {
            Ok(()) => {
                commits.fetch_add(1, std::sync::atomic::Ordering::Release);
                for finish in &mut finishes {
                    finish.written();
                }
                Outcome::Written
            }
            Err(e) => {
                tracing::error!("the database could not commit: {e}");
                let _ = conn.execute_batch("ROLLBACK");
                Outcome::Failed(e.into())
            }
        }
    };
    Some(Committed { finishes, outcome })
}

/// Runs each write of a group in the open transaction, a failed one rolled back alone.
/// Returns what to tell each caller, and whether the group's one write failed.
fn run_group(conn: &Connection, group: Vec<Job>) -> (Vec<Box<dyn Finish>>, bool) {
    let mut finishes = Vec::with_capacity(group.len());
    // A write alone in its group needs no savepoint: if it fails, nothing else is lost
    // by rolling the whole transaction back.
    let alone = group.len() == 1;
    let mut failed_alone = false;
    for job in group {
        if !alone {
            let _ = conn.execute_batch("SAVEPOINT job");
        }
        let (ok, finish) = job.run(conn);
        if alone {
            failed_alone = !ok;
        } else if ok {
            let _ = conn.execute_batch("RELEASE job");
        } else {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
        }
        finishes.push(finish);
    }
    (finishes, failed_alone)
}

/// A group the writer is done with, for the sync thread.
struct Committed {
    /// Whom to tell, in the order the writes ran.
    finishes: Vec<Box<dyn Finish>>,
    /// Whether there is anything to sync, and what to tell.
    outcome: Outcome,
}

/// What became of a group's transaction.
enum Outcome {
    /// Committed: on the disk once the WAL is synced.
    Written,
    /// Rolled back (its one write failed): nothing to sync.
    NothingWritten,
    /// The commit failed.
    Failed(StoreError),
}

/// The sync thread: syncs the WAL once for every group committed since the last sync, then
/// tells their callers, in the order the groups committed.
fn sync_loop(mut wal: Wal, groups: std_mpsc::Receiver<Committed>) {
    while let Ok(first) = groups.recv() {
        let mut ready = vec![first];
        ready.extend(groups.try_iter());
        let synced = if ready.iter().any(|g| matches!(g.outcome, Outcome::Written)) {
            wal.sync()
        } else {
            Ok(())
        };
        for group in ready {
            let result = match group.outcome {
                Outcome::Written => synced.clone(),
                Outcome::NothingWritten => Ok(()),
                Outcome::Failed(e) => Err(e),
            };
            for finish in group.finishes {
                finish.durable(result.clone());
            }
        }
    }
}

/// The WAL file, synced by hand after each commit: SQLite's own sync (`synchronous=FULL`)
/// would come before the commit returns, and so before the writes' early callers hear.
struct Wal {
    /// `<database>-wal`, opened by hand to sync it.
    path: PathBuf,
    /// Opened at the first sync; SQLite keeps the file while any connection is open.
    file: Option<std::fs::File>,
}

impl Wal {
    fn new(path: PathBuf) -> Wal {
        Wal { path, file: None }
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        let mut tried = 0;
        loop {
            let synced = match &self.file {
                Some(file) => file.sync_data(),
                // Writable: Windows flushes only through a handle opened for writing.
                None => std::fs::OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .and_then(|file| file.sync_data().map(|()| self.file = Some(file))),
            };
            match synced {
                Ok(()) => return Ok(()),
                // A handle from before the file was replaced is opened again, once.
                Err(_) if tried == 0 => {
                    self.file = None;
                    tried += 1;
                }
                Err(e) => {
                    tracing::error!("the database's log could not be synced: {e}");
                    return Err(StoreError::Sqlite(format!("cannot sync the database: {e}")));
                }
            }
        }
    }
}
