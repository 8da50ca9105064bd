//! Direct messages, as this device keeps them: both sides of every conversation, in the
//! profile's database, so conversations survive restarts. Only the two devices ever hold
//! the text; the host that relayed a message saw it sealed (see [`crate::net::sealed`]).

use super::database::{Database, StoreError};
use crate::protocol::{DeviceId, RoomId};
use rusqlite::params;

/// One direct message, ours or theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Direct {
    /// The other device of the conversation.
    pub peer: DeviceId,
    /// Its user's name: the name its key has in the room (or, once it left, the name it was
    /// first met under), never what a message says of itself.
    pub peer_name: String,
    /// Theirs only: the name the sender gave inside the message, where it is not
    /// `peer_name` (a member posing as someone else, or one renamed meanwhile).
    pub claimed: Option<String>,
    /// Whether we sent it.
    pub outgoing: bool,
    /// The sender's number for it: with the sender, what makes it one message however often
    /// it is relayed.
    pub seq: u64,
    /// When it was written, milliseconds since the Unix epoch (the sender's clock).
    pub ts: i64,
    pub text: String,
    /// The room whose host relayed it.
    pub room: RoomId,
    /// Ours only: how its sending stands.
    pub state: Sent,
}

/// How sending one of our direct messages stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// On its way.
    Sending,
    /// Handed to the other device's connection.
    Delivered,
    /// Not delivered, and why, in the words the person was told then: a record outlives the
    /// code that made it (a later lanchat reads it back without knowing that code), so the
    /// store keeps the sentence, not the reason.
    Failed(String),
}

impl Sent {
    fn to_db(&self) -> (&'static str, Option<&str>) {
        match self {
            Sent::Sending => ("sending", None),
            Sent::Delivered => ("delivered", None),
            Sent::Failed(why) => ("failed", Some(why)),
        }
    }

    fn from_db(state: &str, why: Option<String>) -> Sent {
        match state {
            "delivered" => Sent::Delivered,
            // One still sending when lanchat stopped was never confirmed.
            "sending" => Sent::Failed("lanchat stopped before it was delivered".into()),
            _ => Sent::Failed(why.unwrap_or_default()),
        }
    }
}

/// The profile's direct messages.
#[derive(Debug, Clone)]
pub struct DirectStore {
    db: Database,
}

impl DirectStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Keeps a message (once: the same one relayed again is not kept twice).
    pub fn keep(&self, d: &Direct) {
        let d = d.clone();
        self.db.submit(
            move |c| {
                let (state, why) = d.state.to_db();
                c.prepare_cached(
                    "INSERT OR IGNORE INTO directs
                     (peer, outgoing, seq, peer_name, ts, text, room, state, why, claimed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![
                    d.peer.as_str(),
                    d.outgoing,
                    d.seq as i64,
                    d.peer_name,
                    d.ts,
                    d.text,
                    d.room.as_str(),
                    state,
                    why,
                    d.claimed
                ])
            },
            |r| {
                if let Err(e) = r {
                    tracing::warn!("a direct message could not be kept: {e}");
                }
            },
        );
    }

    /// Records how sending one of ours went.
    pub fn sent(&self, peer: &DeviceId, seq: u64, state: Sent) {
        let peer = peer.as_str().to_owned();
        self.db.submit(
            move |c| {
                let (state, why) = state.to_db();
                c.execute(
                    "UPDATE directs SET state = ?3, why = ?4
                     WHERE peer = ?1 AND outgoing = 1 AND seq = ?2",
                    params![peer, seq as i64, state, why],
                )
            },
            |_| {},
        );
    }

    /// Every direct message kept, oldest first (off the async threads).
    pub async fn all(&self) -> Result<Vec<Direct>, StoreError> {
        self.db
            .read_async(|c| {
                let mut stmt = c.prepare(
                    "SELECT peer, peer_name, outgoing, seq, ts, text, room, state, why, claimed
                     FROM directs ORDER BY ts, rowid",
                )?;
                let rows = stmt
                    .query_map([], |r| {
                        let peer: String = r.get(0)?;
                        let room: String = r.get(6)?;
                        Ok((
                            DeviceId::parse(&peer),
                            RoomId::parse(&room),
                            r.get::<_, String>(1)?,
                            r.get::<_, bool>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, String>(5)?,
                            Sent::from_db(&r.get::<_, String>(7)?, r.get(8)?),
                            r.get::<_, Option<String>>(9)?,
                        ))
                    })?
                    .filter_map(Result::ok)
                    .filter_map(
                        |(peer, room, peer_name, outgoing, seq, ts, text, state, claimed)| {
                            Some(Direct {
                                peer: peer?,
                                peer_name,
                                claimed,
                                outgoing,
                                seq: seq as u64,
                                ts,
                                text,
                                room: room?,
                                state,
                            })
                        },
                    )
                    .collect();
                Ok(rows)
            })
            .await
    }
}
