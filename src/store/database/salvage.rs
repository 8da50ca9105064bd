//! A damaged database: told apart from other failures, moved aside, and what can still be
//! read from it copied into a fresh one.

use super::StoreError;
use super::schema::NEW_EPOCHS;
use rusqlite::{Connection, ErrorCode};
use std::path::{Path, PathBuf};

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

/// Whether an error means the file is damaged (as opposed to, say, unwritable).
pub(super) fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// Moves a damaged database (and its WAL and index) aside; returns where it went.
pub(super) fn quarantine(path: &Path) -> Result<PathBuf, StoreError> {
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
pub(super) fn salvage(damaged: &Path, into: &Connection) -> String {
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
