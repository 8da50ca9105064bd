//! The database's schema: its steps, one per version, and the search index's upkeep (rows
//! queued as they are written, indexed at the end of each group of writes).

use rusqlite::Connection;

/// A search index over `$columns` of table `$t` (step 5: `text`; step 7: a shared file's
/// name too), kept by triggers: rows written are queued in `$t_unindexed`; a row deleted,
/// or changed in `$changed`, leaves the index at once (`unindex_old!`, `$old` being the old
/// row's columns), unless it was still queued. What the table holds is indexed once
/// ('rebuild').
#[rustfmt::skip]
macro_rules! search_index {
    ($t:literal, $columns:literal, $old:literal, $changed:literal) => { concat!(
        "CREATE VIRTUAL TABLE ", $t, "_fts USING fts5(
            ", $columns, ", content='", $t, "', content_rowid='rowid',
            tokenize='unicode61 remove_diacritics 2'
        );
        CREATE TABLE ", $t, "_unindexed (row INTEGER PRIMARY KEY);
        CREATE TRIGGER ", $t, "_fts_insert AFTER INSERT ON ", $t, " BEGIN
            INSERT INTO ", $t, "_unindexed (row) VALUES (new.rowid);
        END;
        CREATE TRIGGER ", $t, "_fts_delete AFTER DELETE ON ", $t, " BEGIN ",
            unindex_old!($t, $columns, $old),
            "DELETE FROM ", $t, "_unindexed WHERE row = old.rowid;
        END;
        CREATE TRIGGER ", $t, "_fts_update AFTER UPDATE OF ", $changed, " ON ", $t, " BEGIN ",
            unindex_old!($t, $columns, $old),
            "INSERT OR IGNORE INTO ", $t, "_unindexed (row) VALUES (new.rowid);
        END;
        INSERT INTO ", $t, "_fts (", $t, "_fts) VALUES ('rebuild');
        "
    ) };
}

/// Takes a row's old `$columns` (`$old`) out of `$t`'s search index, if it was indexed
/// (not queued).
#[rustfmt::skip]
macro_rules! unindex_old {
    ($t:literal, $columns:literal, $old:literal) => { concat!(
        "INSERT INTO ", $t, "_fts (", $t, "_fts, rowid, ", $columns, ")
            SELECT 'delete', old.rowid, ", $old, "
            WHERE NOT EXISTS (SELECT 1 FROM ", $t, "_unindexed WHERE row = old.rowid);
        "
    ) };
}

/// Takes away step 5's search index of table `$t`: its index, queue and triggers.
#[rustfmt::skip]
macro_rules! drop_search_index {
    ($t:literal) => { concat!(
        "DROP TRIGGER ", $t, "_fts_insert;
        DROP TRIGGER ", $t, "_fts_delete;
        DROP TRIGGER ", $t, "_fts_update;
        DROP TABLE ", $t, "_fts;
        DROP TABLE ", $t, "_unindexed;
        "
    ) };
}

/// A shared file's name, read from a message's `file` (JSON; see `history::file_json`), as a
/// column of its own for the search index; NULL for a message without one (or a damaged one).
macro_rules! file_name_column {
    ($t:literal) => {
        concat!(
            "ALTER TABLE ",
            $t,
            " ADD COLUMN file_name TEXT GENERATED ALWAYS AS
                (CASE WHEN json_valid(file) THEN json_extract(file, '$.name') END) VIRTUAL;
            "
        )
    };
}

/// The schema, one step per version: `PRAGMA user_version` says how many have run. A new
/// version appends a step; a step is never changed once released.
pub(super) const MIGRATIONS: &[&str] = &[
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
    concat!(
        search_index!("messages", "text", "old.text", "text"),
        search_index!("received", "text", "old.text", "text"),
    ),
    // 6: the name a direct message's sender gave inside it, where it differs from the name
    // its key has here (see store::directs): shown as a warning, never as the sender.
    "ALTER TABLE directs ADD COLUMN claimed TEXT;",
    // 7: search finds shared files by name, and direct messages: the rooms' indexes cover
    // the name of a message's file as well (a column computed from `file`, stored nowhere),
    // and direct messages get an index of their own. Kept as step 5's are.
    concat!(
        file_name_column!("messages"),
        file_name_column!("received"),
        drop_search_index!("messages"),
        drop_search_index!("received"),
        search_index!(
            "messages",
            "text, file_name",
            "old.text, old.file_name",
            "text, file"
        ),
        search_index!(
            "received",
            "text, file_name",
            "old.text, old.file_name",
            "text, file"
        ),
        search_index!("directs", "text", "old.text", "text"),
    ),
];

/// Indexes the rows of table `$t` queued since the last time, its `$columns` (see
/// `search_index!`).
#[rustfmt::skip]
macro_rules! index_queued {
    ($t:literal, $columns:literal) => { concat!(
        "INSERT INTO ", $t, "_fts (rowid, ", $columns, ")
            SELECT rowid, ", $columns, " FROM ", $t, "
            WHERE rowid IN (SELECT row FROM ", $t, "_unindexed);
        DELETE FROM ", $t, "_unindexed;
        "
    ) };
}

/// Indexes the rows written since the last time for search (see schema steps 5 and 7), in a
/// savepoint of its own: a failure leaves them queued for the next time, not half indexed.
const INDEX_QUEUED: &str = concat!(
    "SAVEPOINT search_index;",
    index_queued!("messages", "text, file_name"),
    index_queued!("received", "text, file_name"),
    index_queued!("directs", "text"),
    "RELEASE search_index;"
);

/// Indexes what is queued for search; on failure (said in the log: search misses those rows
/// until the next group of writes tries again) nothing of it is kept.
pub(super) fn index_queued(conn: &Connection) {
    if let Err(e) = conn.execute_batch(INDEX_QUEUED) {
        tracing::warn!("the search index could not take in new messages: {e}");
        let _ = conn.execute_batch("ROLLBACK TO search_index; RELEASE search_index");
    }
}

/// Gives every hosted room a new epoch: members drop the ids they knew, which the host may
/// give again.
pub(super) const NEW_EPOCHS: &str = "UPDATE hosted SET epoch = abs(random()) % 9007199254740992";

/// Runs the schema steps this database has not had yet, each in its own transaction.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
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
