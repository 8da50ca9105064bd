//! The words a person reads for each code the runtime reports: why a post was rejected, a
//! host refused or asked to wait, a room closed, a transfer stopped. Both front ends (the
//! window and headless) say them from here, so each sentence is written once; it lives on the
//! bridge because the bridge is the contract both front ends share (headless may not import
//! the window's modules). Below the front ends, codes travel; only these impls make words.

use super::{Failure, PasswordNeed, Rejection, Waiting};
use crate::protocol::{
    CancelCode, CloseCode, MAX_MEMBERS, PROTOCOL_VERSION, Refusal, RefuseCode, RejectCode, WaitCode,
};
use crate::units::human_size;
use std::fmt::{Display, Formatter, Result};

impl Display for RejectCode {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.write_str(match self {
            RejectCode::TooFast => {
                "you are sending faster than this room allows; wait a moment and send it again"
            }
            RejectCode::NotSaved => "the host could not save it",
            RejectCode::NotInRoom => "they are not in the room now",
            RejectCode::LeftAsItArrived => "they left the room as it arrived",
            RejectCode::Other => "the host turned it away",
        })
    }
}

impl Display for Rejection {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        match self {
            Rejection::Host(code) => code.fmt(f),
            Rejection::Invalid(why) => why.fmt(f),
            Rejection::NotInRoom => f.write_str("you are not in this room"),
            Rejection::NotConnected => f.write_str("not connected to the room"),
            Rejection::ConnectionLost => f.write_str("the connection to the room was lost"),
            Rejection::NotSealed(why) => f.write_str(why),
            Rejection::KeyUnknown => f.write_str("their key is not known"),
            Rejection::KeyChanged { name, then, now } => write!(
                f,
                "{name}'s key is not the one you wrote to before ({then} then, {now} now): nothing is sent to it until you accept it"
            ),
        }
    }
}

impl Display for Refusal {
    // One arm per refusal code: the match is the table.
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        let size = |n: Option<u64>| human_size(n.unwrap_or_default());
        match self.code {
            RefuseCode::Version => f.write_str("this room runs another version of lanchat"),
            RefuseCode::Full => write!(f, "the room is full ({MAX_MEMBERS} members)"),
            RefuseCode::WrongRoom => f.write_str("this host no longer runs that room"),
            RefuseCode::BadHello => f.write_str("the host did not accept our introduction"),
            RefuseCode::NoSpace => write!(
                f,
                "the host has {} free and the file needs {}",
                size(self.limit),
                size(self.need)
            ),
            RefuseCode::Gone => f.write_str("the host no longer keeps this file"),
            RefuseCode::BadOffer => f.write_str("the file's description was not acceptable"),
            RefuseCode::Password => PasswordNeed::Missing.fmt(f),
            RefuseCode::WrongPassword => PasswordNeed::Wrong.fmt(f),
            RefuseCode::PasswordUnfinished => PasswordNeed::Unfinished.fmt(f),
            RefuseCode::NotMember => {
                f.write_str("join the room before sending or fetching its files")
            }
            RefuseCode::Busy => {
                f.write_str("the host is busy with other files; try again in a moment")
            }
            RefuseCode::Sessions => write!(
                f,
                "this device is in the room on {} connections already",
                self.limit.unwrap_or_default()
            ),
            RefuseCode::Passing => {
                f.write_str("the room is busy with files being sent; try again in a moment")
            }
            RefuseCode::Receiving => {
                f.write_str("the host is receiving this file from someone else right now")
            }
            RefuseCode::TooLarge => {
                write!(f, "the room keeps files of at most {}", size(self.limit))
            }
            RefuseCode::HashTaken => f.write_str("this file's hash belongs to another file"),
            RefuseCode::Other => f.write_str("the host gave a reason this lanchat does not know"),
        }
    }
}

impl Display for WaitCode {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.write_str(match self {
            WaitCode::JoinsTooOften => "joining too often from this device; try again in a moment",
            WaitCode::HostBusy => {
                "the host is busy sending to this computer; try again in a moment"
            }
            WaitCode::TryUnderway => "another password try from this computer is under way",
            WaitCode::WrongPasswords => "too many wrong passwords from this computer lately",
            WaitCode::Other => "the host asks us to wait",
        })
    }
}

impl Display for CancelCode {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        match self {
            CancelCode::Cancelled => f.write_str("the sender cancelled"),
            CancelCode::SenderStopped => f.write_str("the sender stopped sending it"),
            CancelCode::DiskFull => f.write_str("the host's disk is full"),
            CancelCode::Mismatch => f.write_str("a piece does not match the file's hash"),
            CancelCode::Overrun => {
                f.write_str("the other side sent more than the file's announced size")
            }
            CancelCode::TooSlow => f.write_str("the other side sent too slowly"),
            CancelCode::Failed => f.write_str("the host could not keep the file"),
            CancelCode::TooFast => RejectCode::TooFast.fmt(f),
            CancelCode::NotSaved => RejectCode::NotSaved.fmt(f),
            CancelCode::Other => f.write_str("the transfer was stopped"),
        }
    }
}

impl Display for PasswordNeed {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        f.write_str(match self {
            PasswordNeed::Missing => "this room needs a password",
            PasswordNeed::Wrong => "wrong password",
            PasswordNeed::Unfinished => "the password check did not finish",
        })
    }
}

/// Why a host closed its room, with its name: "Ada closed the room".
pub fn closed(code: CloseCode, host: &str) -> String {
    match code {
        CloseCode::Quit => format!("{host}'s lanchat closed"),
        CloseCode::Stopped => "the room stopped".to_owned(),
        CloseCode::Closed | CloseCode::Other => format!("{host} closed the room"),
    }
}

impl Display for Waiting {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        match self {
            Waiting::HostLeft { host } => {
                write!(f, "{host} left — waiting for the room to come back")
            }
            Waiting::Closed { code, host } => write!(
                f,
                "{} — it will reopen here when they host it again",
                closed(*code, host)
            ),
            Waiting::Unreachable => f.write_str("Cannot reach the room's host — trying again"),
            Waiting::TurnedAway { refusal } => write!(f, "The host turned us away: {refusal}"),
            Waiting::OtherKey => f.write_str(
                "Waiting for the host you know — another machine with a different key answers for this room",
            ),
            Waiting::Slowed { code, secs } => write!(f, "{code} — trying again in {secs} s"),
        }
    }
}

impl Display for Failure {
    fn fmt(&self, f: &mut Formatter<'_>) -> Result {
        let ours = PROTOCOL_VERSION;
        match self {
            Failure::TurnedAway { refusal } => write!(f, "The host turned us away: {refusal}"),
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

/// A code's stable name, as headless prints it in its JSON (`"too_fast"`): the name it has on
/// the wire.
pub fn code_name(code: impl serde::Serialize) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(name)) => name,
        _ => "other".to_owned(),
    }
}

/// Why a session waits, as a stable name for headless's JSON: the host's code where it gave
/// one (`"closed"`, `"full"`, `"joins_too_often"`), else what happened (`"host_left"`).
pub fn waiting_name(waiting: &Waiting) -> String {
    match waiting {
        Waiting::HostLeft { .. } => "host_left".to_owned(),
        Waiting::Unreachable => "unreachable".to_owned(),
        Waiting::OtherKey => "other_key".to_owned(),
        Waiting::Closed { code, .. } => code_name(code),
        Waiting::TurnedAway { refusal } => code_name(refusal.code),
        Waiting::Slowed { code, .. } => code_name(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_the_sentences_people_read() {
        let too_fast = Rejection::Host(RejectCode::TooFast).to_string();
        assert!(
            too_fast.contains("faster than this room allows"),
            "{too_fast}"
        );
        let waiting = Waiting::Closed {
            code: CloseCode::Closed,
            host: "Ada".into(),
        };
        assert_eq!(
            waiting.to_string(),
            "Ada closed the room — it will reopen here when they host it again"
        );
        assert_eq!(closed(CloseCode::Quit, "Ada"), "Ada's lanchat closed");
        let no_space = Refusal {
            code: RefuseCode::NoSpace,
            limit: Some(1_000_000),
            need: Some(2_500_000),
        };
        assert_eq!(
            no_space.to_string(),
            "the host has 1.0 MB free and the file needs 2.5 MB"
        );
        assert_eq!(
            PasswordNeed::Missing.to_string(),
            "this room needs a password"
        );
    }

    #[test]
    fn headless_names_a_code_as_the_wire_does() {
        assert_eq!(code_name(RejectCode::TooFast), "too_fast");
        assert_eq!(code_name(RefuseCode::WrongRoom), "wrong_room");
        let slowed = Waiting::Slowed {
            code: WaitCode::JoinsTooOften,
            secs: 3,
        };
        assert_eq!(waiting_name(&slowed), "joins_too_often");
        assert_eq!(waiting_name(&Waiting::Unreachable), "unreachable");
    }
}
