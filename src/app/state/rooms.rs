//! The room list: rooms on the network and the ones we host (and hosted before), how each
//! host's key stands with the one pinned, "Your rooms" at its top, and "join by address".
//! Joining one is in [`super::joining`].

use super::AppState;
use crate::bridge::{Command, Event, SessionState};
use crate::discovery::{AdKey, RoomAd};
use crate::net::identity::PublicKey;
use crate::protocol::{PROTOCOL_VERSION, RoomId, check_name};
use crate::store::{HostedRoom, Settings};
use std::collections::{BTreeMap, HashMap};

/// What the window knows of rooms apart from being in them.
#[derive(Debug)]
pub struct Rooms {
    /// Rooms seen on the network, by id and claimed key.
    pub discovered: BTreeMap<AdKey, RoomAd>,
    /// Rooms we host now: id → (name, port, locked).
    pub hosting: BTreeMap<RoomId, (String, u16, bool)>,
    /// Rooms we hosted before, most recent first, to host again.
    pub remembered: Vec<HostedRoom>,
    /// The fingerprint of the host key pinned for each room we joined: an advert claiming
    /// another is flagged.
    pub pinned: HashMap<RoomId, String>,
    /// The room we joined under each name, most lately: a room of the same name and another
    /// id is a lookalike (see [`HostTrust::Lookalike`]).
    pub joined_names: HashMap<String, RoomId>,
    /// "Join by address": the address asked about and what is there.
    pub probe: Option<Probe>,
}

/// How a listed room's host key stands with us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostTrust {
    /// We host it.
    Mine,
    /// Its advert names the key we pinned when we first joined it.
    Known,
    /// Never joined: its key will be pinned on the first join.
    New,
    /// Its advert names another key than the one we pinned: another machine may be
    /// pretending to be the room.
    Different,
    /// Never joined, but named like a room we joined (another room with that name): another
    /// machine may be pretending to be that one. Joined only once the user says so.
    Lookalike,
}

/// A row of the room list: a room on the network, or one we host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    /// Which list entry this is (one room id claimed by two keys is two rows).
    pub key: AdKey,
    /// The room, to join or show.
    pub id: RoomId,
    /// The room's name, as advertised.
    pub name: String,
    /// Its host's display name.
    pub host: String,
    /// How many are in it.
    pub members: u32,
    /// Whether joining needs its password (shown with a lock).
    pub locked: bool,
    /// Whether we host it (it closes rather than being left).
    pub hosted_by_me: bool,
    /// Whether we are in it.
    pub joined: bool,
    /// Why this room cannot be joined (another protocol version), if so.
    pub unjoinable: Option<String>,
    /// The fingerprint of the host key its advert claims.
    pub fingerprint: Option<String>,
    /// How that key stands with what we pinned.
    pub trust: HostTrust,
}

/// An address typed by the user, and what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// As typed (trimmed): an answer for another address is not this one's.
    pub addr: String,
    /// What is there, as far as known.
    pub found: Probing,
}

/// What an address asked about runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probing {
    /// Asked; no answer yet.
    Asking,
    /// The room there.
    Found(RoomAd),
    /// Nothing to join there, and why.
    Failed(String),
}

/// A row of "Your rooms": a room we are in, listed while its host is away too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyRoom {
    /// The room, to show.
    pub id: RoomId,
    /// Its name, as its host last said.
    pub name: String,
    /// Its host's display name, as last said.
    pub host: String,
    /// Whether we host it.
    pub hosted_by_me: bool,
    /// Messages from others not seen yet.
    pub unread: usize,
    /// Whether one of them mentions us.
    pub mentioned: bool,
    /// Why we are not in it right now, in words ("waiting for the host"), if so.
    pub away: Option<String>,
}

/// Why a room of another protocol version cannot be joined, in words for the user.
fn version_gap(ad: &RoomAd) -> Option<String> {
    let host = crate::app::text::name(&ad.host);
    let versions = format!(
        "protocol {}, this app speaks {PROTOCOL_VERSION}",
        ad.protocol
    );
    match ad.protocol.cmp(&PROTOCOL_VERSION) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(format!(
            "{host}'s room runs a newer lanchat — update to join ({versions})"
        )),
        std::cmp::Ordering::Less => Some(format!(
            "{host}'s room runs an older lanchat — {host} needs to update ({versions})"
        )),
    }
}

impl Rooms {
    /// The room list at start: nothing seen yet, the rooms hosted in earlier runs.
    pub fn new(settings: &Settings) -> Self {
        Self {
            discovered: BTreeMap::new(),
            hosting: BTreeMap::new(),
            remembered: settings.hosted.clone(),
            pinned: HashMap::new(),
            joined_names: HashMap::new(),
            probe: None,
        }
    }

    /// Takes what the runtime says of the room list; other events are not this part's.
    pub(super) fn apply(&mut self, event: Event) {
        match event {
            Event::RoomFound(ad) => {
                self.discovered.insert(ad.key(), ad);
            }
            Event::RoomLost(key) => {
                self.discovered.remove(&key);
            }
            Event::KnownHosts(pins) => {
                for (room, fingerprint, name) in pins {
                    self.pinned.insert(room.clone(), fingerprint);
                    self.joined_names.insert(name, room);
                }
            }
            Event::HostingStopped { room } => {
                self.hosting.remove(&room);
                if let Some(remembered) = self.remembered.iter_mut().find(|r| r.id == room) {
                    remembered.open = false;
                }
            }
            Event::Probed { addr, found } => {
                if let Some(probe) = self.probe.as_mut().filter(|p| p.addr == addr) {
                    probe.found = match found {
                        Ok(ad) => Probing::Found(ad),
                        Err(why) => Probing::Failed(why.to_string()),
                    };
                }
            }
            _ => {}
        }
    }

    /// We host `room` now, under our key (`fingerprint`): it heads the rooms to host again.
    pub(super) fn hosting(
        &mut self,
        room: &RoomId,
        name: &str,
        port: u16,
        locked: bool,
        fingerprint: &str,
    ) {
        self.pinned.insert(room.clone(), fingerprint.to_owned());
        self.remembered.retain(|r| r.id != *room);
        self.remembered.insert(
            0,
            HostedRoom {
                id: room.clone(),
                name: name.to_owned(),
                port,
                open: true,
            },
        );
        self.hosting
            .insert(room.clone(), (name.to_owned(), port, locked));
    }

    /// We were let into `room`, called `name`, by the host key `host_key` (now pinned).
    pub(super) fn joined(&mut self, room: &RoomId, name: &str, host_key: &PublicKey) {
        self.pinned.insert(room.clone(), host_key.fingerprint());
        self.joined_names.insert(name.to_owned(), room.clone());
    }

    /// How an advert's claimed key stands with the key pinned for its room; `fingerprint`
    /// is ours.
    pub(super) fn trust_of(&self, ad: &RoomAd, fingerprint: &str) -> HostTrust {
        if self.hosting.contains_key(&ad.id) {
            // Our own room, advertised by us or by a machine claiming it.
            return if ad.fingerprint.as_deref() == Some(fingerprint) {
                HostTrust::Mine
            } else {
                HostTrust::Different
            };
        }
        match self.pinned.get(&ad.id) {
            None if self
                .joined_names
                .get(&ad.name)
                .is_some_and(|id| *id != ad.id) =>
            {
                HostTrust::Lookalike
            }
            None => HostTrust::New,
            Some(pinned) if ad.fingerprint.as_ref() == Some(pinned) => HostTrust::Known,
            Some(_) => HostTrust::Different,
        }
    }

    /// Remembered rooms that are not open now, to host again.
    pub fn rehostable(&self) -> impl Iterator<Item = &HostedRoom> {
        self.remembered
            .iter()
            .filter(|r| !self.hosting.contains_key(&r.id))
    }

    /// Asks an address the user typed (`host:port`) which room it runs.
    pub fn probe(&mut self, addr: &str, outbox: &mut Vec<Command>) -> Result<(), String> {
        let addr = addr.trim();
        let (host, _) = addr
            .rsplit_once(':')
            .filter(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
            .ok_or("Type the host and its port, like 192.168.1.20:40123")?;
        // An IPv6 address is written in brackets before its port.
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            return Err("Put an IPv6 address in brackets: [fe80::1]:40123".into());
        }
        self.probe = Some(Probe {
            addr: addr.to_owned(),
            found: Probing::Asking,
        });
        outbox.push(Command::Probe {
            addr: addr.to_owned(),
        });
        Ok(())
    }
}

/// The lists drawn, made of the room list and the rooms we are in; hosting.
impl AppState {
    /// The room list: rooms on the network and our own, by name.
    pub fn room_rows(&self) -> Vec<RoomRow> {
        let rooms = &self.rooms;
        let mut rows: Vec<RoomRow> = rooms
            .discovered
            .values()
            .map(|ad| (ad, rooms.trust_of(ad, &self.fingerprint)))
            .map(|(ad, trust)| RoomRow {
                key: ad.key(),
                trust,
                fingerprint: ad.fingerprint.clone(),
                id: ad.id.clone(),
                name: ad.name.clone(),
                host: ad.host.clone(),
                members: ad.members,
                locked: ad.locked,
                // Only with our key: another machine advertising our room is not "you".
                hosted_by_me: trust == HostTrust::Mine,
                joined: self.chats.rooms.contains_key(&ad.id),
                unjoinable: version_gap(ad),
            })
            .collect();
        for (id, (name, _, locked)) in &rooms.hosting {
            let key = AdKey {
                id: id.clone(),
                fingerprint: Some(self.fingerprint.clone()),
            };
            if !rooms.discovered.contains_key(&key) {
                rows.push(RoomRow {
                    key,
                    id: id.clone(),
                    name: name.clone(),
                    host: self.name.clone(),
                    members: self
                        .chats
                        .rooms
                        .get(id)
                        .map_or(0, |c| c.members.len() as u32),
                    locked: *locked,
                    hosted_by_me: true,
                    joined: self.chats.rooms.contains_key(id),
                    unjoinable: None,
                    fingerprint: Some(self.fingerprint.clone()),
                    trust: HostTrust::Mine,
                });
            }
        }
        rows.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.id.cmp(&b.id))
                .then(a.fingerprint.cmp(&b.fingerprint))
        });
        rows
    }

    /// The rooms we are in, for the top of the room list: by name, with how each stands.
    pub fn my_rooms(&self) -> Vec<MyRoom> {
        let mut rooms: Vec<MyRoom> = self
            .chats
            .rooms
            .iter()
            .map(|(id, chat)| MyRoom {
                id: id.clone(),
                name: chat.room_name.clone(),
                host: chat.host_name.clone(),
                hosted_by_me: self.rooms.hosting.contains_key(id),
                unread: chat.unread,
                mentioned: chat.mentioned,
                away: match &chat.state {
                    SessionState::Waiting(_) => Some("waiting for the host".to_owned()),
                    SessionState::Failed(_) => Some("not connected".to_owned()),
                    SessionState::NeedsPassword(_) => Some("needs the password".to_owned()),
                    SessionState::KeyChanged { .. } => Some("host key changed".to_owned()),
                    _ => None,
                },
            })
            .collect();
        rooms.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.id.cmp(&b.id))
        });
        rooms
    }

    /// The name a new room gets by default.
    pub fn default_room_name(&self) -> String {
        crate::store::clamp_name(&format!("{}'s room", self.name))
    }

    /// Hosts a new room, locked with `password` unless it is empty. Returns the reason if the
    /// name is not acceptable.
    pub fn host(&mut self, name: &str, password: &str) -> Result<(), String> {
        let name = name.trim();
        check_name("The room name", name).map_err(|e| e.to_string())?;
        self.outbox.push(Command::Host {
            name: name.to_owned(),
            id: None,
            password: Some(password.to_owned()),
        });
        Ok(())
    }

    /// Hosts a remembered room again, with its id, history and password.
    pub fn rehost(&mut self, room: &HostedRoom) {
        self.outbox.push(Command::Host {
            name: room.name.clone(),
            id: Some(room.id.clone()),
            password: None,
        });
    }
}
