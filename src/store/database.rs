//! The profile's database, `lanchat.db` (SQLite, compiled in): the histories of the rooms
//! this profile hosts, what it has seen of the rooms it is in, and its outbox. One writer
//! thread owns every write and commits them in groups (a burst of posts costs one sync, not
//! one each); readers use connections of their own, which WAL lets run beside the writer.
//!
//! Durability (see GUARANTEES.md): WAL; the writer commits a group, then syncs the WAL itself,
//! and each write's callback runs only after that sync. A write may also ask to hear of its
//! commit before the sync (`submit_early`: a host sends a message to its room then, and
//! acknowledges it to its sender after the sync): that much survives lanchat crashing, and a
//! machine that stopped with the database open gets its hosted rooms new epochs at the next
//! start. A database that is damaged at start is moved aside and what can still be read from
//! it is copied into a fresh one.
//!
//! Checkpoints (copying the WAL back into the main file, and syncing it) take milliseconds;
//! SQLite would run them inside whichever commit finds the WAL long, holding up the posts of
//! that group. So a thread of its own checkpoints, once a second after writes, without
//! blocking the writer (`PASSIVE`); the writer only does when the WAL grew very long.

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

/// The schema, one step per version: `PRAGMA user_version` says how many have run. A new
/// version appends a step; a step is never changed once released.
const MIGRATIONS: &[&str] = &[
    // 1: hosted rooms' histories, the member's record of what it has seen, the outbox.
    "CREATE TABLE hosted (
        room TEXT PRIMARY KEY,
        -- Random, new whenever this room's history starts over (a damaged database): members
        -- that knew another epoch fetch the history afresh instead of skipping ids.
        epoch INTEGER NOT NULL
    );
    CREATE TABLE messages (
        room TEXT NOT NULL,
        id INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        sender TEXT NOT NULL,
        device TEXT NOT NULL,
        text TEXT NOT NULL,
        -- The shared file's reference as JSON, if any.
        file TEXT,
        -- The sender's number for the post (unique per device): a resent post is found by it.
        seq INTEGER,
        PRIMARY KEY (room, id)
    );
    CREATE UNIQUE INDEX messages_by_post ON messages (room, device, seq) WHERE seq IS NOT NULL;
    CREATE TABLE seen (
        room TEXT PRIMARY KEY,
        epoch INTEGER NOT NULL,
        last_id INTEGER NOT NULL
    );
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        room TEXT NOT NULL,
        text TEXT NOT NULL,
        created INTEGER NOT NULL
    );",
    // 2: the member's side: the rooms it is in, the messages it has seen, an ordered outbox.
    "DROP TABLE outbox;
    CREATE TABLE outbox (
        -- Order of writing: posts are sent again in this order.
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        seq INTEGER NOT NULL UNIQUE,
        room TEXT NOT NULL,
        text TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE TABLE joined (
        room TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        host TEXT NOT NULL,
        -- Where the room was last reached, as JSON: tried at start before discovery finds it.
        addrs TEXT NOT NULL
    );
    CREATE TABLE received (
        room TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        id INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        sender TEXT NOT NULL,
        device TEXT NOT NULL,
        text TEXT NOT NULL,
        file TEXT,
        PRIMARY KEY (room, epoch, id)
    );",
    // 3: facts about the database itself.
    "CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        -- 'open_on_boot': the boot the database is open in, removed when it is closed
        -- cleanly. Found at start with another boot, the machine went down with lanchat:
        -- writes shown before their sync may be lost.
        value TEXT NOT NULL
    );",
    // 4: direct messages, both sides of each conversation (see store::directs).
    "CREATE TABLE directs (
        peer TEXT NOT NULL,
        outgoing INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        peer_name TEXT NOT NULL,
        ts INTEGER NOT NULL,
        text TEXT NOT NULL,
        room TEXT NOT NULL,
        -- Ours: 'sending', 'delivered' or 'failed' (with why); theirs: 'delivered'.
        state TEXT NOT NULL,
        why TEXT,
        PRIMARY KEY (peer, outgoing, seq)
    );",
    // 5: full-text search of the rooms' messages (see store::search): an FTS5 index of the
    // text of `messages` and of `received`, which holds no text of its own (it reads the
    // rows by rowid). Words are folded in case and accents ("cafe" finds "Café"). A row
    // written is only queued by its trigger (`…_unindexed`), and the queue is indexed at the
    // end of each group of writes (INDEX_QUEUED): FTS5 writes out what it holds at every
    // savepoint, and the writer takes one per write, so indexing each row as it goes in
    // would write the index once per post. A row deleted or changed leaves the index at
    // once (the text it was indexed with is at hand only then). What is there already is
    // indexed once ('rebuild'). The rowids of these tables are implicit: a VACUUM may
    // renumber them, and would have to be followed by a 'rebuild' of both indexes.
    "CREATE VIRTUAL TABLE messages_fts USING fts5(
        text, content='messages', content_rowid='rowid',
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TABLE messages_unindexed (row INTEGER PRIMARY KEY);
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_unindexed (row) VALUES (new.rowid);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text)
            SELECT 'delete', old.rowid, old.text
            WHERE NOT EXISTS (SELECT 1 FROM messages_unindexed WHERE row = old.rowid);
        DELETE FROM messages_unindexed WHERE row = old.rowid;
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text)
            SELECT 'delete', old.rowid, old.text
            WHERE NOT EXISTS (SELECT 1 FROM messages_unindexed WHERE row = old.rowid);
        INSERT OR IGNORE INTO messages_unindexed (row) VALUES (new.rowid);
    END;
    INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
    CREATE VIRTUAL TABLE received_fts USING fts5(
        text, content='received', content_rowid='rowid',
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TABLE received_unindexed (row INTEGER PRIMARY KEY);
    CREATE TRIGGER received_fts_insert AFTER INSERT ON received BEGIN
        INSERT INTO received_unindexed (row) VALUES (new.rowid);
    END;
    CREATE TRIGGER received_fts_delete AFTER DELETE ON received BEGIN
        INSERT INTO received_fts (received_fts, rowid, text)
            SELECT 'delete', old.rowid, old.text
            WHERE NOT EXISTS (SELECT 1 FROM received_unindexed WHERE row = old.rowid);
        DELETE FROM received_unindexed WHERE row = old.rowid;
    END;
    CREATE TRIGGER received_fts_update AFTER UPDATE OF text ON received BEGIN
        INSERT INTO received_fts (received_fts, rowid, text)
            SELECT 'delete', old.rowid, old.text
            WHERE NOT EXISTS (SELECT 1 FROM received_unindexed WHERE row = old.rowid);
        INSERT OR IGNORE INTO received_unindexed (row) VALUES (new.rowid);
    END;
    INSERT INTO received_fts (received_fts) VALUES ('rebuild');",
    // 6: the name a direct message's sender gave inside it, where it differs from the name
    // its key has here (see store::directs): shown as a warning, never as the sender.
    "ALTER TABLE directs ADD COLUMN claimed TEXT;",
];

/// Indexes the rows written since the last time for search (see schema step 5), in a
/// savepoint of its own: a failure leaves them queued for the next time, not half indexed.
const INDEX_QUEUED: &str = "SAVEPOINT search_index;
    INSERT INTO messages_fts (rowid, text)
        SELECT m.rowid, m.text FROM messages_unindexed q JOIN messages m ON m.rowid = q.row;
    DELETE FROM messages_unindexed;
    INSERT INTO received_fts (rowid, text)
        SELECT r.rowid, r.text FROM received_unindexed q JOIN received r ON r.rowid = q.row;
    DELETE FROM received_unindexed;
    RELEASE search_index;";

/// Indexes what is queued for search; on failure (said in the log: search misses those rows
/// until the next group of writes tries again) nothing of it is kept.
fn index_queued(conn: &Connection) {
    if let Err(e) = conn.execute_batch(INDEX_QUEUED) {
        tracing::warn!("the search index could not take in new messages: {e}");
        let _ = conn.execute_batch("ROLLBACK TO search_index; RELEASE search_index");
    }
}

/// Gives every hosted room a new epoch: members drop the ids they knew, which the host may
/// give again.
const NEW_EPOCHS: &str = "UPDATE hosted SET epoch = abs(random()) % 9007199254740992";

/// The tables a damaged database is salvaged from, with their columns. The search indexes
/// are not among them: the rows copied are indexed afresh.
const TABLES: &[(&str, &str)] = &[
    ("hosted", "room, epoch"),
    ("messages", "room, id, ts, sender, device, text, file, seq"),
    ("seen", "room, epoch, last_id"),
    ("outbox", "n, seq, room, text, created"),
    ("joined", "room, name, host, addrs"),
    (
        "received",
        "room, epoch, id, ts, sender, device, text, file",
    ),
    (
        "directs",
        "peer, outgoing, seq, peer_name, ts, text, room, state, why",
    ),
];

/// Most writes committed together.
const GROUP: usize = 4096;
/// How often the checkpoint thread looks whether there was anything written.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Sqlite(String),
    #[error("the database is closed")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e.to_string())
    }
}

/// What a write's caller hears: first that its commit is written (to the WAL, not yet
/// synced), then whether it is on the disk.
trait Finish: Send {
    /// The group is committed: readers (and a crash of this process) see it.
    fn written(&mut self) {}
    /// The group is on the disk (or failed to get there, or to commit at all).
    fn durable(self: Box<Self>, result: Result<(), StoreError>);
}
/// A queued write.
type Job = Box<dyn Write>;

/// A write and the caller waiting on it.
trait Write: Send {
    /// Runs inside the group's transaction; says whether it succeeded and what to tell once
    /// the group is committed and synced.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Box<dyn Finish>);
    /// Tells the caller the write will not run.
    fn refuse(self: Box<Self>, e: StoreError);
}

/// Told as soon as a write's commit is written, before the sync (see [`Database::submit_early`]).
type Early<T> = Box<dyn FnOnce(&T) + Send>;

struct Pending<T, W, D> {
    work: W,
    early: Option<Early<T>>,
    done: D,
}

/// A write that ran: its outcome, for whom to tell.
struct Ran<T, D> {
    outcome: Result<T, StoreError>,
    early: Option<Early<T>>,
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

/// A handle on the profile's database; clones share it. The writer thread ends once the last
/// handle is gone and everything queued is committed.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// Writes for the writer thread, in order. Dropped with the last handle, which lets the
    /// thread commit what is queued and end.
    jobs: std_mpsc::Sender<Job>,
    /// Read connections not in use, so a read does not open the file each time.
    readers: Mutex<Vec<Connection>>,
    /// Dropped with the last handle, which ends the checkpoint thread (after a last one).
    _checkpoints: std_mpsc::Sender<()>,
    /// The writer and checkpoint threads, for [`Database::close`] to wait for.
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Database").field(&self.inner.path).finish()
    }
}

impl Database {
    /// Opens (or creates) the database at `path` and starts its writer. Blocking. A damaged
    /// database is moved aside and salvaged; the returned warnings say so, for the user.
    pub fn open(path: &Path) -> Result<(Database, Vec<String>), StoreError> {
        if let Some(dir) = path.parent() {
            super::paths::private_dir(dir)
                .map_err(|e| StoreError::Sqlite(format!("cannot create {}: {e}", dir.display())))?;
        }
        owner_only(path)
            .map_err(|e| StoreError::Sqlite(format!("cannot protect {}: {e}", path.display())))?;
        let mut warnings = Vec::new();
        let conn = match open_checked(path) {
            Ok(conn) => conn,
            Err(e) if is_damage(&e) => {
                let kept = quarantine(path)?;
                owner_only(path).map_err(|e| StoreError::Sqlite(e.to_string()))?;
                let conn = open_checked(path)?;
                let saved = salvage(&kept, &conn);
                warnings.push(format!(
                    "lanchat's database was damaged ({e}). {saved} The damaged file is kept as {}.",
                    kept.display()
                ));
                conn
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(warning) = mark_open(&conn)? {
            warnings.push(warning);
        }
        // What a salvage copied (or a failed indexing left queued) is searchable from the start.
        index_queued(&conn);
        // The writer syncs the WAL itself, after each commit (see `write_loop`). It leaves
        // checkpoints to the thread below, but for a backstop: a WAL that a flood kept the
        // passive checkpoints from finishing is checkpointed in a commit once it passes
        // about 40 MB.
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 10000")?;
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (tx, rx) = std_mpsc::channel::<Job>();
        let commits = written.clone();
        let writer = std::thread::Builder::new()
            .name("lanchat-db".into())
            .spawn(move || write_loop(conn, wal, rx, &commits))
            .map_err(|e| StoreError::Sqlite(format!("cannot start the database writer: {e}")))?;
        let (stop, stopped) = std_mpsc::channel();
        let checkpointer = Connection::open(path)?;
        checkpointer.execute_batch("PRAGMA synchronous = FULL")?;
        let checkpoints = std::thread::Builder::new()
            .name("lanchat-db-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, stopped, &written))
            .map_err(|e| StoreError::Sqlite(format!("cannot start the checkpoints: {e}")))?;
        let db = Database {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                jobs: tx,
                readers: Mutex::default(),
                _checkpoints: stop,
                threads: vec![writer, checkpoints],
            }),
        };
        Ok((db, warnings))
    }

    /// Queues a write; `done` hears its result once it is committed (on the writer thread:
    /// it must not block). A write that fails is rolled back alone; the others in its group
    /// still commit.
    pub fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        done: impl FnOnce(Result<T, StoreError>) + Send + 'static,
    ) {
        self.queue(Box::new(Pending {
            work,
            early: None,
            done,
        }));
    }

    /// As [`Database::submit`], and `written` hears a write that succeeded as soon as its
    /// commit is written, before the sync that `done` waits for. What `written` lets out
    /// survives a crash of lanchat, not of the machine: see [`Database::open`] for how a
    /// host's history is kept honest after that.
    pub fn submit_early<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        written: impl FnOnce(&T) + Send + 'static,
        done: impl FnOnce(Result<T, StoreError>) + Send + 'static,
    ) {
        self.queue(Box::new(Pending {
            work,
            early: Some(Box::new(written)),
            done,
        }));
    }

    fn queue(&self, job: Job) {
        // The writer only stops early if it panicked: say so without running the work.
        if let Err(refused) = self.inner.jobs.send(job) {
            refused.0.refuse(StoreError::Closed);
        }
    }

    /// A write, awaited until committed.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(work, move |result| {
            let _ = tx.send(result);
        });
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// A write, waited for on this thread (not from async code).
    pub fn write_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std_mpsc::channel();
        self.submit(work, move |result| {
            let _ = tx.send(result);
        });
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Waits until every write queued before it is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.write(|_| Ok(())).await
    }

    /// Marks the database closed cleanly and lets go of this handle. If it was the last,
    /// waits (blocking) until everything queued is committed, the last checkpoint is done and
    /// every connection is closed, so the file may be copied or opened by another process at
    /// once.
    pub fn close(self) {
        // Closed cleanly, whatever other handles are still about (a session ending late):
        // what they write after this is synced before it is acknowledged all the same.
        if let Err(e) =
            self.write_blocking(|c| c.execute("DELETE FROM meta WHERE key = 'open_on_boot'", []))
        {
            tracing::warn!("the database could not be marked closed: {e}");
        }
        let Ok(inner) = Arc::try_unwrap(self.inner) else {
            return;
        };
        let Inner {
            jobs,
            readers,
            _checkpoints,
            threads,
            ..
        } = inner;
        drop((jobs, readers, _checkpoints));
        for thread in threads {
            if thread.join().is_err() {
                tracing::warn!("a database thread panicked");
            }
        }
    }

    /// Reads on this thread, with a connection of the pool (not from async code).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let pooled = self.inner.readers.lock().expect("reader pool").pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.inner.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                conn
            }
        };
        let result = f(&conn);
        let mut pool = self.inner.readers.lock().expect("reader pool");
        if pool.len() < 4 {
            pool.push(conn);
        }
        Ok(result?)
    }

    /// Reads off the async threads.
    pub async fn read_async<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read(f))
            .await
            .unwrap_or_else(|e| Err(StoreError::Sqlite(e.to_string())))
    }
}

/// Makes the database file (if new) and its log and shared-memory files (if there) readable
/// by their owner only: SQLite gives new ones the database file's permissions, so a new
/// database is created owner-only before SQLite opens it. (Elsewhere than Unix the profile
/// folder's own access rights protect them.)
fn owner_only(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::metadata(&file) {
                Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Opens the database, sets it up for durability and brings its schema up to date; fails
/// on a damaged file.
fn open_checked(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!("the database is in {mode} mode, not WAL");
    }
    conn.execute_batch("PRAGMA synchronous = FULL")?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(check),
        ));
    }
    migrate(&mut conn)?;
    Ok(conn)
}

/// Runs the schema steps this database has not had yet, each in its own transaction.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "the database was written by a newer lanchat (schema {version}, this one knows {known})"
            )),
        ));
    }
    for (done, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", done as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Records that the database is open in this boot of the machine. If it was left open in
/// another boot (or one that cannot be told apart), the machine stopped with lanchat running:
/// messages a host let out before their sync may be gone, and their ids may be given again,
/// so every hosted room starts a new epoch. Returns a note for the user if so.
fn mark_open(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let boot = boot_id().unwrap_or_default();
    let left: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'open_on_boot'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let renewed = match left {
        Some(left) if boot.is_empty() || left != boot => conn.execute(NEW_EPOCHS, [])?,
        _ => 0,
    };
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('open_on_boot', ?1)
         ON CONFLICT (key) DO UPDATE SET value = ?1",
        [&boot],
    )?;
    Ok((renewed > 0).then(|| {
        tracing::warn!("lanchat did not close last time: {renewed} hosted rooms start a new epoch");
        format!(
            "lanchat did not close properly last time. Members of the {renewed} rooms you host \
             will load their history again."
        )
    }))
}

/// Tells this boot of the machine from others, where the system says: Linux's boot id.
/// Elsewhere `None`, and any unclean stop counts as one the machine may not have survived.
fn boot_id() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|id| id.trim().to_owned())
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Whether an error means the file is damaged (as opposed to, say, unwritable).
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// Moves a damaged database (and its WAL and index) aside; returns where it went.
fn quarantine(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("lanchat.db");
    let kept = path.with_file_name(format!("{name}.damaged-{stamp}"));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        let to = PathBuf::from(format!("{}{suffix}", kept.display()));
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::Sqlite(format!(
                    "the database is damaged and cannot be moved aside: {e}"
                )));
            }
        }
    }
    Ok(kept)
}

/// Copies every row that can still be read from a damaged database into `into`, table by
/// table, stepping over what cannot be read. Gives every hosted room a new epoch (its newest
/// messages may be lost, and their ids must not be taken for new ones by members). Returns a
/// sentence saying what was kept.
fn salvage(damaged: &Path, into: &Connection) -> String {
    let Ok(from) = Connection::open(damaged) else {
        return "Nothing could be read from it.".into();
    };
    let mut kept = 0u64;
    let mut lost = false;
    for (table, columns) in TABLES {
        let (rows, whole) = copy_table(&from, into, table, columns);
        kept += rows;
        lost |= !whole;
    }
    let _ = into.execute(NEW_EPOCHS, []);
    match (kept, lost) {
        (0, _) => "Nothing could be read from it.".into(),
        (n, true) => format!("{n} records were recovered; some could not be read."),
        (n, false) => format!("All {n} records were recovered."),
    }
}

/// Copies one table's readable rows, a batch at a time by rowid, stepping one row at a
/// time over damage. Returns the rows copied and whether none were lost.
fn copy_table(from: &Connection, into: &Connection, table: &str, columns: &str) -> (u64, bool) {
    let width = columns.split(',').count();
    let marks = vec!["?"; width].join(", ");
    let insert = format!("INSERT OR IGNORE INTO {table} ({columns}) VALUES ({marks})");
    let batch =
        format!("SELECT rowid, {columns} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT 256");
    let single = format!("SELECT rowid, {columns} FROM {table} WHERE rowid = ?1");
    let Ok(last) = from.query_row(&format!("SELECT max(rowid) FROM {table}"), [], |r| {
        r.get::<_, Option<i64>>(0)
    }) else {
        return (0, false);
    };
    let Some(last) = last else {
        return (0, true);
    };
    let mut copied = 0u64;
    let mut whole = true;
    let mut after = i64::MIN;
    let copy_row = |row: &rusqlite::Row| -> rusqlite::Result<i64> {
        let rowid: i64 = row.get(0)?;
        let values: Vec<rusqlite::types::Value> =
            (1..=width).map(|i| row.get(i)).collect::<Result<_, _>>()?;
        into.execute(&insert, rusqlite::params_from_iter(values))?;
        Ok(rowid)
    };
    while after < last {
        let read = (|| -> rusqlite::Result<Option<i64>> {
            let mut stmt = from.prepare(&batch)?;
            let mut rows = stmt.query([after])?;
            let mut newest = None;
            while let Some(row) = rows.next()? {
                newest = Some(copy_row(row)?);
                copied += 1;
                after = newest.unwrap_or(after);
            }
            Ok(newest)
        })();
        match read {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                // Step over the damage one rowid at a time, for a while.
                whole = false;
                let start = after.saturating_add(1);
                for rowid in start..start.saturating_add(4096).min(last.saturating_add(1)) {
                    after = rowid;
                    if let Ok(Ok(_)) = from.query_row(&single, [rowid], |row| Ok(copy_row(row))) {
                        copied += 1;
                    }
                }
            }
        }
    }
    (copied, whole)
}

/// Copies the WAL into the main file once a second after writes (`commits` counts them),
/// beside the writer; a last time when the database is closed.
fn checkpoint_loop(
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
fn write_loop(
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
        let mut finishes = Vec::with_capacity(group.len());
        let begun = conn.execute_batch("BEGIN IMMEDIATE");
        if let Err(e) = begun {
            let e = StoreError::from(e);
            for job in group {
                job.refuse(e.clone());
            }
            continue;
        }
        // A write alone in its group needs no savepoint: if it fails, nothing else is lost
        // by rolling the whole transaction back.
        let alone = group.len() == 1;
        let mut failed_alone = false;
        for job in group {
            if !alone {
                let _ = conn.execute_batch("SAVEPOINT job");
            }
            let (ok, finish) = job.run(&conn);
            if alone {
                failed_alone = !ok;
            } else if ok {
                let _ = conn.execute_batch("RELEASE job");
            } else {
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            }
            finishes.push(finish);
        }
        let outcome = if failed_alone {
            let _ = conn.execute_batch("ROLLBACK");
            Outcome::NothingWritten // its own error is what it reports
        } else {
            index_queued(&conn);
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
        // The sync thread ends only after this one.
        let _ = to_sync.send(Committed { finishes, outcome });
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

/// A group the writer is done with, for the sync thread.
struct Committed {
    finishes: Vec<Box<dyn Finish>>,
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

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn the_database_and_its_log_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("data").join("lanchat.db");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let (db, _) = Database::open(&path).unwrap();
        db.write_blocking(|c| c.execute("CREATE TABLE t (x)", []))
            .unwrap();
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        db.close();
        // One an older lanchat left readable to everyone is closed to them when opened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (db, _) = Database::open(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        db.close();
    }

    use super::*;

    fn count(db: &Database, table: &str) -> i64 {
        db.read(|c| c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)))
            .unwrap()
    }

    #[test]
    fn writes_commit_and_a_failed_one_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (db, warnings) = Database::open(&dir.path().join("lanchat.db")).unwrap();
        assert!(warnings.is_empty());
        let (tx, rx) = std_mpsc::channel();
        for i in 0..100i64 {
            let tx = tx.clone();
            db.submit(
                move |c| {
                    c.execute(
                        "INSERT INTO outbox (seq, room, text, created) VALUES (?1, 'r', 'hi', 0)",
                        [i % 90], // the last ten collide with earlier ones
                    )
                },
                move |r| tx.send(r.is_ok()).unwrap(),
            );
        }
        let results: Vec<bool> = rx.iter().take(100).collect();
        assert_eq!(results.iter().filter(|ok| **ok).count(), 90);
        assert!(results[..90].iter().all(|ok| *ok) && results[90..].iter().all(|ok| !ok));
        assert_eq!(count(&db, "outbox"), 90);
    }

    #[test]
    fn an_early_caller_hears_of_the_commit_then_of_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Database::open(&dir.path().join("lanchat.db")).unwrap();
        let (tx, rx) = std_mpsc::channel();
        for i in [1i64, 1, 2] {
            let (early, late) = (tx.clone(), tx.clone());
            db.submit_early(
                move |c| {
                    c.execute(
                        "INSERT INTO outbox (seq, room, text, created) VALUES (?1, 'r', 'hi', 0)",
                        [i],
                    )
                },
                move |rows| early.send(format!("written {i} {rows}")).unwrap(),
                move |r| late.send(format!("durable {i} {}", r.is_ok())).unwrap(),
            );
        }
        drop(tx);
        let heard: Vec<String> = rx.iter().collect();
        // Grouped or not, each write is heard early before it is heard durable, the failed
        // one only as failed, and each group's early ones before any of its durable ones.
        let at = |s: &str| {
            heard
                .iter()
                .position(|h| h == s)
                .unwrap_or_else(|| panic!("{s}: {heard:?}"))
        };
        assert!(at("written 1 1") < at("durable 1 true"), "{heard:?}");
        assert!(at("written 2 1") < at("durable 2 true"), "{heard:?}");
        assert!(heard.contains(&"durable 1 false".to_owned()), "{heard:?}");
        assert_eq!(heard.len(), 5, "{heard:?}");
    }

    /// The database left as if the machine had stopped while it was open, in boot `boot`.
    fn left_open_in(path: &Path, boot: &str) {
        let c = Connection::open(path).unwrap();
        c.execute(
            "INSERT INTO meta (key, value) VALUES ('open_on_boot', ?1)
             ON CONFLICT (key) DO UPDATE SET value = ?1",
            [boot],
        )
        .unwrap();
    }

    fn epoch(db: &Database) -> i64 {
        db.read(|c| {
            c.query_row("SELECT epoch FROM hosted WHERE room = 'r'", [], |r| {
                r.get(0)
            })
        })
        .unwrap()
    }

    #[test]
    fn hosted_rooms_start_a_new_epoch_only_after_the_machine_stopped_with_lanchat_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanchat.db");
        let (db, _) = Database::open(&path).unwrap();
        db.write_blocking(|c| c.execute("INSERT INTO hosted (room, epoch) VALUES ('r', 7)", []))
            .unwrap();
        db.close();

        let (db, warnings) = Database::open(&path).unwrap();
        assert!(warnings.is_empty(), "closed cleanly: {warnings:?}");
        assert_eq!(epoch(&db), 7);
        db.close();

        left_open_in(&path, "a boot long gone");
        let (db, warnings) = Database::open(&path).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("did not close properly"),
            "{warnings:?}"
        );
        let renewed = epoch(&db);
        assert_ne!(renewed, 7);
        db.close();

        // Closed while another handle lives on (a session ending late): still clean.
        let (db, _) = Database::open(&path).unwrap();
        let late = db.clone();
        db.close();
        let marked: Option<String> = Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT value FROM meta WHERE key = 'open_on_boot'",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap();
        assert_eq!(marked, None, "marked closed at once");
        late.close();

        // Only lanchat stopped (killed, crashed): what it wrote is in the system's cache.
        if let Some(boot) = boot_id() {
            left_open_in(&path, &boot);
            let (db, warnings) = Database::open(&path).unwrap();
            assert!(warnings.is_empty(), "{warnings:?}");
            assert_eq!(epoch(&db), renewed);
        }
    }

    #[test]
    fn fts5_is_compiled_in() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Database::open(&dir.path().join("lanchat.db")).unwrap();
        db.write_blocking(|c| c.execute_batch("CREATE VIRTUAL TABLE t USING fts5(body)"))
            .unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused_not_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanchat.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let Err(e) = Database::open(&path) else {
            panic!("a newer schema opened")
        };
        assert!(e.to_string().contains("newer lanchat"), "{e}");
        assert!(path.exists(), "the newer database is left alone");
    }

    #[test]
    fn garbage_is_moved_aside_and_a_fresh_database_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanchat.db");
        std::fs::write(&path, vec![0x5a; 10_000]).unwrap();
        let (db, warnings) = Database::open(&path).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("damaged"), "{warnings:?}");
        assert_eq!(count(&db, "messages"), 0);
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(std::fs::read(aside[0].path()).unwrap(), vec![0x5a; 10_000]);
    }

    #[test]
    fn a_damaged_page_costs_only_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanchat.db");
        {
            let (db, _) = Database::open(&path).unwrap();
            db.write_blocking(|c| {
                c.execute("INSERT INTO hosted (room, epoch) VALUES ('r', 7)", [])?;
                for id in 0..5000i64 {
                    c.execute(
                        "INSERT INTO messages (room, id, ts, sender, device, text) VALUES ('r', ?1, 0, 'Ada', 'd', ?2)",
                        rusqlite::params![id, format!("message {id} {}", "x".repeat(100))],
                    )?;
                }
                Ok(())
            })
            .unwrap();
            db.close();
        }
        // Let the WAL reach the main file, then scribble over a page in the middle.
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        // The page holding one message's text: a page of the messages table itself.
        let mut bytes = std::fs::read(&path).unwrap();
        let text = b"message 2500 x";
        let at = bytes.windows(text.len()).position(|w| w == text).unwrap();
        let page = at / 4096 * 4096;
        bytes[page..page + 4096].fill(0xa5);
        std::fs::write(&path, bytes).unwrap();

        let (db, warnings) = Database::open(&path).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let kept = count(&db, "messages");
        assert!(kept > 4000 && kept < 5000, "kept {kept} of 5000");
        let epoch: i64 = db
            .read(|c| {
                c.query_row("SELECT epoch FROM hosted WHERE room = 'r'", [], |r| {
                    r.get(0)
                })
            })
            .unwrap();
        assert_ne!(epoch, 7, "the room's history starts a new epoch");
        // The search index holds what was kept, and only that.
        assert_eq!(indexed(&db, "messages", "message"), kept);
        index_agrees(&db);
    }

    /// How many rows of `table` the search index finds `word` in.
    fn indexed(db: &Database, table: &str, word: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}_fts WHERE {table}_fts MATCH ?1");
        let word = word.to_owned();
        db.read(move |c| c.query_row(&sql, [word], |r| r.get(0)))
            .unwrap()
    }

    /// FTS5's own check that each index agrees with its table, row for row.
    fn index_agrees(db: &Database) {
        db.write_blocking(|c| {
            for table in ["messages", "received"] {
                c.execute(
                    &format!(
                        "INSERT INTO {table}_fts ({table}_fts, rank) VALUES ('integrity-check', 1)"
                    ),
                    [],
                )?;
            }
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn the_search_index_takes_in_what_an_older_database_holds_and_follows_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanchat.db");
        {
            // A database as the lanchat before search left it.
            let c = Connection::open(&path).unwrap();
            for step in &MIGRATIONS[..4] {
                c.execute_batch(step).unwrap();
            }
            c.pragma_update(None, "user_version", 4).unwrap();
            c.execute_batch(
                "INSERT INTO messages (room, id, ts, sender, device, text) VALUES ('r', 0, 0, 'Ada', 'd', 'an old word');
                 INSERT INTO received (room, epoch, id, ts, sender, device, text) VALUES ('s', 1, 0, 0, 'Bob', 'e', 'old news');",
            )
            .unwrap();
        }
        let (db, _) = Database::open(&path).unwrap();
        assert_eq!(indexed(&db, "messages", "old"), 1);
        assert_eq!(indexed(&db, "received", "old"), 1);
        db.write_blocking(|c| {
            c.execute_batch(
                "UPDATE messages SET text = 'a new word' WHERE id = 0;
                 DELETE FROM received;",
            )
        })
        .unwrap();
        assert_eq!(indexed(&db, "messages", "old"), 0);
        assert_eq!(indexed(&db, "messages", "new"), 1);
        assert_eq!(indexed(&db, "received", "old"), 0);
        index_agrees(&db);

        // Rows written, changed and deleted in one group, before it indexed them; a rowid
        // given again after its row was deleted.
        db.write_blocking(|c| {
            c.execute_batch(
                "INSERT INTO received (room, epoch, id, ts, sender, device, text) VALUES ('s', 1, 1, 0, 'Bob', 'e', 'fresh');
                 INSERT INTO received (room, epoch, id, ts, sender, device, text) VALUES ('s', 1, 2, 0, 'Bob', 'e', 'gone soon');
                 UPDATE received SET text = 'fresher' WHERE id = 1;
                 DELETE FROM received WHERE id = 2;
                 INSERT INTO received (room, epoch, id, ts, sender, device, text) VALUES ('s', 1, 3, 0, 'Bob', 'e', 'again');",
            )
        })
        .unwrap();
        let found: Vec<i64> = ["fresh", "fresher", "gone", "again"]
            .iter()
            .map(|word| indexed(&db, "received", word))
            .collect();
        assert_eq!(found, [0, 1, 0, 1]);
        index_agrees(&db);
    }
}
