//! Why something a front end asked for could not be done: one enum per request that can
//! fail. The runtime says which case it was; a front end turns it into words once, where it
//! shows it (`Display` gives the words both front ends use).

use crate::net::host::HostError;
use crate::net::session::WhoError;
use crate::protocol::RoomId;
use crate::store::StoreError;
use std::sync::Arc;

/// Why a room could not be hosted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HostFailure {
    /// The room name is not one a room can have, and why.
    #[error("{0}")]
    Name(crate::protocol::Invalid),
    /// A room with this id is open (or opening) already.
    #[error("this room is already open")]
    AlreadyOpen,
    /// The profile's database could not be opened at start: a room would keep no history.
    #[error("{0}")]
    NoDatabase(#[from] DatabaseFailure),
    /// The room's password could not be written to (or read from) its folder.
    #[error("cannot keep the room's password: {0}")]
    Password(Arc<std::io::Error>),
    /// The room could not start: its port, or its history.
    #[error(transparent)]
    Start(Arc<HostError>),
}

/// The profile's database could not be opened at start.
#[derive(Debug, Clone, thiserror::Error)]
#[error("lanchat's database cannot be opened: {0}")]
pub struct DatabaseFailure(pub Arc<StoreError>);

/// Why a search of the messages found nothing to show.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SearchFailure {
    /// There is no database to search.
    #[error("Messages cannot be searched: {0}")]
    NoDatabase(DatabaseFailure),
    /// The database could not answer.
    #[error("The search failed: {0}")]
    Failed(Arc<StoreError>),
}

/// Why an address typed by a person was not joined (or looked at).
#[derive(Debug, Clone, thiserror::Error)]
pub enum JoinFailure {
    /// The name does not stand for any address.
    #[error("cannot resolve {addr}: {source}")]
    Unresolvable {
        addr: String,
        source: Arc<std::io::Error>,
    },
    /// Nobody answered there (after asking again for a while), or the answer was no room.
    #[error("no room at {addr}: {why}")]
    NoRoom { addr: String, why: WhoError },
    /// Another room than the one named runs there.
    #[error("{addr} runs the room {name:?} ({room}), not {expected:?}")]
    OtherRoom {
        addr: String,
        name: String,
        room: RoomId,
        expected: String,
    },
    /// A room called like one joined before runs there, but it is not that room: as a key
    /// change, it is not joined on a name alone.
    #[error(
        "{addr} runs a room called {name:?}, but not the {name:?} you joined before (that was {before}; this is {room}): it may be pretending to be it. To join this one all the same, give its id, {room}"
    )]
    NotTheOneJoined {
        addr: String,
        name: String,
        room: RoomId,
        before: RoomId,
    },
}
