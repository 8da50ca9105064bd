//! Opening the database file: owner-only permissions, the checks and schema steps on
//! opening, and the mark that tells whether the machine stopped with it open.

use super::schema::{NEW_EPOCHS, migrate};
use rusqlite::{Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// Makes the database file (if new) and its log and shared-memory files (if there) readable
/// by their owner only: SQLite gives new ones the database file's permissions, so a new
/// database is created owner-only before SQLite opens it. (Elsewhere than Unix the profile
/// folder's own access rights protect them.)
pub(super) fn owner_only(path: &Path) -> std::io::Result<()> {
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
pub(super) fn open_checked(path: &Path) -> rusqlite::Result<Connection> {
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

/// Records that the database is open in this boot of the machine. If it was left open in
/// another boot (or one that cannot be told apart), the machine stopped with lanchat running:
/// messages a host let out before their sync may be gone, and their ids may be given again,
/// so every hosted room starts a new epoch. Returns a note for the user if so.
pub(super) fn mark_open(conn: &Connection) -> rusqlite::Result<Option<String>> {
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
pub(super) fn boot_id() -> Option<String> {
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
