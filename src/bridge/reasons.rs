//! Why a post or direct message of ours was not taken, and why a room asks for its password:
//! codes the runtime reports, which each front end says in words ([`super::words`]).

use crate::protocol::RejectCode;

/// Why a post or a direct message of ours was not taken ([`super::Event::Rejected`],
/// [`super::Event::DirectFailed`]).
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

/// Why a room asks for its password ([`super::SessionState::NeedsPassword`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordNeed {
    /// None was given yet.
    Missing,
    /// The one given was wrong.
    Wrong,
    /// The host did not finish checking it.
    Unfinished,
}
