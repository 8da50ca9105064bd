//! Which protocol a peer speaks, which build it runs, and why a host turns a member away.

use serde::{Deserialize, Serialize};

/// Bumped when a change would make an older peer misread a newer one. 4: a room password is
/// stretched with Argon2id before SPAKE2 uses it, so version 3 peers would disagree on it.
pub const PROTOCOL_VERSION: u16 = 4;

/// This build's version, sent in `Hello`.
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why a host turned a member away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefuseCode {
    /// The member speaks another protocol version.
    Version,
    /// The room has [`MAX_MEMBERS`](super::MAX_MEMBERS) members.
    Full,
    /// This host does not run the room the member asked for.
    WrongRoom,
    /// The hello itself was unacceptable (e.g. an empty name).
    BadHello,
    /// The host has no room on its disk for the file.
    NoSpace,
    /// The host no longer keeps the file asked for.
    Gone,
    /// The file offer was unacceptable.
    BadOffer,
    /// The room needs a password, or the one given was wrong.
    Password,
    /// File connections are for members: join the room first.
    NotMember,
    /// The host has no place for this now: try again in a moment.
    Busy,
    /// Any cause a newer host may add.
    #[serde(other)]
    Other,
}
