//! Joining and leaving rooms: from the list or an address typed, a locked room's password,
//! a lookalike room or a changed host key asked about first; leaving, or closing a room we
//! host (asked first while others are in it), and quitting while they are.

use super::AppState;
use super::chat::Chat;
use super::rooms::{HostTrust, Probe, Probing};
use crate::bridge::{Command, PasswordNeed, SessionState};
use crate::discovery::AdKey;
use crate::net::identity::PublicKey;
use crate::protocol::{DeviceId, RoomId};
use std::collections::HashSet;

/// A question the window asks before doing something others would feel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// "Close room" on a room we host: everyone in it is sent out.
    CloseRoom(RoomId),
    /// Quitting while people are in rooms we host; `people` of them.
    Quit { people: usize },
    /// A room we are in (or host) is also advertised by a machine with another key: what
    /// that list entry is, when it is clicked.
    OtherKey {
        /// The room.
        room: RoomId,
        /// The room's name.
        room_name: String,
        /// The name the other machine gives as its host.
        host: String,
        /// The fingerprint the other machine claims.
        fingerprint: String,
        /// Whether the room is ours (we host it).
        ours: bool,
    },
}

impl AppState {
    /// Shows a room, joining it first if need be. A locked room waits for its password
    /// (see [`AppState::give_password`]).
    pub fn open_room(&mut self, key: &AdKey) {
        let id = &key.id;
        if let Some(ad) = self.rooms.discovered.get(key)
            && (self.chats.rooms.contains_key(id) || self.rooms.hosting.contains_key(id))
            && self.rooms.trust_of(ad, &self.fingerprint) == HostTrust::Different
        {
            // We are in that room already, with the host we know: say what this entry is.
            self.asking = Some(Ask::OtherKey {
                room: id.clone(),
                room_name: ad.name.clone(),
                host: ad.host.clone(),
                fingerprint: ad.fingerprint.clone().unwrap_or_default(),
                ours: self.rooms.hosting.contains_key(id),
            });
        } else if !self.chats.rooms.contains_key(id) {
            let (name, host, addrs, locked) =
                match (self.rooms.discovered.get(key), self.rooms.hosting.get(id)) {
                    (_, Some((name, _, _))) => (name.clone(), self.name.clone(), Vec::new(), false),
                    (Some(ad), None) => (
                        ad.name.clone(),
                        ad.host.clone(),
                        ad.addrs.clone(),
                        ad.locked,
                    ),
                    (None, None) => return,
                };
            // A room claiming a key other than the one we know is asked about first: its
            // host's key is checked before anything, a password included, would be tried.
            let different = self.rooms.discovered.get(key).is_some_and(|ad| {
                self.rooms
                    .pinned
                    .get(id)
                    .is_some_and(|pin| ad.fingerprint.as_ref() != Some(pin))
            });
            let lookalike = self.rooms.discovered.get(key).is_some_and(|ad| {
                self.rooms.trust_of(ad, &self.fingerprint) == HostTrust::Lookalike
            });
            let mut chat = Chat::new(name, host);
            if lookalike {
                // Asked first (see `join_lookalike`); its password after that.
                chat.lookalike = true;
                chat.addrs = addrs;
                chat.asked_to_join = false;
                if locked {
                    chat.state = SessionState::NeedsPassword(PasswordNeed::Missing);
                }
            } else if locked && !different {
                chat.state = SessionState::NeedsPassword(PasswordNeed::Missing);
                chat.addrs = addrs;
                chat.asked_to_join = false;
            } else if !self.rooms.hosting.contains_key(id) {
                self.outbox.push(Command::Join {
                    room: id.clone(),
                    addrs,
                    password: None,
                });
            }
            self.chats.rooms.insert(id.clone(), chat);
        }
        self.open = Some(id.clone());
        self.open_direct = None;
        self.look(self.focused);
    }

    /// Tries a room's password: joins with it, or retries a join the host refused.
    pub fn give_password(&mut self, room: &RoomId, password: &str) -> Result<(), String> {
        if password.is_empty() {
            return Err("Type the room's password".into());
        }
        let Some(chat) = self.chats.rooms.get_mut(room) else {
            return Err("this room is closed".into());
        };
        chat.state = SessionState::Connecting;
        chat.checking_password = true;
        let password = password.to_owned();
        if chat.asked_to_join {
            self.outbox.push(Command::Unlock {
                room: room.clone(),
                password,
            });
        } else {
            chat.asked_to_join = true;
            self.outbox.push(Command::Join {
                room: room.clone(),
                addrs: std::mem::take(&mut chat.addrs),
                password: Some(password),
            });
        }
        Ok(())
    }

    /// Joins a lookalike room (named like one joined before) the user was told about and
    /// chose to join all the same; a locked one asks its password next.
    pub fn join_lookalike(&mut self, room: &RoomId) {
        let Some(chat) = self.chats.rooms.get_mut(room) else {
            return;
        };
        chat.lookalike = false;
        if matches!(chat.state, SessionState::NeedsPassword(_)) {
            return;
        }
        chat.asked_to_join = true;
        self.outbox.push(Command::Join {
            room: room.clone(),
            addrs: std::mem::take(&mut chat.addrs),
            password: None,
        });
    }

    /// Trusts the new key a room's host presented, and joins.
    pub fn trust_new_key(&mut self, room: &RoomId, key: PublicKey) {
        self.rooms.pinned.insert(room.clone(), key.fingerprint());
        if let Some(chat) = self.chats.rooms.get_mut(room) {
            chat.stayed_out = None;
            chat.state = SessionState::Connecting;
            chat.notice(format!(
                "You trusted the host's new key {}",
                key.fingerprint()
            ));
        }
        self.outbox.push(Command::TrustHostKey {
            room: room.clone(),
            key,
        });
    }

    /// "Stay out" of a host presenting another key: the room stays, waiting for the host
    /// known, with whatever was written for it.
    pub fn stay_out(&mut self, room: &RoomId, key: PublicKey) {
        if let Some(chat) = self.chats.rooms.get_mut(room) {
            chat.state = SessionState::Waiting(crate::bridge::Waiting::OtherKey);
            chat.stayed_out = Some(key);
            chat.notice(format!(
                "You stayed out of a machine presenting the key {}; waiting for the host you know",
                key.fingerprint()
            ));
        }
        self.outbox.push(Command::StayOut {
            room: room.clone(),
            key,
        });
    }

    /// "Leave", or "Close room" on a room we host: asked first if anyone else is in it.
    pub fn leave_or_ask(&mut self, id: &RoomId) {
        if self.rooms.hosting.contains_key(id) && self.guests(Some(id)) > 0 {
            self.asking = Some(Ask::CloseRoom(id.clone()));
        } else {
            self.leave(id);
        }
    }

    /// The people other than us in the rooms we host (in `room` only, if given), each
    /// counted once.
    pub fn guests(&self, room: Option<&RoomId>) -> usize {
        let devices: HashSet<&DeviceId> = self
            .rooms
            .hosting
            .keys()
            .filter(|id| room.is_none_or(|r| r == *id))
            .filter_map(|id| self.chats.rooms.get(id))
            .flat_map(|chat| chat.members.iter().map(|m| &m.device))
            .filter(|device| **device != self.me)
            .collect();
        devices.len()
    }

    /// The window is asked to close (or Ctrl+Q): whether it may, or must ask first
    /// because people are in rooms we host.
    pub fn may_quit(&mut self) -> bool {
        if self.quitting {
            return true;
        }
        match self.guests(None) {
            0 => true,
            people => {
                self.asking = Some(Ask::Quit { people });
                false
            }
        }
    }

    /// Leaves a room (closing it, if we host it).
    pub fn leave(&mut self, id: &RoomId) {
        if self.rooms.hosting.contains_key(id) {
            self.outbox.push(Command::StopHosting(id.clone()));
        } else {
            self.outbox.push(Command::Leave(id.clone()));
            self.preferences.forget(id);
        }
        self.chats.rooms.remove(id);
        if self.open.as_ref() == Some(id) {
            self.open = None;
        }
    }

    /// Joins the room the address the user typed runs: listed like a room discovery found,
    /// and joined as one (its password asked for, its host key checked); the session keeps
    /// the address to come back to.
    pub fn join_probed(&mut self) {
        let Some(Probe {
            found: Probing::Found(ad),
            ..
        }) = self.rooms.probe.take()
        else {
            return;
        };
        let key = ad.key();
        self.rooms.discovered.insert(key.clone(), ad);
        self.open_room(&key);
    }
}
