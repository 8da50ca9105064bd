//! A hosted room's history, in the profile's database: every message with the id the host
//! gave it and, for posts, the sender's number for the post, so a post sent again after any
//! restart is found and acknowledged, not stored twice. The newest messages are also kept
//! in memory, so joins and catch-ups that fall within them never touch the disk.

use super::database::{Database, StoreError};
use crate::protocol::{ChatMessage, DeviceId, HISTORY_PAGE, RoomId};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::VecDeque;
use std::io::BufRead;
use std::path::Path;

/// Called with a problem the hosting user should hear of (e.g. the history cannot be saved).
pub type ProblemSink = std::sync::Arc<dyn Fn(String) + Send + Sync>;

/// How many of the newest messages are kept in memory: two pages, so a member that missed
/// a little is served from memory.
const TAIL: usize = 2 * HISTORY_PAGE;

/// The most a page of history carries, besides its [`HISTORY_PAGE`] messages at most: a
/// page of long messages is cut short (and says more follow), so that what a host queues
/// for one member stays within that member's budget (see `net::limits::Limits`).
pub const PAGE_BYTES: usize = 1024 * 1024;

/// About what a message takes, queued.
fn weight(m: &ChatMessage) -> usize {
    64 + m.text.len() + m.from.len() + m.file.as_ref().map_or(0, |f| 64 + f.name.len())
}

/// Cuts a page (oldest first) to [`PAGE_BYTES`], keeping its oldest messages (`keep_newest`:
/// its newest) and always one; says whether it cut anything.
fn within_bytes(page: &mut Vec<ChatMessage>, keep_newest: bool) -> bool {
    let mut total = 0;
    let mut fits = |m: &ChatMessage| {
        total += weight(m);
        total <= PAGE_BYTES
    };
    let keep = if keep_newest {
        page.iter().rev().take_while(|m| fits(m)).count()
    } else {
        page.iter().take_while(|m| fits(m)).count()
    }
    .max(1)
    .min(page.len());
    let cut = page.len() - keep;
    if keep_newest {
        page.drain(..cut);
    } else {
        page.truncate(keep);
    }
    cut > 0
}

/// What became of a message handed to [`History::store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored now, under the id it was given.
    New,
    /// The sender's post was stored before (it was sent again): under this id.
    Existing(u64),
}

/// A hosted room's history: the newest messages in memory, all of them in the database.
pub struct History {
    room: RoomId,
    db: Database,
    /// Random, new whenever the history starts over; sent with the ids it numbers.
    epoch: u64,
    /// The newest stored messages, oldest first, at most [`TAIL`].
    tail: VecDeque<ChatMessage>,
    /// The newest stored id older than the tail, if any: below it, pages come from disk.
    floor: Option<u64>,
    /// The id the next message gets.
    next_id: u64,
}

impl History {
    /// Opens a room's history: once, a history file from an older lanchat (`legacy`) is
    /// imported and renamed `….imported`. Blocking. Returns a warning for the user if some
    /// of it could not be read.
    pub fn open(
        db: &Database,
        room: &RoomId,
        legacy: &Path,
    ) -> Result<(History, Option<String>), StoreError> {
        let known: Option<i64> = db.read(|c| {
            c.query_row(
                "SELECT epoch FROM hosted WHERE room = ?1",
                [room.as_str()],
                |r| r.get(0),
            )
            .optional()
        })?;
        let (epoch, warning) = match known {
            Some(epoch) => (epoch as u64, None),
            None => Self::start(db, room, legacy)?,
        };
        let (tail, floor) = Self::read_tail(db, room)?;
        let next_id = db
            .read({
                let id = room.as_str().to_owned();
                move |c| {
                    c.query_row("SELECT max(id) FROM messages WHERE room = ?1", [id], |r| {
                        r.get::<_, Option<i64>>(0)
                    })
                }
            })?
            .map_or(0, |max| max as u64 + 1);
        Ok((
            History {
                room: room.clone(),
                db: db.clone(),
                epoch,
                tail,
                floor,
                next_id,
            },
            warning,
        ))
    }

    /// A room hosted for the first time: its history starts with a new epoch, holding what
    /// a history file from an older lanchat (`legacy`) has, which is then renamed. Returns
    /// the epoch, and a warning for the user if some of the file could not be read.
    fn start(
        db: &Database,
        room: &RoomId,
        legacy: &Path,
    ) -> Result<(u64, Option<String>), StoreError> {
        let (lines, skipped) = read_legacy(legacy);
        let epoch = rand::random::<u64>() >> 11; // exact in JSON and SQLite alike
        let id = room.as_str().to_owned();
        let count = lines.len();
        db.write_blocking(move |c| {
            c.execute(
                "INSERT INTO hosted (room, epoch) VALUES (?1, ?2)",
                params![id, epoch as i64],
            )?;
            // Renumbered in file order: an old file may repeat ids after damage.
            for (n, mut message) in lines.into_iter().enumerate() {
                message.id = n as u64;
                insert(c, &id, &message, None)?;
            }
            Ok(())
        })?;
        if legacy.exists() {
            let backup = legacy.with_extension("jsonl.imported");
            if let Err(e) = std::fs::rename(legacy, &backup) {
                tracing::warn!("could not rename {}: {e}", legacy.display());
            }
            tracing::info!("imported {count} messages from {}", legacy.display());
        }
        let warning = (skipped > 0).then(|| {
            format!(
                "{skipped} damaged lines of {} could not be read; the rest of the room's history is kept",
                legacy.display()
            )
        });
        Ok((epoch, warning))
    }

    /// The room's newest messages (at most [`TAIL`], oldest first) and the newest id older
    /// than them, if any.
    fn read_tail(
        db: &Database,
        room: &RoomId,
    ) -> Result<(VecDeque<ChatMessage>, Option<u64>), StoreError> {
        let id = room.as_str().to_owned();
        let mut newest: Vec<ChatMessage> = db.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, ts, sender, device, text, file FROM messages WHERE room = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![id, TAIL as i64 + 1], row_message)?
                .filter_map(Result::ok)
                .flatten()
                .collect();
            Ok(rows)
        })?;
        // One more than the tail was read: if it is there, it is the floor.
        let floor = (newest.len() > TAIL)
            .then(|| newest.pop().map(|m| m.id))
            .flatten();
        newest.reverse();
        Ok((newest.into(), floor))
    }

    /// The history's epoch: a member that knew another one starts over.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Takes the id for a new message. Ids only grow while the room runs; one whose write
    /// failed was never shown to anyone, so after a restart it may be given again.
    pub fn reserve_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// Stores a message durably. On the database's thread, `written` hears once it is
    /// committed (what a crash of lanchat keeps), `done` once it is on the disk. `seq` is the
    /// sender's number for a post: if that post is already stored, nothing is written and
    /// both hear its id.
    pub fn store(
        &self,
        message: &ChatMessage,
        seq: Option<u64>,
        written: impl FnOnce(&Stored) + Send + 'static,
        done: impl FnOnce(Result<Stored, StoreError>) + Send + 'static,
    ) {
        let room = self.room.as_str().to_owned();
        let message = message.clone();
        self.db.submit_early(
            move |c| {
                // A post sent again collides with itself on (room, device, seq): then it is
                // looked up, not stored.
                if insert(c, &room, &message, seq)? {
                    return Ok(Stored::New);
                }
                let seq = seq.map(|s| s as i64);
                let earlier: i64 = c
                    .prepare_cached(
                        "SELECT id FROM messages WHERE room = ?1 AND device = ?2 AND seq = ?3",
                    )?
                    .query_row(params![room, message.device.as_str(), seq], |r| r.get(0))?;
                Ok(Stored::Existing(earlier as u64))
            },
            written,
            done,
        );
    }

    /// Adds a message whose write has committed to the in-memory tail.
    pub fn committed(&mut self, message: ChatMessage) {
        if self.tail.len() == TAIL
            && let Some(old) = self.tail.pop_front()
        {
            self.floor = Some(old.id);
        }
        self.tail.push_back(message);
    }

    /// The newest messages in memory, a page's worth, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &ChatMessage> {
        self.tail
            .iter()
            .skip(self.tail.len().saturating_sub(HISTORY_PAGE))
    }

    /// What a newcomer sees: the newest page of the history, within [`PAGE_BYTES`], oldest
    /// first (older ones are there to scroll back to).
    pub fn newest_page(&self) -> Vec<ChatMessage> {
        let mut page: Vec<ChatMessage> = self.recent().cloned().collect();
        within_bytes(&mut page, true);
        page
    }

    /// The page after message `after`, if memory holds it (`None`: read it from disk with
    /// [`read_page`]), and whether more follow it.
    pub fn page_after(&self, after: Option<u64>) -> Option<(Vec<ChatMessage>, bool)> {
        if self
            .floor
            .is_some_and(|floor| after.is_none_or(|after| after < floor))
        {
            return None;
        }
        let mut newer = self.tail.iter().filter(|m| after.is_none_or(|a| m.id > a));
        let mut page: Vec<ChatMessage> = newer.by_ref().take(HISTORY_PAGE).cloned().collect();
        let cut = within_bytes(&mut page, false);
        Some((page, cut || newer.next().is_some()))
    }

    /// The database, for [`read_page`].
    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// The devices that have posted in `room` (the room's past members, at most 10,000 of them):
/// their password tries and handshakes are not held up by strangers'. Blocking.
pub fn senders(
    db: &Database,
    room: &RoomId,
) -> Result<std::collections::HashSet<DeviceId>, StoreError> {
    let room = room.clone();
    db.read(move |c| {
        let mut stmt =
            c.prepare("SELECT DISTINCT device FROM messages WHERE room = ?1 LIMIT 10000")?;
        let devices = stmt
            .query_map([room.as_str()], |r| r.get::<_, String>(0))?
            .filter_map(|d| DeviceId::parse(&d.ok()?))
            .collect();
        Ok(devices)
    })
}

/// Up to a page of `room`'s messages after `after` (`None`: from the first), from disk.
/// Blocking.
pub fn read_page(
    db: &Database,
    room: &RoomId,
    after: Option<u64>,
) -> Result<Vec<ChatMessage>, StoreError> {
    let room = room.clone();
    db.read(move |c| {
        let mut page = messages_after(c, &room, after, HISTORY_PAGE)?.0;
        within_bytes(&mut page, false);
        Ok(page)
    })
}

/// The page of `room`'s history before message `before`, oldest first, and whether older
/// messages are still further back. Blocking.
pub fn read_page_before(
    db: &Database,
    room: &RoomId,
    before: u64,
) -> Result<(Vec<ChatMessage>, bool), StoreError> {
    let room = room.clone();
    db.read(move |c| {
        let mut stmt = c.prepare_cached(
            "SELECT id, ts, sender, device, text, file FROM messages
             WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
        )?;
        // One more than a page is read: if it is there, more are further back.
        let rows: Vec<_> = stmt
            .query_map(
                params![room.as_str(), before as i64, HISTORY_PAGE as i64 + 1],
                row_message,
            )?
            .collect();
        let more = rows.len() > HISTORY_PAGE;
        let mut page: Vec<ChatMessage> = rows
            .into_iter()
            .take(HISTORY_PAGE)
            .filter_map(Result::ok)
            .flatten()
            .collect();
        page.reverse();
        let cut = within_bytes(&mut page, true);
        Ok((page, more || cut))
    })
}

/// Up to `limit` rows of `room`'s history after `after` (`None`: from the first), as the
/// messages that can be read and whether `limit` rows were there (more may follow).
pub(super) fn messages_after(
    c: &Connection,
    room: &RoomId,
    after: Option<u64>,
    limit: usize,
) -> rusqlite::Result<(Vec<ChatMessage>, bool)> {
    rows_after(
        c,
        "SELECT id, ts, sender, device, text, file FROM messages
         WHERE room = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        room,
        after,
        limit,
    )
}

/// Runs a query for up to `limit` message rows of `room` after `after`; full or not by the
/// rows read, before any that cannot be read are left out.
pub(super) fn rows_after(
    c: &Connection,
    sql: &str,
    room: &RoomId,
    after: Option<u64>,
    limit: usize,
) -> rusqlite::Result<(Vec<ChatMessage>, bool)> {
    let after = after.map_or(-1, |a| a as i64);
    let mut stmt = c.prepare_cached(sql)?;
    let rows: Vec<_> = stmt
        .query_map(params![room.as_str(), after, limit as i64], row_message)?
        .collect();
    let full = rows.len() == limit;
    let messages = rows.into_iter().filter_map(Result::ok).flatten().collect();
    Ok((messages, full))
}

/// Inserts a message; `false` if a post with the same `seq` from the same device is there.
fn insert(c: &Connection, room: &str, m: &ChatMessage, seq: Option<u64>) -> rusqlite::Result<bool> {
    let file = file_json(m);
    let inserted = c
        .prepare_cached(
            "INSERT INTO messages (room, id, ts, sender, device, text, file, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (room, device, seq) WHERE seq IS NOT NULL DO NOTHING",
        )?
        .execute(params![
            room,
            m.id as i64,
            m.ts,
            m.from,
            m.device.as_str(),
            m.text,
            file,
            seq.map(|s| s as i64)
        ])?;
    Ok(inserted == 1)
}

/// A message's file reference as stored (JSON), if it has one.
pub(super) fn file_json(m: &ChatMessage) -> Option<String> {
    m.file
        .as_ref()
        .map(|f| serde_json::to_string(f).expect("a file reference serializes"))
}

/// A row as a message; `None` (with a warning) for a row no member could accept.
pub(super) fn row_message(r: &rusqlite::Row) -> rusqlite::Result<Option<ChatMessage>> {
    let id: i64 = r.get(0)?;
    let device: String = r.get(3)?;
    let file: Option<String> = r.get(5)?;
    let message = (|| {
        Some(ChatMessage {
            id: id as u64,
            ts: r.get(1).ok()?,
            from: r.get(2).ok()?,
            device: DeviceId::parse(&device)?,
            text: r.get(4).ok()?,
            file: match file {
                Some(json) => Some(serde_json::from_str(&json).ok()?),
                None => None,
            },
        })
    })()
    .filter(|m| m.validate().is_ok());
    if message.is_none() {
        tracing::warn!("skipping stored message {id}: it is not a valid message");
    }
    Ok(message)
}

/// The messages of a history file from an older lanchat, in file order, and how many lines
/// were damaged. A missing file is an empty history.
fn read_legacy(path: &Path) -> (Vec<ChatMessage>, usize) {
    let Ok(file) = std::fs::File::open(path) else {
        return (Vec::new(), 0);
    };
    let mut messages = Vec::new();
    let mut skipped = 0;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let Ok(line) = line else {
            skipped += 1;
            break;
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<ChatMessage>(&line) {
            Ok(m) if m.validate().is_ok() => messages.push(m),
            _ => skipped += 1,
        }
    }
    (messages, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::sample_message as msg;

    fn open(dir: &Path) -> (Database, History) {
        let (db, _) = Database::open(&dir.join("lanchat.db")).unwrap();
        let room = RoomId::parse("room1").unwrap();
        let (history, _) = History::open(&db, &room, &dir.join("history.jsonl")).unwrap();
        (db, history)
    }

    fn store_now(history: &mut History, text: &str, seq: Option<u64>) -> (u64, Stored) {
        let mut m = msg(history.reserve_id(), text);
        let (tx, rx) = std::sync::mpsc::channel();
        history.store(&m, seq, |_| {}, move |r| tx.send(r).unwrap());
        let stored = rx.recv().unwrap().unwrap();
        if stored == Stored::New {
            history.committed(m.clone());
        } else if let Stored::Existing(id) = stored {
            m.id = id;
        }
        (m.id, stored)
    }

    /// A page of long messages is cut to [`PAGE_BYTES`] wherever it comes from, and says that
    /// more follow: what a host queues for one member stays bounded.
    #[test]
    fn pages_of_long_messages_are_cut_to_their_byte_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut h) = open(dir.path());
        let long = "x".repeat(60 * 1024);
        for n in 0..100 {
            store_now(&mut h, &format!("{n} {long}"), Some(n));
        }
        let fits = PAGE_BYTES / weight(&msg(0, &format!("10 {long}")));
        let newest = h.newest_page();
        assert_eq!(newest.len(), fits);
        assert_eq!(newest.last().unwrap().id, 99, "a newcomer sees the newest");
        let (page, more) = h.page_after(Some(10)).unwrap();
        assert_eq!((page.len(), more), (fits, true));
        assert_eq!(page[0].id, 11, "catching up goes on from the oldest missed");
        let room = RoomId::parse("room1").unwrap();
        let disk = read_page(&db, &room, Some(10)).unwrap();
        assert_eq!(disk.len(), fits);
        let (earlier, more) = read_page_before(&db, &room, 90).unwrap();
        assert_eq!((earlier.len(), more), (fits, true));
        assert_eq!(
            earlier.last().unwrap().id,
            89,
            "scrolling back goes on from the newest"
        );
        for page in [newest, page, disk, earlier] {
            assert!(page.iter().map(weight).sum::<usize>() <= PAGE_BYTES);
        }
    }

    #[test]
    fn survives_reopen_with_pages_from_memory_and_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut h) = open(dir.path());
        let epoch = h.epoch();
        for n in 0..3000 {
            store_now(&mut h, &format!("message {n}"), Some(n));
        }
        drop(h);
        let (_, h) = open(dir.path());
        assert_eq!(h.epoch(), epoch, "same history, same epoch");
        assert_eq!(h.recent().count(), HISTORY_PAGE);
        assert_eq!(h.recent().next().unwrap().id, 3000 - HISTORY_PAGE as u64);
        // Memory holds the last two pages; before them, pages come from disk.
        assert!(h.page_after(Some(100)).is_none());
        assert!(h.page_after(None).is_none());
        let (page, more) = h.page_after(Some(2100)).unwrap();
        assert_eq!((page.len(), more), (HISTORY_PAGE, true));
        let (page, more) = h.page_after(Some(2600)).unwrap();
        assert_eq!((page.len(), more), (399, false));
        let room = RoomId::parse("room1").unwrap();
        let disk = read_page(&db, &room, Some(100)).unwrap();
        assert_eq!(disk.first().unwrap().id, 101);
        assert_eq!(read_page(&db, &room, None).unwrap().first().unwrap().id, 0);
        assert_eq!(disk.len(), HISTORY_PAGE);
        // Scrolling back: pages before a message, oldest first, until the start.
        let (back, more) = read_page_before(&db, &room, 2500).unwrap();
        assert_eq!(
            (back.first().unwrap().id, back.last().unwrap().id),
            (2000, 2499)
        );
        assert!(more);
        let (back, more) = read_page_before(&db, &room, 300).unwrap();
        assert_eq!((back.len(), back[0].id, more), (300, 0, false));
        assert!(read_page_before(&db, &room, 0).unwrap().0.is_empty());
        let mut h = h;
        assert_eq!(h.reserve_id(), 3000);
    }

    #[test]
    fn a_post_sent_again_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut h) = open(dir.path());
        let (first, stored) = store_now(&mut h, "hello", Some(42));
        assert_eq!(stored, Stored::New);
        store_now(&mut h, "other", Some(43));
        drop(h);
        let (_, mut h) = open(dir.path());
        let (again, stored) = store_now(&mut h, "hello", Some(42));
        assert_eq!((again, stored), (first, Stored::Existing(first)));
        assert_eq!(h.recent().count(), 2);
    }

    /// One sender in the property test: its device, its posts in the order written, and
    /// those not yet answered (resent, in order, on every send).
    struct Sender {
        device: DeviceId,
        written: Vec<u64>,
        unanswered: std::collections::VecDeque<u64>,
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// Any mix of two senders' posts, answers lost on the way (so posts are sent again)
        /// and host restarts: every post is stored exactly once, and each sender's posts in
        /// the order it wrote them.
        #[test]
        fn posts_resends_lost_answers_and_restarts_store_each_post_once_in_order(
            ops in proptest::collection::vec(0u8..6, 1..50)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let (_, mut h) = open(dir.path());
            let mut senders: Vec<Sender> = ["d1", "d2"]
                .iter()
                .map(|d| Sender {
                    device: DeviceId::parse(d).unwrap(),
                    written: Vec::new(),
                    unanswered: Default::default(),
                })
                .collect();
            let mut next_seq = 1000u64;
            let mut lose_answers = false;
            let send_all = |h: &mut History, s: &mut Sender, lose: bool| {
                for seq in s.unanswered.clone() {
                    let mut m = msg(h.reserve_id(), &format!("post {seq}"));
                    m.device = s.device.clone();
                    let (tx, rx) = std::sync::mpsc::channel();
                    h.store(&m, Some(seq), |_| {}, move |r| tx.send(r).unwrap());
                    if rx.recv().unwrap().unwrap() == Stored::New {
                        h.committed(m);
                    }
                    if !lose {
                        s.unanswered.retain(|q| *q != seq);
                    }
                }
            };
            for op in ops {
                match op {
                    0..=3 => {
                        let s = &mut senders[(op % 2) as usize];
                        next_seq += 7;
                        s.written.push(next_seq);
                        s.unanswered.push_back(next_seq);
                        send_all(&mut h, s, lose_answers);
                    }
                    4 => {
                        drop(h);
                        h = open(dir.path()).1;
                    }
                    _ => lose_answers = !lose_answers,
                }
            }
            for s in &mut senders {
                send_all(&mut h, s, false);
                proptest::prop_assert!(s.unanswered.is_empty());
            }
            let (db, _) = open(dir.path());
            let room = RoomId::parse("room1").unwrap();
            let mut stored: Vec<ChatMessage> = Vec::new();
            let mut after = None;
            loop {
                let page = read_page(&db, &room, after).unwrap();
                let Some(last) = page.last() else { break };
                after = Some(last.id);
                stored.extend(page);
            }
            for s in &senders {
                let mine: Vec<u64> = stored
                    .iter()
                    .filter(|m| m.device == s.device)
                    .map(|m| m.text.trim_start_matches("post ").parse().unwrap())
                    .collect();
                proptest::prop_assert_eq!(&mine, &s.written);
            }
        }
    }

    #[test]
    fn a_damaged_legacy_file_is_imported_in_order_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let mut text = Vec::new();
        // Ids that restart after damage, as an older lanchat wrote them.
        for (id, t) in [(0, "a"), (1, "b"), (0, "c"), (1, "d")] {
            serde_json::to_writer(&mut text, &msg(id, t)).unwrap();
            text.push(b'\n');
        }
        text.extend_from_slice(b"garbage\n{\"id\":3,\"ts\":");
        std::fs::write(&path, &text).unwrap();
        let (db, _) = Database::open(&dir.path().join("lanchat.db")).unwrap();
        let room = RoomId::parse("room1").unwrap();
        let (mut h, warning) = History::open(&db, &room, &path).unwrap();
        assert!(warning.unwrap().contains("2 damaged lines"));
        let texts: Vec<&str> = h.recent().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c", "d"]);
        assert_eq!(h.reserve_id(), 4);
        assert!(!path.exists());
        assert_eq!(
            std::fs::read(path.with_extension("jsonl.imported")).unwrap(),
            text
        );
    }
}
