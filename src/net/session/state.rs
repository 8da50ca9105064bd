//! How one joined room's session stands, as a user should hear of it: connecting, in, waiting
//! for its host (and why), given up (and why), or waiting for the user (a new host key, a
//! password).

use crate::net::identity::PublicKey;

/// The state of one joined room's connection, as a user should hear of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Dialling the host.
    Connecting,
    /// In the room.
    Connected,
    /// Not connected, will rejoin by itself when the host is back; says why in words.
    Waiting(Waiting),
    /// Not connected and will not retry (e.g. incompatible version); says why in words.
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
    /// The room needs its password, or the one given was wrong, or tries are paused; the text
    /// says which. The session waits for [`Command::Unlock`](crate::bridge::Command::Unlock) or a leave.
    NeedsPassword(String),
    /// We left.
    Left,
}

impl SessionState {
    /// Why the session is not in the room, in words, when it says why.
    pub fn why(&self) -> Option<String> {
        match self {
            SessionState::Waiting(why) => Some(why.to_string()),
            SessionState::Failed(why) => Some(why.to_string()),
            SessionState::NeedsPassword(why) => Some(why.clone()),
            _ => None,
        }
    }
}

/// Why a joined room's session is waiting for its host. Its `Display` is the sentence a
/// person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// The connection to the host broke; `host` is the host's name.
    HostLeft { host: String },
    /// The host closed the room, saying why.
    Closed { reason: String },
    /// Nobody answered at the room's addresses.
    Unreachable,
    /// The host turned us away for a reason that may pass (the room was full, or its address
    /// runs another room now).
    TurnedAway { reason: String },
    /// The host asked us to wait (password tries are slowed down); trying again in `secs`.
    Slowed { reason: String, secs: u64 },
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waiting::HostLeft { host } => {
                write!(f, "{host} left — waiting for the room to come back")
            }
            Waiting::Closed { reason } => {
                write!(f, "{reason} — it will reopen here when they host it again")
            }
            Waiting::Unreachable => f.write_str("Cannot reach the room's host — trying again"),
            Waiting::TurnedAway { reason } => write!(f, "The host turned us away: {reason}"),
            Waiting::Slowed { reason, secs } => write!(f, "{reason} — trying again in {secs} s"),
        }
    }
}

/// Why a joined room's session gave up. Its `Display` is the sentence a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The host refused us for good, saying why.
    TurnedAway { reason: String },
    /// The room speaks protocol `theirs`, not ours.
    Version { theirs: u16 },
    /// A host seen for the first time let us in without checking the password we brought.
    PasswordNotChecked,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ours = crate::protocol::PROTOCOL_VERSION;
        match self {
            Failure::TurnedAway { reason } => write!(f, "The host turned us away: {reason}"),
            Failure::Version { theirs } if *theirs > ours => write!(
                f,
                "This room runs a newer lanchat (protocol {theirs}, this app speaks {ours}) — update lanchat to join"
            ),
            Failure::Version { theirs } => write!(
                f,
                "This room runs an older lanchat (protocol {theirs}, this app speaks {ours}) — its host needs to update lanchat"
            ),
            Failure::PasswordNotChecked => f.write_str(
                "The host let us in without checking the password, so it may not be the room you mean; if the room has no password, join without one",
            ),
        }
    }
}
