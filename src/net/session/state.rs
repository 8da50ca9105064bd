//! How one joined room's session stands, as a user should hear of it: connecting, in, waiting
//! for its host (and why), given up (and why), or waiting for the user (a new host key, a
//! password); and why a post or direct message of ours was not taken. Codes, not sentences:
//! each front end says them in words ([`crate::bridge::words`]).

use crate::net::identity::PublicKey;
use crate::protocol::{CloseCode, Refusal, RejectCode, WaitCode};

/// The state of one joined room's connection, as a user should hear of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Dialling the host.
    Connecting,
    /// In the room.
    Connected,
    /// Not connected, will rejoin by itself when the host is back; says why.
    Waiting(Waiting),
    /// Not connected and will not retry (e.g. incompatible version); says why.
    Failed(Failure),
    /// The host presented another key than the one this room had: it may be a different
    /// machine pretending to be the room. Nothing was sent to it; the session waits for the
    /// user to trust the new key ([`Command::TrustHostKey`](crate::bridge::Command::TrustHostKey)) or to leave.
    KeyChanged {
        /// The fingerprint pinned for the room.
        known: String,
        /// The key presented now (its fingerprint is what the user compares).
        presented: PublicKey,
    },
    /// The room needs its password, or the one given was wrong; the code says which. The
    /// session waits for [`Command::Unlock`](crate::bridge::Command::Unlock) or a leave.
    NeedsPassword(PasswordNeed),
    /// We left.
    Left,
}

impl SessionState {
    /// Why the session is not in the room, in words, when it says why.
    pub fn why(&self) -> Option<String> {
        match self {
            SessionState::Waiting(why) => Some(why.to_string()),
            SessionState::Failed(why) => Some(why.to_string()),
            SessionState::NeedsPassword(why) => Some(why.to_string()),
            _ => None,
        }
    }
}

/// Why a joined room's session is waiting for its host. Its `Display` ([`crate::bridge::words`]) is the
/// sentence a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// The connection to the host broke; `host` is the host's name.
    HostLeft { host: String },
    /// The host closed the room, saying why; `host` is the host's name.
    Closed { code: CloseCode, host: String },
    /// Nobody answered at the room's addresses.
    Unreachable,
    /// The host turned us away for a reason that may pass (the room was full, or its address
    /// runs another room now).
    TurnedAway { refusal: Refusal },
    /// Only a machine with another key than the room's host answers (the user chose to stay
    /// out of it): we wait for the host we know.
    OtherKey,
    /// The host asked us to wait (password tries are slowed down); trying again in `secs`.
    Slowed { code: WaitCode, secs: u64 },
}

/// Why a joined room's session gave up. Its `Display` ([`crate::bridge::words`]) is the sentence a person
/// reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The host refused us for good, saying why.
    TurnedAway { refusal: Refusal },
    /// The room speaks protocol `theirs`, not ours.
    Version { theirs: u16 },
    /// A host seen for the first time let us in without checking the password we brought.
    PasswordNotChecked,
}

/// Why a post or a direct message of ours was not taken ([`crate::bridge::Event::Rejected`],
/// [`crate::bridge::Event::DirectFailed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The host turned it away.
    Host(RejectCode),
    /// It broke a limit before it left (empty, or too long).
    Invalid(crate::protocol::Invalid),
    /// We are not in that room.
    NotInRoom,
    /// The room's session is not connected to its host.
    NotConnected,
    /// The connection to the room was lost before the host confirmed it.
    ConnectionLost,
    /// It could not be sealed for its recipient; the text is the sealing error's.
    NotSealed(String),
    /// The recipient's key is not known, so nothing can be sealed for it.
    KeyUnknown,
    /// The recipient presents another key than the one written to before: nothing is sent
    /// to it until the user accepts it. The fingerprints are what the user compares.
    KeyChanged {
        /// The recipient's display name.
        name: String,
        /// The fingerprint written to before.
        then: String,
        /// The fingerprint presented now.
        now: String,
    },
}

/// Why a room asks for its password ([`SessionState::NeedsPassword`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordNeed {
    /// None was given yet.
    Missing,
    /// The one given was wrong.
    Wrong,
    /// The host did not finish checking it.
    Unfinished,
}
