//! Keys: pinning a room host's new key when the user trusts it, and accepting a person's.

use super::{Internal, Runtime};
use crate::bridge::Event;
use crate::net::identity::PublicKey;
use crate::protocol::RoomId;

impl Runtime {
    /// Pins the new key a room's host presented, then lets its session try again.
    pub(super) fn trust_key(&mut self, room: RoomId, key: PublicKey) {
        let (trust, internal) = (self.trust.clone(), self.internal.clone());
        let events = self.events.clone();
        tokio::spawn(async move {
            let name = trust.pin(&room).map(|p| p.room_name).unwrap_or_default();
            let (pinning, id) = (trust.clone(), room.clone());
            let saved = tokio::task::spawn_blocking(move || pinning.trust(&id, key, &name)).await;
            if let Ok(Err(e)) = saved {
                events.send(Event::Alert(format!(
                    "The room's new key is trusted for now but could not be saved: {e}"
                )));
            }
            let _ = internal.send(Internal::Trusted(room));
        });
    }

    /// The user stays out of the machine presenting `key` for `room`: its session waits for
    /// the host key pinned.
    pub(super) fn stay_out(&mut self, room: RoomId, key: PublicKey) {
        if let Some(session) = self.sessions.get(&room) {
            session.distrust(key);
        }
    }

    /// A room's new host key is pinned: its session may try again.
    pub(super) fn trusted(&mut self, room: RoomId) {
        if let Some(session) = self.sessions.get(&room) {
            session.retry();
        }
    }

    /// Takes `key` as the person called `name`'s from now on, saved off the loop; the front
    /// end is told the people known either way.
    pub(super) fn accept_person(&mut self, name: String, key: PublicKey, verified: bool) {
        let (people, events) = (self.people.clone(), self.events.clone());
        tokio::task::spawn_blocking(move || {
            if let Err(e) = people.accept(&name, key, verified) {
                events.send(Event::Alert(format!("could not save {name}'s key: {e}")));
            }
            events.send(Event::People(people.all()));
        });
    }
}
