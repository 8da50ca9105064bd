//! What a member keeps of the rooms it is in, in the profile's database: which rooms (to go
//! back into them at start), the messages it has seen (shown at once, even while the host is
//! away, and the point a rejoin catches up from), and its outbox: posts written and not yet
//! acknowledged, sent again after any reconnect or restart until the host answers.
//!
//! Writes are queued, not awaited: the session goes on at once, and the database's writer
//! commits them within milliseconds (see GUARANTEES.md).

use super::database::{Database, StoreError};
use super::history::{file_json, messages_after, row_message, rows_after};
use crate::protocol::{ChatMessage, HISTORY_PAGE, RoomId};
use rusqlite::{OptionalExtension, params};
use std::net::SocketAddr;

/// One room's part of the member's records.
#[derive(Debug, Clone)]
pub struct MemberStore {
    db: Database,
    room: RoomId,
}

/// What a session starts from.
#[derive(Debug, Default)]
pub struct Kept {
    /// The history epoch of `last_id`.
    pub epoch: Option<u64>,
    /// The newest message seen.
    pub last_id: Option<u64>,
    /// The newest page of messages seen, oldest first.
    pub recent: Vec<ChatMessage>,
    /// Posts not yet acknowledged, in the order written: `(seq, text)`.
    pub outbox: Vec<(u64, String)>,
}

/// A room the member was in when the app last ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedRoom {
    pub room: RoomId,
    pub name: String,
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

impl MemberStore {
    pub fn new(db: Database, room: RoomId) -> Self {
        Self { db, room }
    }

    /// Reads what was kept for the room (off the async threads).
    pub async fn load(&self) -> Result<Kept, StoreError> {
        let room = self.room.as_str().to_owned();
        self.db
            .read_async(move |c| {
                let seen: Option<(i64, i64)> = c
                    .query_row(
                        "SELECT epoch, last_id FROM seen WHERE room = ?1",
                        [&room],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let mut kept = Kept {
                    epoch: seen.map(|(epoch, _)| epoch as u64),
                    last_id: seen.map(|(_, id)| id as u64),
                    ..Kept::default()
                };
                if let Some((epoch, _)) = seen {
                    let mut stmt = c.prepare(
                        "SELECT id, ts, sender, device, text, file FROM received
                         WHERE room = ?1 AND epoch = ?2 ORDER BY id DESC LIMIT ?3",
                    )?;
                    kept.recent = stmt
                        .query_map(params![room, epoch, HISTORY_PAGE as i64], row_message)?
                        .filter_map(Result::ok)
                        .flatten()
                        .collect();
                    kept.recent.reverse();
                }
                let mut stmt =
                    c.prepare("SELECT seq, text FROM outbox WHERE room = ?1 ORDER BY n")?;
                kept.outbox = stmt
                    .query_map([&room], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?
                    .filter_map(Result::ok)
                    .collect();
                Ok(kept)
            })
            .await
    }

    /// Remembers that we are in the room, under these names, reached at these addresses.
    pub fn joined(&self, name: &str, host: &str, addrs: &[SocketAddr]) {
        let (room, name, host) = (self.room.to_string(), name.to_owned(), host.to_owned());
        let addrs = serde_json::to_string(addrs).expect("addresses serialize");
        self.submit(move |c| {
            c.execute(
                "INSERT INTO joined (room, name, host, addrs) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (room) DO UPDATE SET name = ?2, host = ?3, addrs = ?4",
                params![room, name, host, addrs],
            )
        });
    }

    /// Forgets the room: we left it. Its unsent posts go with it.
    pub fn forget(&self) {
        let room = self.room.to_string();
        self.submit(move |c| {
            for table in ["joined", "seen", "received", "outbox"] {
                c.execute(&format!("DELETE FROM {table} WHERE room = ?1"), [&room])?;
            }
            Ok(0)
        });
    }

    /// Keeps a post until the host answers it.
    pub fn queue(&self, seq: u64, text: &str) {
        let (room, text) = (self.room.to_string(), text.to_owned());
        let now = crate::protocol::now_ms();
        self.submit(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO outbox (seq, room, text, created) VALUES (?1, ?2, ?3, ?4)",
                params![seq as i64, room, text, now],
            )
        });
    }

    /// The host answered a post (stored or refused): it leaves the outbox.
    pub fn answered(&self, seq: u64) {
        self.submit(move |c| c.execute("DELETE FROM outbox WHERE seq = ?1", [seq as i64]));
    }

    /// Keeps a message seen in history `epoch`, and moves the catch-up point past it.
    pub fn seen(&self, epoch: u64, m: &ChatMessage) {
        let (room, m) = (self.room.to_string(), m.clone());
        let file = file_json(&m);
        self.submit(move |c| {
            c.prepare_cached(
                "INSERT OR IGNORE INTO received (room, epoch, id, ts, sender, device, text, file)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                room,
                epoch as i64,
                m.id as i64,
                m.ts,
                m.from,
                m.device.as_str(),
                m.text,
                file
            ])?;
            c.prepare_cached(
                "INSERT INTO seen (room, epoch, last_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (room) DO UPDATE SET epoch = ?2, last_id = ?3
                 WHERE epoch != ?2 OR last_id < ?3",
            )?
            .execute(params![room, epoch as i64, m.id as i64])
        });
    }

    /// Queues a write whose failure is only logged: the session goes on either way, and a
    /// post that could not be kept is still sent now.
    fn submit(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<usize> + Send + 'static,
    ) {
        let room = self.room.clone();
        self.db.submit(work, move |result| {
            if let Err(e) = result {
                tracing::warn!("room {room}: could not keep the member's record: {e}");
            }
        });
    }
}

/// How many messages one catch-up answer carries.
pub const CATCH_UP_PAGE: usize = 1000;

/// A room's messages after `after` (all for `None`), oldest first, from a page of at most
/// [`CATCH_UP_PAGE`] rows, for a front end that fell behind, and whether the page was full
/// (more may follow): from the history of a room we host, or from what we were sent of the
/// current epoch of a room we are in. Run on the writer (`Database::submit`) so every
/// message written before it is there.
pub fn stored_after(
    c: &rusqlite::Connection,
    room: &RoomId,
    hosted: bool,
    after: Option<u64>,
) -> rusqlite::Result<(Vec<ChatMessage>, bool)> {
    if hosted {
        return messages_after(c, room, after, CATCH_UP_PAGE);
    }
    rows_after(
        c,
        "SELECT id, ts, sender, device, text, file FROM received
         WHERE room = ?1 AND epoch = (SELECT epoch FROM seen WHERE room = ?1) AND id > ?2
         ORDER BY id LIMIT ?3",
        room,
        after,
        CATCH_UP_PAGE,
    )
}

/// The rooms the member was in when the app last ran. Blocking.
pub fn joined_rooms(db: &Database) -> Result<Vec<JoinedRoom>, StoreError> {
    db.read(|c| {
        let mut stmt = c.prepare("SELECT room, name, host, addrs FROM joined ORDER BY rowid")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .filter_map(Result::ok)
            .filter_map(|(room, name, host, addrs)| {
                Some(JoinedRoom {
                    room: RoomId::parse(&room)?,
                    name,
                    host,
                    addrs: serde_json::from_str(&addrs).unwrap_or_default(),
                })
            })
            .collect();
        Ok(rows)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::DeviceId;

    fn msg(id: u64) -> ChatMessage {
        ChatMessage {
            id,
            ts: 1,
            from: "Ada".into(),
            device: DeviceId::parse("d1").unwrap(),
            text: format!("m{id}"),
            file: None,
        }
    }

    #[tokio::test]
    async fn what_a_member_keeps_is_there_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanchat.db");
        let room = RoomId::parse("r1").unwrap();
        {
            let (db, _) = Database::open(&path).unwrap();
            let store = MemberStore::new(db.clone(), room.clone());
            store.joined("Lab", "Ada", &["10.0.0.1:4000".parse().unwrap()]);
            for seq in [30, 10, 20] {
                store.queue(seq, &format!("post {seq}"));
            }
            store.answered(10);
            for id in 0..600 {
                store.seen(5, &msg(id));
            }
            store.seen(5, &msg(3)); // an older one again does not move the point back
            db.flush().await.unwrap();
        }
        let (db, _) = Database::open(&path).unwrap();
        let kept = MemberStore::new(db.clone(), room.clone())
            .load()
            .await
            .unwrap();
        assert_eq!((kept.epoch, kept.last_id), (Some(5), Some(599)));
        assert_eq!(kept.recent.len(), HISTORY_PAGE);
        assert_eq!(kept.recent.last().unwrap().text, "m599");
        assert_eq!(
            kept.outbox,
            [(30, "post 30".to_owned()), (20, "post 20".to_owned())],
            "in the order written"
        );
        let rooms = joined_rooms(&db).unwrap();
        assert_eq!(rooms.len(), 1);
        assert_eq!((rooms[0].name.as_str(), rooms[0].addrs.len()), ("Lab", 1));

        MemberStore::new(db.clone(), room.clone()).forget();
        db.flush().await.unwrap();
        assert!(joined_rooms(&db).unwrap().is_empty());
        let kept = MemberStore::new(db, room).load().await.unwrap();
        assert!(kept.outbox.is_empty() && kept.recent.is_empty() && kept.last_id.is_none());
    }
}
