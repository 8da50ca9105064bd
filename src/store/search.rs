//! Searching what this profile holds: the messages of the rooms it hosts (`messages`), what
//! it has seen of the rooms it is in (`received`), both by their text and by the name of
//! the file a message shares, and its direct messages (`directs`), through the FTS5 indexes
//! schema steps 5 and 7 keep of each (see `database/schema.rs`). What a person types is
//! never FTS5 syntax: each word is looked for as a word, the last one as the start of a word
//! too (it may not be finished).
//!
//! A hit carries a few words around the match, with the matched words told apart: FTS5
//! marks them with two characters of Unicode's private use area, and they are split on here,
//! so no marker (and no markup) ever reaches the window.

use super::database::{Database, StoreError};
use super::history::row_message;
use crate::protocol::{ChatMessage, DeviceId, RoomId};
use rusqlite::{Connection, params};

/// Most hits one search answers with: the newest.
pub const MOST_HITS: usize = 50;
/// How many of the matches stored last each index gives for a search, per hit wanted: the
/// newest hits are picked from those. FTS5 gives them at once, in the order stored; sorting
/// every match by time would read them all, which takes long for a common word in a big
/// history. The order stored is the order said, but for history read back by scrolling up.
const CANDIDATES_PER_HIT: usize = 4;

/// Where FTS5 marks the start and the end of a matched word in a snippet.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';
/// Words of a snippet around the match (FTS5's limit is 64).
const SNIPPET_WORDS: i64 = 12;

/// A search's answer, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub hits: Vec<Hit>,
    /// More messages match than [`MOST_HITS`]: more words would narrow it down.
    pub more: bool,
}

/// One message that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// When it was said, milliseconds since the Unix epoch (the host's clock for a room's
    /// message, the sender's for a direct one).
    pub ts: i64,
    /// The sender's name at the time; for a direct message of ours, empty (it is "You").
    pub sender: String,
    /// The words around the match, in order, on one line: of its text, or of the name of
    /// the file it shares, whichever matched best.
    pub snippet: Vec<Piece>,
    /// It shares a file (whose name may be what matched): the hit opens onto its card.
    pub file: bool,
    /// Where it was said: what the window can do with the hit.
    pub place: Place,
}

/// Where a hit was said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// In a room.
    Room {
        room: RoomId,
        /// The message's id in its room's history.
        id: u64,
        /// Which of the profile's records holds it.
        record: Record,
        /// The room's name as last joined (for a room we are in); the window knows the
        /// names of the rooms we host, and better ones for the rooms open now.
        room_name: Option<String>,
    },
    /// In a direct conversation.
    Direct {
        /// The other device of the conversation.
        peer: DeviceId,
        /// Its user's name, as the message was kept.
        peer_name: String,
        /// Ours (`true`) or theirs, and the sender's number for it: which line it is.
        outgoing: bool,
        seq: u64,
    },
}

/// A run of a snippet's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    /// The words the search looked for: shown emphasised.
    pub matched: bool,
}

/// Which record a room's hit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// The history of a room we host (or hosted): it is all here, ids as the members know them.
    Hosted,
    /// What we saw of a room we are in. `current`: of the history the room has now; a host
    /// that started its history over numbers its messages afresh, so an older one cannot be
    /// shown in place.
    Member { current: bool },
}

/// What a person typed, as an FTS5 query that cannot be a syntax error: each word (a run of
/// anything but spaces with a letter or a digit in it) a quoted string, so `AND`, `*`, `-`,
/// `"` and `:` are only text; all of them must match, the last also as the start of a longer
/// word unless a space follows it (or it is one letter: the start of every other word is of
/// no use, and slow to gather). `None` when nothing is left to look for.
pub fn fts_query(typed: &str) -> Option<String> {
    let words: Vec<&str> = typed
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .collect();
    if words.is_empty() {
        return None;
    }
    let last = words.len() - 1;
    let finished = typed.ends_with(char::is_whitespace);
    let quoted: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(at, w)| {
            let prefix = if at == last && !finished && w.chars().count() > 1 {
                "*"
            } else {
                ""
            };
            format!("\"{}\"{prefix}", w.replace('"', "\"\""))
        })
        .collect();
    Some(quoted.join(" "))
}

/// The messages that match what the person typed, newest first, at most `most` (picked from
/// the matches stored last, which FTS5 gives at once). Blocking.
pub fn search(db: &Database, typed: &str, most: usize) -> Result<Found, StoreError> {
    let Some(query) = fts_query(typed) else {
        return Ok(Found::default());
    };
    db.read(move |c| {
        let candidates = most * CANDIDATES_PER_HIT;
        let mut rows = Vec::new();
        for table in [Table::Messages, Table::Received, Table::Directs] {
            rows.extend(stored_last(c, table, &query, candidates)?);
        }
        rows.sort_by_key(|r| std::cmp::Reverse((r.ts, r.rowid)));
        let more = rows.len() > most;
        rows.truncate(most);
        let hits = rows.into_iter().filter_map(hit).collect();
        Ok(Found { hits, more })
    })
}

/// The tables searched.
#[derive(Debug, Clone, Copy)]
enum Table {
    Messages,
    Received,
    Directs,
}

/// A match as read.
struct Row {
    table: Table,
    rowid: i64,
    /// The room's id, or for a direct message the other device's.
    place: String,
    /// The message's id in its room, or the sender's number for a direct message.
    id: u64,
    ts: i64,
    sender: String,
    /// Its text holds a marker itself: the snippet is not marked.
    unmarked: bool,
    snippet: String,
    file: bool,
    /// For a room we are in: whether it is of the room's current history; for a direct
    /// message: whether it is ours.
    flag: Option<bool>,
    /// For a room we are in: its name as last joined.
    room_name: Option<String>,
}

/// The `limit` rows of `table` stored last that match `query`, with their snippets. FTS5
/// makes those in the same pass (one per row by itself would gather the matches of a prefix
/// afresh each time). A text that holds a marker itself gets its snippet unmarked (and says
/// so), so its own characters are not taken for matches.
fn stored_last(
    c: &Connection,
    table: Table,
    query: &str,
    limit: usize,
) -> rusqlite::Result<Vec<Row>> {
    // The newest `?2` rows of table `$t` that match `?1`, as `f`: each with the words around
    // the match in whichever of its columns `$all` matched best, marked with ?3 and ?4
    // (unless the text holds those marks itself).
    #[rustfmt::skip]
    macro_rules! newest_hits {
        ($t:literal, $all:literal) => { concat!(
            "(SELECT rowid, instr(", $all, ", ?3) OR instr(", $all, ", ?4) AS unmarked,
                     CASE WHEN instr(", $all, ", ?3) OR instr(", $all, ", ?4)
                     THEN snippet(", $t, "_fts, -1, '', '', '…', ?5)
                     ELSE snippet(", $t, "_fts, -1, ?3, ?4, '…', ?5) END AS snippet
              FROM ", $t, "_fts WHERE ", $t, "_fts MATCH ?1
              ORDER BY rowid DESC LIMIT ?2) f"
        ) };
    }
    let sql = match table {
        Table::Messages => concat!(
            "SELECT m.rowid, m.room, m.id, m.ts, m.sender, f.unmarked, f.snippet,
                    m.file IS NOT NULL, NULL, NULL
             FROM ",
            newest_hits!("messages", "text || ifnull(file_name, '')"),
            " JOIN messages m ON m.rowid = f.rowid"
        ),
        Table::Received => concat!(
            "SELECT r.rowid, r.room, r.id, r.ts, r.sender, f.unmarked, f.snippet,
                    r.file IS NOT NULL,
                    r.epoch IS (SELECT epoch FROM seen WHERE seen.room = r.room),
                    (SELECT name FROM joined WHERE joined.room = r.room)
             FROM ",
            newest_hits!("received", "text || ifnull(file_name, '')"),
            " JOIN received r ON r.rowid = f.rowid"
        ),
        Table::Directs => concat!(
            "SELECT d.rowid, d.peer, d.seq, d.ts, d.peer_name, f.unmarked, f.snippet,
                    0, d.outgoing, NULL
             FROM ",
            newest_hits!("directs", "text"),
            " JOIN directs d ON d.rowid = f.rowid"
        ),
    };
    let (open, close) = (OPEN.to_string(), CLOSE.to_string());
    let mut stmt = c.prepare_cached(sql)?;
    let marks = params![query, limit as i64, open, close, SNIPPET_WORDS];
    stmt.query_map(marks, |r| {
        Ok(Row {
            table,
            rowid: r.get(0)?,
            place: r.get(1)?,
            id: r.get::<_, i64>(2)? as u64,
            ts: r.get(3)?,
            sender: r.get(4)?,
            unmarked: r.get(5)?,
            snippet: r.get(6)?,
            file: r.get(7)?,
            flag: r.get(8)?,
            room_name: r.get(9)?,
        })
    })?
    .collect()
}

/// A match as a hit; `None` for a row whose room or device id is not one (a damaged row).
fn hit(row: Row) -> Option<Hit> {
    let room = |record| {
        Some(Place::Room {
            room: RoomId::parse(&row.place)?,
            id: row.id,
            record,
            room_name: row.room_name.clone(),
        })
    };
    let flag = row.flag.unwrap_or(false);
    let place = match row.table {
        Table::Messages => room(Record::Hosted)?,
        Table::Received => room(Record::Member { current: flag })?,
        Table::Directs => Place::Direct {
            peer: DeviceId::parse(&row.place)?,
            peer_name: row.sender.clone(),
            outgoing: flag,
            seq: row.id,
        },
    };
    let sender = match place {
        Place::Direct { outgoing: true, .. } => String::new(),
        _ => row.sender,
    };
    Some(Hit {
        ts: row.ts,
        sender,
        snippet: pieces(&row.snippet, !row.unmarked),
        file: row.file,
        place,
    })
}

/// A snippet as runs of text, matched or not, with its line breaks as spaces; `marked`: the
/// matches are marked in it (else it is one run).
fn pieces(snippet: &str, marked: bool) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut matched = false;
    let mut text = String::new();
    let mut flush = |text: &mut String, matched: bool| {
        if !text.is_empty() {
            pieces.push(Piece {
                text: std::mem::take(text),
                matched,
            });
        }
    };
    for ch in snippet.chars() {
        match ch {
            OPEN | CLOSE if marked => {
                flush(&mut text, matched);
                matched = ch == OPEN;
            }
            '\n' | '\r' => text.push(' '),
            ch => text.push(ch),
        }
    }
    flush(&mut text, matched);
    pieces
}

/// A room's messages from `from` up to (not including) `until`, or to its newest, oldest
/// first: what lies between a search hit and the oldest message the window has, so the hit
/// can be shown in place. From the history of a room we host, or from what we saw of the
/// current history of a room we are in (which may miss what we never saw). Blocking.
pub fn stored_from(
    db: &Database,
    room: &RoomId,
    hosted: bool,
    from: u64,
    until: Option<u64>,
) -> Result<Vec<ChatMessage>, StoreError> {
    let room = room.clone();
    let until = until.map_or(i64::MAX, |u| u as i64);
    db.read(move |c| {
        let sql = if hosted {
            "SELECT id, ts, sender, device, text, file FROM messages
             WHERE room = ?1 AND id >= ?2 AND id < ?3 ORDER BY id"
        } else {
            "SELECT id, ts, sender, device, text, file FROM received
             WHERE room = ?1 AND epoch = (SELECT epoch FROM seen WHERE room = ?1)
               AND id >= ?2 AND id < ?3 ORDER BY id"
        };
        let mut stmt = c.prepare_cached(sql)?;
        let messages = stmt
            .query_map(params![room.as_str(), from as i64, until], row_message)?
            .filter_map(Result::ok)
            .flatten()
            .collect();
        Ok(messages)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{History, MemberStore};
    use std::path::Path;

    use crate::store::sample_message as message;

    /// A room we host holding `texts`, ids from 0.
    fn hosted(db: &Database, dir: &Path, room: &RoomId, texts: &[&str]) {
        let (mut history, _) = History::open(db, room, &dir.join("none.jsonl")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for text in texts {
            let m = message(history.reserve_id(), text);
            let tx = tx.clone();
            history.store(&m, None, |_| {}, move |r| tx.send(r.is_ok()).unwrap());
        }
        assert!(rx.iter().take(texts.len()).all(|ok| ok));
    }

    fn texts(found: &Found) -> Vec<String> {
        found
            .hits
            .iter()
            .map(|h| h.snippet.iter().map(|p| p.text.as_str()).collect())
            .collect()
    }

    fn matched(hit: &Hit) -> Vec<&str> {
        hit.snippet
            .iter()
            .filter(|p| p.matched)
            .map(|p| p.text.as_str())
            .collect()
    }

    #[test]
    fn what_is_typed_is_only_ever_words() {
        assert_eq!(fts_query("  "), None);
        assert_eq!(fts_query("- * ()"), None, "nothing to look for");
        assert_eq!(fts_query("caf").as_deref(), Some("\"caf\"*"));
        assert_eq!(fts_query("c").as_deref(), Some("\"c\""));
        assert_eq!(fts_query("cafe ").as_deref(), Some("\"cafe\""));
        assert_eq!(
            fts_query("a AND \"b NEAR(c").as_deref(),
            Some("\"a\" \"AND\" \"\"\"b\" \"NEAR(c\"*")
        );
    }

    #[tokio::test]
    async fn both_records_are_searched_newest_first_with_the_matches_marked() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Database::open(&dir.path().join("lanchat.db")).unwrap();
        let ours = RoomId::parse("ours").unwrap();
        hosted(
            &db,
            dir.path(),
            &ours,
            &[
                "Lunch at the Café Müller?",
                "nothing here",
                "line one\nthe cafeteria, line two",
            ],
        );
        let theirs = RoomId::parse("theirs").unwrap();
        let member = MemberStore::new(db.clone(), theirs.clone());
        member.joined("Bob's room", "Bob", &[]);
        member.seen(7, &message(40, "old cafe from another history"));
        member.seen(8, &message(41, "see you at the cafe"));
        db.flush().await.unwrap();

        // Diacritics and case fold; the last word is a prefix.
        let found = search(&db, "CAFE", MOST_HITS).unwrap();
        assert_eq!(
            texts(&found),
            [
                "see you at the cafe",
                "old cafe from another history",
                "line one the cafeteria, line two",
                "Lunch at the Café Müller?"
            ]
        );
        assert!(!found.more);
        let newest = &found.hits[0];
        assert_eq!(
            newest.place,
            Place::Room {
                room: theirs.clone(),
                id: 41,
                record: Record::Member { current: true },
                room_name: Some("Bob's room".into())
            }
        );
        assert_eq!(matched(newest), ["cafe"]);
        assert!(matches!(
            found.hits[1].place,
            Place::Room {
                record: Record::Member { current: false },
                ..
            }
        ));
        let lunch = &found.hits[3];
        assert_eq!(
            lunch.place,
            Place::Room {
                room: ours.clone(),
                id: 0,
                record: Record::Hosted,
                room_name: None
            }
        );
        assert_eq!(matched(lunch), ["Café"]);
        assert_eq!(lunch.sender, "Ada");

        // A finished word is not a prefix; every word must match.
        assert_eq!(search(&db, "cafe ", MOST_HITS).unwrap().hits.len(), 3);
        assert_eq!(
            texts(&search(&db, "line caf", MOST_HITS).unwrap()),
            ["line one the cafeteria, line two"]
        );
        // FTS5 syntax is only text.
        for odd in [
            "\"",
            "AND",
            "cafe OR nothing",
            "-cafe",
            "*",
            "text:cafe",
            "NEAR(a b)",
        ] {
            assert!(search(&db, odd, MOST_HITS).is_ok(), "{odd}");
        }
        assert!(
            search(&db, "cafe OR nothing", MOST_HITS)
                .unwrap()
                .hits
                .is_empty()
        );
        assert_eq!(search(&db, "", MOST_HITS).unwrap(), Found::default());

        // Only the newest are given, and said to be only those.
        let few = search(&db, "caf", 2).unwrap();
        assert_eq!((few.hits.len(), few.more), (2, true));

        // Leaving a room forgets what we saw of it, in the index too.
        member.forget();
        db.flush().await.unwrap();
        assert_eq!(search(&db, "cafe", MOST_HITS).unwrap().hits.len(), 2);
    }

    #[tokio::test]
    async fn files_are_found_by_name_and_direct_messages_by_their_text() {
        use crate::protocol::{FileHash, FileRef};
        use crate::store::{Direct, DirectStore, Sent};
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Database::open(&dir.path().join("lanchat.db")).unwrap();
        let file = |id, name: &str| ChatMessage {
            file: Some(FileRef {
                hash: FileHash::from_bytes(&[id as u8; 32]),
                name: name.into(),
                size: 10,
            }),
            ..message(id, "")
        };
        // A file shared in a room we host, and one in a room we are in.
        let ours = RoomId::parse("ours").unwrap();
        let (mut history, _) = History::open(&db, &ours, &dir.path().join("none")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let budget = file(history.reserve_id(), "Budget_2027-final.xlsx");
        history.store(&budget, None, |_| {}, move |r| tx.send(r.is_ok()).unwrap());
        assert!(rx.recv().unwrap());
        let theirs = RoomId::parse("theirs").unwrap();
        let member = MemberStore::new(db.clone(), theirs.clone());
        member.seen(1, &file(5, "holiday photos.zip"));
        // Direct messages, theirs and ours.
        let directs = DirectStore::new(db.clone());
        let carol = DeviceId::parse("carol").unwrap();
        let direct = |outgoing, seq, text: &str| Direct {
            peer: carol.clone(),
            peer_name: "Carol".into(),
            claimed: None,
            outgoing,
            seq,
            ts: 1_800_000_000_000 + seq as i64,
            text: text.into(),
            room: theirs.clone(),
            state: Sent::Delivered,
        };
        directs.keep(&direct(false, 1, "the budget is in the shared folder"));
        directs.keep(&direct(true, 2, "thanks, reading the budget now"));
        db.flush().await.unwrap();

        let found = search(&db, "budget", MOST_HITS).unwrap();
        assert_eq!(
            texts(&found),
            [
                "thanks, reading the budget now",
                "the budget is in the shared folder",
                "Budget_2027-final.xlsx"
            ]
        );
        let [ours_now, theirs_then, shared] = &found.hits[..] else {
            unreachable!()
        };
        assert_eq!(
            ours_now.place,
            Place::Direct {
                peer: carol.clone(),
                peer_name: "Carol".into(),
                outgoing: true,
                seq: 2
            }
        );
        assert_eq!(ours_now.sender, "", "ours is said to be the user's");
        assert_eq!(theirs_then.sender, "Carol");
        assert!(
            matches!(&shared.place, Place::Room { room, id: 0, record: Record::Hosted, .. } if room == &ours)
        );
        assert!(shared.file && !ours_now.file);
        assert_eq!(matched(shared), ["Budget"]);
        // A file in a room we are in, by a word of its name.
        let photos = search(&db, "photos", MOST_HITS).unwrap();
        assert!(
            matches!(&photos.hits[..], [h] if h.file && matches!(&h.place, Place::Room { room, id: 5, .. } if room == &theirs))
        );
        assert_eq!(matched(&photos.hits[0]), ["photos"]);
        // A file name's own parts are words.
        assert_eq!(search(&db, "xlsx", MOST_HITS).unwrap().hits.len(), 1);
    }

    #[test]
    fn a_text_holding_the_markers_is_not_marked_wrongly() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Database::open(&dir.path().join("lanchat.db")).unwrap();
        let room = RoomId::parse("r").unwrap();
        let odd = format!("tricky {CLOSE}word{OPEN} here");
        hosted(&db, dir.path(), &room, &[&odd]);
        let found = search(&db, "here", MOST_HITS).unwrap();
        assert_eq!(found.hits[0].snippet.len(), 1);
        assert!(!found.hits[0].snippet[0].matched);
    }

    #[test]
    fn the_messages_between_a_hit_and_the_window_are_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Database::open(&dir.path().join("lanchat.db")).unwrap();
        let room = RoomId::parse("r").unwrap();
        let texts: Vec<String> = (0..10).map(|n| format!("m{n}")).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        hosted(&db, dir.path(), &room, &texts);
        let ids = |until| -> Vec<u64> {
            stored_from(&db, &room, true, 3, until)
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect()
        };
        assert_eq!(ids(Some(6)), [3, 4, 5]);
        assert_eq!(ids(None), [3, 4, 5, 6, 7, 8, 9]);
        assert!(stored_from(&db, &room, false, 0, None).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_room_we_are_in_is_read_from_what_we_saw_of_its_current_history() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Database::open(&dir.path().join("lanchat.db")).unwrap();
        let room = RoomId::parse("theirs").unwrap();
        let member = MemberStore::new(db.clone(), room.clone());
        for id in 0..5 {
            member.seen(7, &message(id, "before the host started over"));
        }
        for id in 2..4 {
            member.seen(8, &message(id, "now"));
        }
        db.flush().await.unwrap();
        let read = stored_from(&db, &room, false, 0, None).unwrap();
        let ids: Vec<u64> = read.iter().map(|m| m.id).collect();
        assert_eq!(ids, [2, 3]);
        assert!(read.iter().all(|m| m.text == "now"));
    }
}
