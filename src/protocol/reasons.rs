//! Why a host turns something away, closes, asks to wait or stops a transfer: codes on the
//! wire, never sentences. The words a person reads are the front ends'
//! (`crate::bridge::words`). Each enum decodes a code from a newer peer as its `Other`, so a
//! future cause is still a readable refusal rather than a protocol error.

use serde::{Deserialize, Serialize};

/// Why a host did not store a post, or did not hand on a direct message (`Frame::Rejected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// The sender went past the room's limits (posts or bytes per second).
    TooFast,
    /// The host could not write it to its disk.
    NotSaved,
    /// The direct message's recipient is not in the room.
    NotInRoom,
    /// The direct message's recipient left while it arrived.
    LeftAsItArrived,
    /// Any cause a newer host may add.
    #[serde(other)]
    Other,
}

/// Why a host closes its room (`Frame::Closing`); the member says it with the host's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseCode {
    /// The host's user closed the room.
    Closed,
    /// The host's lanchat quit.
    Quit,
    /// The room stopped by itself (its host let go of it).
    Stopped,
    /// Any cause a newer host may add.
    #[serde(other)]
    Other,
}

/// Why a host asks a member to come back later (`Frame::TryLater`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitCode {
    /// The device joined too often lately.
    JoinsTooOften,
    /// The host's queue for this computer is full.
    HostBusy,
    /// Another password try from this computer is under way.
    TryUnderway,
    /// Too many wrong passwords came from this computer lately.
    WrongPasswords,
    /// Any cause a newer host may add.
    #[serde(other)]
    Other,
}

/// Why a side stops a file transfer (`Frame::Cancel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelCode {
    /// The sender's user cancelled it.
    Cancelled,
    /// The uploader stopped before the file was whole (told to those fetching it).
    SenderStopped,
    /// The host's disk filled up.
    DiskFull,
    /// A piece did not match the file's hash.
    Mismatch,
    /// More data came than the file's announced size.
    Overrun,
    /// The other side sent too slowly.
    TooSlow,
    /// The host could not take the file, or read or write it.
    Failed,
    /// The room did not take the file's post: its sender went past the room's limits.
    TooFast,
    /// The room did not take the file's post: the host could not save it.
    NotSaved,
    /// Any cause a newer peer may add.
    #[serde(other)]
    Other,
}

impl From<RejectCode> for CancelCode {
    /// A file's post the room rejected stops its upload, for the same reason.
    fn from(code: RejectCode) -> Self {
        match code {
            RejectCode::TooFast => CancelCode::TooFast,
            RejectCode::NotSaved => CancelCode::NotSaved,
            _ => CancelCode::Other,
        }
    }
}
