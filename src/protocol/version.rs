//! Which protocol a peer speaks, which build it runs, and why a host turns a member away.

use serde::{Deserialize, Serialize};

/// Bumped when a change would make an older peer misread a newer one. 4: a room password is
/// stretched with Argon2id before SPAKE2 uses it, so version 3 peers would disagree on it.
/// 5: refusals, rejections, closings, waits and cancels carry codes instead of sentences.
pub const PROTOCOL_VERSION: u16 = 5;

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
    /// The room needs a password, and none was given.
    Password,
    /// The password given was wrong.
    WrongPassword,
    /// The password exchange did not finish.
    PasswordUnfinished,
    /// The device is in the room on as many connections as it may hold already.
    Sessions,
    /// As many members as may pass through (sending files) at once are passing already.
    Passing,
    /// The host is receiving the same file from someone else right now.
    Receiving,
    /// The file is larger than the room keeps.
    TooLarge,
    /// The file's hash belongs to another file the host keeps.
    HashTaken,
    /// File connections are for members: join the room first.
    NotMember,
    /// The host is busy with other files: try again in a moment.
    Busy,
    /// Any cause a newer host may add.
    #[serde(other)]
    Other,
}

impl RefuseCode {
    /// The host has no place for this now, and may have in a moment.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            RefuseCode::Busy | RefuseCode::Sessions | RefuseCode::Passing | RefuseCode::Receiving
        )
    }
}

/// Why a host turned a member, an upload or a download away (`Frame::Refused`), with the
/// numbers its words name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The cause.
    pub code: RefuseCode,
    /// The bound the refusal names, where it names one: the bytes free on the host
    /// (`NoSpace`), the largest file the room keeps (`TooLarge`), or the connections a device
    /// may hold (`Sessions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// What was asked for beyond `limit`: the bytes the file needs (`NoSpace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need: Option<u64>,
}

impl Refusal {
    /// A refusal that names no numbers.
    pub fn new(code: RefuseCode) -> Self {
        Self {
            code,
            limit: None,
            need: None,
        }
    }

    /// A refusal naming the bound it met.
    pub fn over(code: RefuseCode, limit: u64) -> Self {
        Self {
            limit: Some(limit),
            ..Self::new(code)
        }
    }
}

impl From<RefuseCode> for Refusal {
    fn from(code: RefuseCode) -> Self {
        Self::new(code)
    }
}
