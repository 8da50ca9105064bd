//! The room list: rooms on the network and the ones we host, how each host's key stands
//! with the one pinned, and "join by address".

use crate::discovery::{AdKey, RoomAd};
use crate::protocol::{PROTOCOL_VERSION, RoomId};

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
    pub id: RoomId,
    pub name: String,
    pub host: String,
    pub members: u32,
    pub locked: bool,
    pub hosted_by_me: bool,
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
    pub addr: String,
    pub found: Probing,
}

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
    pub id: RoomId,
    pub name: String,
    pub host: String,
    pub hosted_by_me: bool,
    /// Messages from others not seen yet.
    pub unread: usize,
    /// Whether one of them mentions us.
    pub mentioned: bool,
    /// Why we are not in it right now, in words ("waiting for the host"), if so.
    pub away: Option<String>,
}

/// Why a room of another protocol version cannot be joined, in words for the user.
pub(super) fn version_gap(ad: &RoomAd) -> Option<String> {
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
