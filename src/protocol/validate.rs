//! The checks every decoded frame passes (the codec calls [`Frame::validate`]), and the
//! name and text checks front ends use on what a person typed.

use super::{
    ChatMessage, DATA_LEN, DirectBody, Frame, HISTORY_PAGE, Hello, MAX_MEMBERS, MAX_NAME_BYTES,
    MAX_SEALED, MAX_SHORT_BYTES, MAX_TEXT_BYTES, Member, Welcome, files,
};

/// What breaks a limit in a frame, a name or a text. Its `Display` is the words a person
/// reads (a front end shows it as it is, or the log says it); `what` names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is longer than {limit} bytes")]
    TooLong { what: &'static str, limit: usize },
    #[error("{what} contains control characters")]
    Control { what: &'static str },
    #[error("the message is empty")]
    EmptyMessage,
    #[error("the message is {kib} KiB; the limit is {} KiB", MAX_TEXT_BYTES / 1024)]
    MessageTooLong { kib: usize },
    #[error("more than {MAX_MEMBERS} members")]
    TooManyMembers,
    #[error("more than {HISTORY_PAGE} history messages")]
    TooMuchHistory,
    #[error("more than {HISTORY_PAGE} history messages in a page")]
    PageTooLong,
    #[error("more than {DATA_LEN} bytes of file data in one frame")]
    DataTooLong,
    #[error("a sealed direct message over {MAX_SEALED} bytes")]
    SealedTooLong,
    #[error("file is larger than 64 GiB")]
    FileTooLarge,
    #[error("piece length is not a power of two of at least 1 KiB")]
    PieceLength,
    #[error("malformed piece hashes")]
    PieceHashes,
    #[error("{what} is not valid")]
    Malformed { what: &'static str },
}

/// Checks a display or room name from the network or from a user.
pub fn check_name(what: &'static str, name: &str) -> Result<(), Invalid> {
    if name.trim().is_empty() {
        return Err(Invalid::Empty { what });
    }
    if name.len() > MAX_NAME_BYTES {
        let limit = MAX_NAME_BYTES;
        return Err(Invalid::TooLong { what, limit });
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::Control { what });
    }
    Ok(())
}

/// Checks a chat text from the network or from a user.
pub fn check_text(text: &str) -> Result<(), Invalid> {
    if text.trim().is_empty() {
        return Err(Invalid::EmptyMessage);
    }
    if text.len() > MAX_TEXT_BYTES {
        let kib = text.len().div_ceil(1024);
        return Err(Invalid::MessageTooLong { kib });
    }
    Ok(())
}

/// Checks a string field that has no limit of its own.
pub(super) fn check_short(what: &'static str, s: impl AsRef<[u8]>) -> Result<(), Invalid> {
    let s = s.as_ref();
    if s.len() > MAX_SHORT_BYTES {
        let limit = MAX_SHORT_BYTES;
        return Err(Invalid::TooLong { what, limit });
    }
    Ok(())
}

impl DirectBody {
    /// Checks a body just opened.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_name("sender name", &self.name)?;
        check_text(&self.text)
    }
}

impl ChatMessage {
    /// Checks a message from the network or from a file.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_name("sender name", &self.from)?;
        match &self.file {
            Some(file) if self.text.is_empty() => file.validate(),
            Some(file) => file.validate().and(check_text(&self.text)),
            None => check_text(&self.text),
        }
    }
}

impl Hello {
    fn validate(&self) -> Result<(), Invalid> {
        check_short("app version", &self.app)?;
        check_short(
            "password message",
            self.password.as_deref().unwrap_or_default(),
        )?;
        check_name("display name", &self.name)
    }
}

impl Welcome {
    fn validate(&self) -> Result<(), Invalid> {
        check_room_names(&self.room_name, &self.host_name)?;
        if self.members.len() > MAX_MEMBERS {
            return Err(Invalid::TooManyMembers);
        }
        if self.history as usize > HISTORY_PAGE {
            return Err(Invalid::TooMuchHistory);
        }
        self.members.iter().try_for_each(Member::validate)
    }
}

/// Checks a room's name and its host's, as a welcome or an answer to `Who` gives them.
fn check_room_names(room_name: &str, host_name: &str) -> Result<(), Invalid> {
    check_name("room name", room_name)?;
    check_name("host name", host_name)
}

impl Frame {
    /// Checks every limit a decoded frame must respect; the codec calls this on each frame.
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            Frame::Hello(h) => h.validate(),
            Frame::Spake { msg, proof } => {
                check_short("password message", msg)?;
                check_short("proof", proof)
            }
            Frame::Proof { proof } => check_short("proof", proof),
            Frame::Welcome(w) => w.validate(),
            Frame::Post { text, .. } => check_text(text),
            Frame::Message(m) => m.validate(),
            Frame::Upload(upload) => files::check_upload(upload),
            Frame::FileHeader { offer, .. } => offer.validate(),
            Frame::Data { bytes, .. } if bytes.len() > DATA_LEN => Err(Invalid::DataTooLong),
            Frame::Direct { sealed, .. } | Frame::DirectFrom { sealed, .. }
                if sealed.len() > MAX_SEALED =>
            {
                Err(Invalid::SealedTooLong)
            }
            Frame::Direct { .. } | Frame::DirectFrom { .. } => Ok(()),
            Frame::MemberJoined(m) | Frame::MemberLeft(m) | Frame::MemberRenamed(m) => m.validate(),
            Frame::Rename { name } => check_name("display name", name),
            Frame::About {
                room_name,
                host_name,
                ..
            } => check_room_names(room_name, host_name),
            Frame::Page { count, .. } | Frame::Earlier { count, .. }
                if *count as usize > HISTORY_PAGE =>
            {
                Err(Invalid::PageTooLong)
            }
            Frame::Accepted { .. }
            | Frame::Refused(_)
            | Frame::TryLater { .. }
            | Frame::Rejected { .. }
            | Frame::Closing { .. }
            | Frame::Cancel { .. }
            | Frame::History { .. }
            | Frame::Page { .. }
            | Frame::Before { .. }
            | Frame::Earlier { .. }
            | Frame::Presence { .. }
            | Frame::MemberAway { .. }
            | Frame::Typing
            | Frame::MemberTyping { .. }
            | Frame::DirectSent { .. }
            | Frame::Ping
            | Frame::Pong
            | Frame::Bye
            | Frame::Who
            | Frame::UploadFrom { .. }
            | Frame::Download { .. }
            | Frame::Data { .. }
            | Frame::Received { .. }
            | Frame::Stored { .. }
            | Frame::Unknown => Ok(()),
        }
    }
}

impl Member {
    fn validate(&self) -> Result<(), Invalid> {
        check_name("member name", &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Front ends show these as they are: the words are the ones people read before they
    /// were typed.
    #[test]
    fn a_broken_limit_says_what_in_words() {
        let words = |e: Invalid| e.to_string();
        let empty = check_name("Your name", " ").unwrap_err();
        assert_eq!(words(empty), "Your name is empty");
        let long = check_name("room name", &"n".repeat(MAX_NAME_BYTES + 1)).unwrap_err();
        assert_eq!(
            words(long),
            format!("room name is longer than {MAX_NAME_BYTES} bytes")
        );
        let control = check_name("display name", "a\u{7}").unwrap_err();
        assert_eq!(words(control), "display name contains control characters");
        assert_eq!(words(check_text("\n").unwrap_err()), "the message is empty");
        let text = "x".repeat(70 * 1024);
        assert_eq!(
            words(check_text(&text).unwrap_err()),
            "the message is 70 KiB; the limit is 64 KiB"
        );
    }
}
