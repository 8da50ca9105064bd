//! Storage benchmark: how fast a room's host stores a burst of posts durably (each one on
//! disk before it is acknowledged), against two baselines measured in the same run on the
//! same disk:
//! - **one transaction**: the 10,000 rows inserted by plain rusqlite in a single transaction
//!   and one sync — the most SQLite can do for this burst, and no post could be acknowledged
//!   before the end;
//! - **a sync per post**: the same rows, each in its own transaction — what acknowledging each
//!   post durably costs without grouping.
//!
//! lanchat's figure is the real path: `History::store` for each post (the room task's call),
//! the database's writer thread grouping what is waiting into one transaction, the completion
//! of each post after its group's commit. Run it with `cargo bench --bench store` (add
//! `-- --posts N`, 10,000 by default; `-- --dir PATH` to measure another disk than the
//! temporary folder's; `-- --words` for posts of about fifteen words rather than one long
//! one: the search index takes them word by word, and how long searching them takes is
//! measured too). Prints posts/s; asserts nothing.

use lanchat::protocol::{ChatMessage, DeviceId, RoomId};
use lanchat::store::{Database, History};
use rusqlite::{Connection, params};
use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let posts: usize = arg("--posts")
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let base = arg("--dir").map(std::path::PathBuf::from);
    let words = args.iter().any(|a| a == "--words");
    let _ = TEXT.set(if words { Text::Words } else { Text::Long });
    let dir = match &base {
        Some(base) => tempfile::tempdir_in(base).expect("a folder to measure in"),
        None => tempfile::tempdir().expect("a temporary folder"),
    };
    println!(
        "store: {posts} posts of 100 bytes ({}), in {}",
        if words { "words" } else { "one long word" },
        dir.path().display()
    );
    println!();
    println!("{:<36} | {:>12} | {:>10}", "how", "posts/s", "total");
    println!("{}", "-".repeat(64));
    let row = |how: &str, took: Duration| {
        let rate = posts as f64 / took.as_secs_f64();
        println!(
            "{how:<36} | {rate:>12.0} | {:>8.1} ms",
            took.as_secs_f64() * 1e3
        );
        rate
    };
    let plain = row(
        "one transaction (SQLite, baseline)",
        one_transaction(dir.path(), posts),
    );
    let grouped = row(
        "lanchat (each acked once on disk)",
        lanchat(dir.path(), posts),
    );
    let single = row(
        "a sync per post (baseline)",
        sync_per_post(dir.path(), posts),
    );
    println!();
    println!(
        "lanchat stores {:.0} % of the one-transaction rate and {:.1}× the sync-per-post rate (goal: ≥ 20,000 posts/s)",
        100.0 * grouped / plain,
        grouped / single
    );
    if words {
        search(dir.path(), posts);
    }
}

/// How long searching the posts lanchat stored takes (what the window waits for after a key),
/// for a word in most of them, one in few, and a prefix.
fn search(dir: &Path, posts: usize) {
    let (db, _) = Database::open(&dir.join("lanchat.db")).expect("lanchat's database");
    println!();
    println!(
        "{:<36} | {:>12} | {:>10}",
        "search of the posts", "hits", "took"
    );
    println!("{}", "-".repeat(64));
    for query in ["the", "projector remote", "proj", "t", "no such word"] {
        let start = Instant::now();
        let found =
            lanchat::store::search(&db, query, lanchat::store::MOST_HITS).expect("the search");
        let took = start.elapsed();
        let hits = format!("{}{}", found.hits.len(), if found.more { "+" } else { "" });
        println!(
            "{:<36} | {hits:>12} | {:>7.1} ms",
            format!("\"{query}\" ({posts} posts)"),
            took.as_secs_f64() * 1e3
        );
    }
    db.close();
}

/// What the posts say.
#[derive(Clone, Copy)]
enum Text {
    /// Their number and one long word.
    Long,
    /// Their number and about fifteen words.
    Words,
}

static TEXT: std::sync::OnceLock<Text> = std::sync::OnceLock::new();

fn message(id: u64) -> ChatMessage {
    let text = match TEXT.get().copied().unwrap_or(Text::Long) {
        Text::Long => format!("{id:>8} {}", "x".repeat(91)),
        Text::Words => {
            let words: Vec<&str> = WORDS.split_whitespace().collect();
            let mut text = format!("{id:>8}");
            let mut seed = (id + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            while text.len() < 100 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push(' ');
                text.push_str(words[(seed % words.len() as u64) as usize]);
            }
            text.truncate(100);
            text
        }
    };
    ChatMessage {
        id,
        ts: 1_800_000_000_000 + id as i64,
        from: "Ada".into(),
        device: DeviceId::parse("0123456789abcdef0123456789abcdef").expect("a device id"),
        text,
        file: None,
    }
}

/// The words [`Text::Words`] posts are made of, picked at random (repeats and all, as in talk).
const WORDS: &str = "the build is green again lunch at noon who has the key meeting moved to three \
    can you review my change printer on second floor jammed coffee machine fixed thanks see you \
    later deploy tonight after tests pass release notes draft ready for comments server room too \
    warm network slow this morning where is the projector remote";

/// The baselines' table: the same columns and indexes as lanchat's, in a database set up
/// the same way (WAL, synchronous=FULL).
fn plain_db(dir: &Path, name: &str) -> Connection {
    let conn = Connection::open(dir.join(name)).expect("a database");
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .expect("WAL");
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, ts INTEGER NOT NULL,
             sender TEXT NOT NULL, device TEXT NOT NULL, text TEXT NOT NULL, file TEXT,
             seq INTEGER, PRIMARY KEY (room, id));
         CREATE UNIQUE INDEX messages_by_post ON messages (room, device, seq) WHERE seq IS NOT NULL;",
    )
    .expect("the table");
    conn
}

fn insert(conn: &Connection, m: &ChatMessage) {
    conn.prepare_cached(
        "INSERT INTO messages (room, id, ts, sender, device, text, seq) VALUES ('r', ?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .expect("the statement")
    .execute(params![m.id as i64, m.ts, m.from, m.device.as_str(), m.text, m.id as i64])
    .expect("the insert");
}

fn one_transaction(dir: &Path, posts: usize) -> Duration {
    let mut conn = plain_db(dir, "one.db");
    let start = Instant::now();
    let tx = conn.transaction().expect("a transaction");
    for id in 0..posts as u64 {
        insert(&tx, &message(id));
    }
    tx.commit().expect("the commit");
    start.elapsed()
}

/// Measured on at most 2,000 posts (it is slow), scaled to `posts` for the table.
fn sync_per_post(dir: &Path, posts: usize) -> Duration {
    let measured = posts.min(2_000);
    let conn = plain_db(dir, "each.db");
    let start = Instant::now();
    for id in 0..measured as u64 {
        insert(&conn, &message(id)); // autocommit: one transaction, one sync, per post
    }
    start.elapsed().mul_f64(posts as f64 / measured as f64)
}

fn lanchat(dir: &Path, posts: usize) -> Duration {
    let (db, _) = Database::open(&dir.join("lanchat.db")).expect("lanchat's database");
    let room = RoomId::parse("benchroom").expect("a room id");
    let (mut history, _) =
        History::open(&db, &room, &dir.join("history.jsonl")).expect("the room's history");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    for n in 0..posts as u64 {
        let id = history.reserve_id();
        let done = done_tx.clone();
        history.store(
            &message(id),
            Some(n),
            |_| {},
            move |stored| {
                let _ = done.send(stored.is_ok());
            },
        );
    }
    let stored = done_rx.iter().take(posts).filter(|ok| *ok).count();
    let took = start.elapsed();
    assert_eq!(stored, posts, "every post was stored");
    took
}
