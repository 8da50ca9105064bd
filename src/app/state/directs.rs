//! Direct messages: the conversation with each other device, the keys pinned for the people
//! we wrote with, and how a conversation's key stands with the one pinned for its name.

use super::AppState;
use crate::bridge::{Command, Event};
use crate::net::identity::PublicKey;
use crate::net::trust::PersonPin;
use crate::protocol::{DeviceId, check_text};
use crate::store::{Direct, Sent};
use std::collections::{BTreeMap, HashMap};

/// The direct messages, and whom they are sealed for.
#[derive(Debug, Default)]
pub struct Directs {
    /// The conversations, by the other device.
    pub conversations: BTreeMap<DeviceId, Conversation>,
    /// The key pinned for each person we exchanged direct messages with, by name: what a
    /// conversation's key is checked against before anything is sealed for it.
    pub people: HashMap<String, PersonPin>,
}

impl Directs {
    /// A person we write with changed their name in a room: their conversation goes by it.
    pub(super) fn renamed(&mut self, peer: &DeviceId, name: &str) {
        if let Some(conversation) = self.conversations.get_mut(peer) {
            conversation.name = name.to_owned();
        }
    }

    /// Takes what the runtime says of direct messages and pinned people; other events are
    /// not this part's ([`Event::Direct`] is followed by the window, for its unread count).
    pub(super) fn apply(&mut self, event: Event) {
        match event {
            Event::People(people) => self.people = people.into_iter().collect(),
            Event::DirectsKept(kept) => {
                for d in kept {
                    self.conversations.entry(d.peer.clone()).or_default().add(d);
                }
            }
            Event::DirectSent { peer, seq } => {
                if let Some(c) = self.conversations.get_mut(&peer) {
                    c.sent(seq, Sent::Delivered);
                }
            }
            Event::DirectFailed { peer, seq, reason } => {
                if let Some(c) = self.conversations.get_mut(&peer) {
                    c.sent(seq, Sent::Failed(reason.to_string()));
                }
            }
            _ => {}
        }
    }

    /// A direct message, ours or theirs, just now: returns whether it is new (not one
    /// relayed again, or ours confirmed).
    pub(super) fn add(&mut self, d: Direct) -> bool {
        let conversation = self.conversations.entry(d.peer.clone()).or_default();
        if conversation.name.is_empty() {
            conversation.name = d.peer_name.clone();
        }
        conversation.add(d)
    }
}

/// How a conversation's other device stands with the key pinned for its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerKey {
    /// Not written to or heard from yet, or not compared: sealed for the key the room's host
    /// gave, which only comparing fingerprints shows to be theirs.
    Unverified,
    /// Its fingerprint was compared with its owner's and marked verified.
    Verified,
    /// Its name had another key when last written to: nothing is sent to this one until the
    /// user accepts it. The fingerprint of the key pinned.
    Changed { pinned: String },
}

/// The direct messages with one other device.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    /// The other user's name, as last heard.
    pub name: String,
    /// Both sides' messages, in the order written or received.
    pub lines: Vec<Direct>,
    /// Theirs that arrived while the conversation was not in front of the user.
    pub unread: usize,
    /// An error to show by the composer (not sent, and why).
    pub error: Option<String>,
}

impl Conversation {
    /// Adds a message, or updates the one it is (relayed again, or ours confirmed); returns
    /// whether it was new.
    fn add(&mut self, d: Direct) -> bool {
        if !d.outgoing {
            self.name = d.peer_name.clone();
        }
        let same = |l: &Direct| l.outgoing == d.outgoing && l.seq == d.seq;
        match self.lines.iter_mut().find(|l| same(l)) {
            Some(known) => {
                known.state = d.state;
                false
            }
            None => {
                self.lines.push(d);
                true
            }
        }
    }

    fn sent(&mut self, seq: u64, state: Sent) {
        if let Some(line) = self.lines.iter_mut().find(|l| l.outgoing && l.seq == seq) {
            line.state = state;
        }
    }
}

/// What the user does with conversations, whose messages go through the rooms.
impl AppState {
    /// Opens the conversation with `peer` (starting one with a member of a room, whose
    /// name it takes until they write).
    pub fn open_direct(&mut self, peer: &DeviceId, name: Option<&str>) {
        let conversation = self.directs.conversations.entry(peer.clone()).or_default();
        if let Some(name) = name
            && conversation.name.is_empty()
        {
            conversation.name = name.to_owned();
        }
        self.open_direct = Some(peer.clone());
        self.look(self.focused);
    }

    /// The name `peer` goes by: as a room we are in lists it now (what its messages are
    /// sealed under, see `Session::seal`), else as its conversation last had it.
    fn peer_name(&self, peer: &DeviceId) -> Option<String> {
        self.chats
            .reach(peer)
            .map(|(_, member)| member.name)
            .or_else(|| self.directs.conversations.get(peer).map(|c| c.name.clone()))
    }

    /// How `peer`'s key stands with what was pinned, as the runtime judges it when sealing
    /// (`Known::of`): its name's pin first, then its key's under any name.
    pub fn peer_key(&self, peer: &DeviceId) -> PeerKey {
        let Some(name) = self.peer_name(peer) else {
            return PeerKey::Unverified;
        };
        let pin = match self.directs.people.get(&name) {
            Some(pin) if &pin.key.device() != peer => {
                return PeerKey::Changed {
                    pinned: pin.key.fingerprint(),
                };
            }
            Some(pin) => Some(pin),
            None => self
                .directs
                .people
                .values()
                .find(|p| &p.key.device() == peer),
        };
        match pin {
            Some(pin) if pin.verified => PeerKey::Verified,
            _ => PeerKey::Unverified,
        }
    }

    /// The name `peer`'s key was pinned under, when it now goes by another one that has no
    /// pin of its own (renamed, or listed under someone else's name).
    pub fn known_as(&self, peer: &DeviceId) -> Option<String> {
        let name = self.peer_name(peer)?;
        if self.directs.people.contains_key(&name) {
            return None;
        }
        self.directs
            .people
            .iter()
            .filter(|(_, pin)| &pin.key.device() == peer)
            .map(|(known_as, _)| known_as.clone())
            .min()
    }

    /// The name and key accepting `peer` would pin: its key is needed, as a room lists it
    /// now or as pinned before, so a device not in any room with us cannot be accepted.
    fn acceptable(&self, peer: &DeviceId) -> Option<(String, PublicKey)> {
        let name = self.peer_name(peer)?;
        let listed = self.chats.reach(peer).and_then(|(_, member)| member.key);
        let pinned = self.directs.people.values().map(|p| p.key);
        let key = listed
            .into_iter()
            .chain(pinned)
            .find(|k| &k.device() == peer)?;
        Some((name, key))
    }

    /// Whether [`AppState::accept_peer`] can act now.
    pub fn can_accept(&self, peer: &DeviceId) -> bool {
        self.acceptable(peer).is_some()
    }

    /// Takes `peer`'s key as its name's (accepting a changed key), or marks it verified.
    pub fn accept_peer(&mut self, peer: &DeviceId, verified: bool) {
        if let Some((name, key)) = self.acceptable(peer) {
            self.outbox.push(Command::AcceptPerson {
                name,
                key,
                verified,
            });
        }
    }

    /// Sends a direct message to `peer`. On refusal the reason is shown and the caller
    /// keeps the text.
    pub fn send_direct(&mut self, peer: &DeviceId, text: &str) -> Result<(), String> {
        let text = text.trim_end_matches(['\n', '\r']);
        let checked = check_text(text).map_err(|reason| format!("Not sent: {reason}."));
        let checked = checked.and_then(|()| match self.peer_key(peer) {
            PeerKey::Changed { .. } => Err(
                "Not sent: their key changed; accept it above first if you know why.".to_owned(),
            ),
            _ => Ok(()),
        });
        let reached = checked.and_then(|()| {
            self.chats
                .reach(peer)
                .ok_or_else(|| "Not sent: they are not in a room you are in right now.".to_owned())
        });
        let conversation = self.directs.conversations.entry(peer.clone()).or_default();
        let (room, to) = match reached {
            Ok(reached) => reached,
            Err(e) => {
                conversation.error = Some(e.clone());
                return Err(e);
            }
        };
        conversation.error = None;
        self.outbox.push(Command::SendDirect {
            room,
            to,
            seq: crate::protocol::new_post_seq(),
            text: text.to_owned(),
        });
        Ok(())
    }
}
