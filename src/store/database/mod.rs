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
//!
//! # Layout
//! - here: [`Database`], the handle: writes queued, reads on pooled connections, closing.
//! - `writer`: the writer, sync and checkpoint threads.
//! - `schema`: the schema's steps and the search index's upkeep.
//! - `opening`: the file's permissions, the checks on opening, the mark of an unclean stop.
//! - `salvage`: a damaged file moved aside and what can be read from it copied.

mod opening;
mod salvage;
mod schema;
mod writer;

use opening::{mark_open, open_checked, owner_only};
use rusqlite::{Connection, OpenFlags};
use salvage::{is_damage, quarantine, salvage};
use schema::index_queued;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use writer::{Job, Pending, checkpoint_loop, write_loop};

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

/// A handle on the profile's database; clones share it. The writer thread ends once the last
/// handle is gone and everything queued is committed.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    /// The database file, for the read connections opened as needed.
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

    use super::opening::boot_id;
    use super::*;
    use rusqlite::OptionalExtension;
    use schema::MIGRATIONS;

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
            for table in ["messages", "received", "directs"] {
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
                 INSERT INTO received (room, epoch, id, ts, sender, device, text) VALUES ('s', 1, 0, 0, 'Bob', 'e', 'old news');
                 INSERT INTO messages (room, id, ts, sender, device, text, file) VALUES ('r', 1, 0, 'Ada', 'd', '', '{\"hash\":\"h\",\"name\":\"plans.pdf\",\"size\":1}');
                 INSERT INTO received (room, epoch, id, ts, sender, device, text, file) VALUES ('s', 1, 1, 0, 'Bob', 'e', 'damaged', 'not json');
                 INSERT INTO directs (peer, outgoing, seq, peer_name, ts, text, room, state) VALUES ('p', 0, 1, 'Cy', 0, 'old secret', 's', 'delivered');",
            )
            .unwrap();
        }
        let (db, _) = Database::open(&path).unwrap();
        assert_eq!(indexed(&db, "messages", "old"), 1);
        assert_eq!(indexed(&db, "received", "old"), 1);
        assert_eq!(indexed(&db, "messages", "plans"), 1, "a file's name");
        assert_eq!(indexed(&db, "received", "damaged"), 1, "damaged file JSON");
        assert_eq!(indexed(&db, "directs", "secret"), 1);
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
        db.write_blocking(|c| {
            c.execute_batch("DELETE FROM directs; DELETE FROM messages WHERE id = 1;")
        })
        .unwrap();
        assert_eq!(indexed(&db, "directs", "secret"), 0);
        assert_eq!(indexed(&db, "messages", "plans"), 0);
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
