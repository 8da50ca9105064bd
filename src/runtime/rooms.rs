//! The rooms this app is in: joining (with a password stretched off the loop), going back
//! into them at start, leaving, and what the user says and does in them.

use super::{GOODBYE_LIMIT, Internal, Runtime};
use crate::bridge::{Event, Rejection};
use crate::net::identity::PublicKey;
use crate::net::password::RoomSecret;
use crate::net::session::{Session, SessionConfig};
use crate::net::trust::KnownHosts;
use crate::protocol::{Member, RoomId};
use crate::store::{DirectStore, HostedRoom, MemberStore, Paths, joined_rooms};
use std::net::SocketAddr;

/// Stretches a typed password into a room's secret on a blocking thread (it takes a
/// memory-hard moment).
pub(super) async fn secret(room: &RoomId, password: String) -> RoomSecret {
    let room = room.clone();
    tokio::task::spawn_blocking(move || RoomSecret::derive(&room, &password))
        .await
        .expect("stretching a password does not panic")
}

/// The secret remembered for a locked room we were in, if it was proven to the key the room
/// is pinned to now (a key accepted since asks for the password again). Blocking.
fn remembered(paths: &Paths, trust: &KnownHosts, room: &RoomId) -> Option<RoomSecret> {
    let pin = trust.pin(room)?;
    RoomSecret::recall(&paths.let_in_file(room), &pin.key)
        .inspect_err(|e| tracing::warn!("the password remembered for a room: {e}"))
        .ok()
        .flatten()
}

impl Runtime {
    /// Joins a room at these addresses, its session dialling them; in a room we are in
    /// already, its session is given the password and the addresses anew instead.
    pub(super) fn join(
        &mut self,
        room: RoomId,
        addrs: Vec<SocketAddr>,
        password: Option<RoomSecret>,
    ) {
        if !addrs.is_empty() {
            self.room_addrs.insert(room.clone(), addrs.clone());
        }
        if let Some(session) = self.sessions.get(&room) {
            if let Some(secret) = password {
                session.password(secret);
            }
            if !addrs.is_empty() {
                session.redial(addrs);
            }
            return;
        }
        // A room joined afresh starts with its messages queued, whatever was left of an
        // earlier stay.
        self.events.caught_up(&room);
        let config = SessionConfig {
            room: room.clone(),
            addrs,
            name: self.prefs.name(),
            identity: self.identity.clone(),
            trust: self.trust.clone(),
            people: self.people.clone(),
            password,
            resume: self.resume,
            passing: self.passing,
            host_gone: Some(self.host_gone.clone()),
            timeouts: self.timeouts,
            store: self.member_store(&room),
            directs: self.db.as_ref().ok().cloned().map(DirectStore::new),
        };
        let session = Session::spawn(config, self.reports.clone());
        if self.away {
            session.presence(true);
        }
        self.sessions.insert(room, session);
    }

    /// The member's record of a room we are in; none for the rooms we host (their history is
    /// the host's) or without a database.
    pub(super) fn member_store(&self, room: &RoomId) -> Option<MemberStore> {
        let db = self.db.as_ref().ok()?;
        (!self.hosts.contains_key(room)).then(|| MemberStore::new(db.clone(), room.clone()))
    }

    /// Goes back into the rooms this profile was in when it last ran, at the addresses they
    /// were last reached at (discovery redials them where it sees them now).
    pub(super) async fn restore(&mut self) {
        if self.prefs.settings().reopen_rooms {
            let open: Vec<HostedRoom> = self
                .prefs
                .settings()
                .hosted
                .iter()
                .filter(|r| r.open)
                .cloned()
                .collect();
            // Oldest first, so the most recent ends up the room on screen.
            for room in open.into_iter().rev() {
                self.host(room.name, Some(room.id), None);
            }
        }
        let Ok(db) = self.db.clone() else {
            return;
        };
        // The conversations of earlier runs, before anything new comes.
        match DirectStore::new(db.clone()).all().await {
            Ok(directs) => self.events.send(Event::DirectsKept(directs)),
            Err(e) => tracing::warn!("the direct messages kept cannot be read: {e}"),
        }
        let (paths, trust) = (self.paths.clone(), self.trust.clone());
        let rooms = tokio::task::spawn_blocking(move || {
            let rooms = joined_rooms(&db)?;
            Ok(rooms
                .into_iter()
                .map(|joined| {
                    let secret = remembered(&paths, &trust, &joined.room);
                    (joined, secret)
                })
                .collect::<Vec<_>>())
        })
        .await
        .unwrap_or_else(|e| Err(crate::store::StoreError::Sqlite(e.to_string())));
        let rooms = match rooms {
            Ok(rooms) => rooms,
            Err(e) => return tracing::warn!("the rooms we were in cannot be read: {e}"),
        };
        for (joined, secret) in rooms {
            self.events.send(Event::Restored {
                room: joined.room.clone(),
                room_name: joined.name,
                host_name: joined.host,
            });
            self.join(joined.room, joined.addrs, secret);
        }
    }

    /// Joins a room the front end chose; its password, if any, is stretched off the loop
    /// first (see `RoomSecret::derive`) and [`Runtime::stretched`] joins with it.
    pub(super) fn join_asked(
        &mut self,
        room: RoomId,
        addrs: Vec<SocketAddr>,
        password: Option<String>,
    ) {
        let Some(password) = password else {
            return self.join(room, addrs, None);
        };
        let internal = self.internal.clone();
        self.stretching.insert(room.clone());
        tokio::spawn(async move {
            let password = secret(&room, password).await;
            let _ = internal.send(Internal::Stretched {
                room,
                addrs,
                password,
            });
        });
    }

    /// A room's password to join with is stretched: joins it, unless it was left meanwhile.
    pub(super) fn stretched(&mut self, room: RoomId, addrs: Vec<SocketAddr>, password: RoomSecret) {
        if self.stretching.remove(&room) {
            self.join(room, addrs, Some(password));
        }
    }

    /// Stretches the password typed for a locked room off the loop; [`Runtime::unlocked`]
    /// hands it to the room's session.
    pub(super) fn unlock(&mut self, room: RoomId, password: String) {
        let internal = self.internal.clone();
        tokio::spawn(async move {
            let secret = secret(&room, password).await;
            let _ = internal.send(Internal::Unlocked(room, secret));
        });
    }

    /// The password typed for a room, stretched: its session tries it.
    pub(super) fn unlocked(&mut self, room: RoomId, secret: RoomSecret) {
        if let Some(session) = self.sessions.get(&room) {
            session.password(secret);
        }
    }

    /// The host checked our password for `room` and let us in: the secret is remembered (off
    /// the loop) so the room reopens at the next start without asking.
    pub(super) fn remember_password(&mut self, room: &RoomId, secret: RoomSecret, host: PublicKey) {
        let file = self.paths.let_in_file(room);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = secret.remember(&host, &file) {
                tracing::warn!("could not remember the password of a room: {e}");
            }
        });
    }

    /// The password remembered for `room` is wrong now, or the room is left: forgotten.
    pub(super) fn forget_password(&mut self, room: &RoomId) {
        let file = self.paths.let_in_file(room);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = RoomSecret::forget(&file) {
                tracing::warn!("could not forget the password of a room: {e}");
            }
        });
    }

    /// Leaves a room: its settings and transfers go at once, the goodbye in the background,
    /// and the member's record of it once the session has stopped writing.
    pub(super) fn leave(&mut self, room: RoomId) {
        self.stretching.remove(&room);
        self.forget_password(&room);
        self.prefs.forget_room(&room);
        self.events.caught_up(&room);
        self.room_addrs.remove(&room);
        self.transfers.cancel_room(&room);
        let store = self.member_store(&room);
        if let Some(session) = self.sessions.remove(&room) {
            self.goodbyes.spawn(async move {
                session.leave(GOODBYE_LIMIT).await;
                // Once the session has stopped writing: we are no longer in the room.
                if let Some(store) = store {
                    store.forget();
                }
            });
        }
    }

    /// Posts a message to a room we are in.
    pub(super) fn post(&mut self, room: RoomId, seq: u64, text: String) {
        match self.sessions.get(&room) {
            Some(session) => session.post(seq, text),
            None => self.events.send(Event::Rejected {
                room,
                seq,
                reason: Rejection::NotInRoom,
            }),
        }
    }

    /// Sends a direct message to a member, through the room we share with them.
    pub(super) fn send_direct(&mut self, room: RoomId, to: Member, seq: u64, text: String) {
        match self.sessions.get(&room) {
            Some(session) => session.direct(to, seq, text),
            None => self.events.send(Event::DirectFailed {
                peer: to.device,
                seq,
                reason: Rejection::NotInRoom,
            }),
        }
    }

    /// Tells every room whether the user is away, and remembers it for rooms joined later.
    pub(super) fn presence(&mut self, away: bool) {
        self.away = away;
        for session in self.sessions.values() {
            session.presence(away);
        }
    }

    /// The user is typing in a room: its session tells the others.
    pub(super) fn typing(&mut self, room: RoomId) {
        if let Some(session) = self.sessions.get(&room) {
            session.typing();
        }
    }
}
