//! The checks every decoded frame passes (the codec calls [`Frame::validate`]), and the
//! name and text checks front ends use on what a person typed.

use super::{
    ChatMessage, DATA_LEN, DirectBody, Frame, HISTORY_PAGE, Hello, MAX_MEMBERS, MAX_NAME_BYTES,
    MAX_SEALED, MAX_SHORT_BYTES, MAX_TEXT_BYTES, Member, Welcome, files,
};

/// Checks a display or room name from the network or from a user.
pub fn check_name(what: &'static str, name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!("{what} is longer than {MAX_NAME_BYTES} bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

/// Checks a chat text from the network or from a user.
pub fn check_text(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("the message is empty".into());
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "the message is {} KiB; the limit is {} KiB",
            text.len().div_ceil(1024),
            MAX_TEXT_BYTES / 1024
        ));
    }
    Ok(())
}

fn check_short(what: &'static str, s: impl AsRef<[u8]>) -> Result<(), String> {
    let s = s.as_ref();
    if s.len() > MAX_SHORT_BYTES {
        return Err(format!("{what} is longer than {MAX_SHORT_BYTES} bytes"));
    }
    Ok(())
}

impl DirectBody {
    /// Checks a body just opened.
    pub fn validate(&self) -> Result<(), String> {
        check_name("sender name", &self.name)?;
        check_text(&self.text)
    }
}

impl ChatMessage {
    /// Checks a message from the network or from a file.
    pub fn validate(&self) -> Result<(), String> {
        check_name("sender name", &self.from)?;
        match &self.file {
            Some(file) if self.text.is_empty() => file.validate(),
            Some(file) => file.validate().and(check_text(&self.text)),
            None => check_text(&self.text),
        }
    }
}

impl Hello {
    fn validate(&self) -> Result<(), String> {
        check_short("app version", &self.app)?;
        check_short(
            "password message",
            self.password.as_deref().unwrap_or_default(),
        )?;
        check_name("display name", &self.name)
    }
}

impl Welcome {
    fn validate(&self) -> Result<(), String> {
        check_room_names(&self.room_name, &self.host_name)?;
        if self.members.len() > MAX_MEMBERS {
            return Err(format!("more than {MAX_MEMBERS} members"));
        }
        if self.history as usize > HISTORY_PAGE {
            return Err(format!("more than {HISTORY_PAGE} history messages"));
        }
        self.members.iter().try_for_each(Member::validate)
    }
}

/// Checks a room's name and its host's, as a welcome or an answer to `Who` gives them.
fn check_room_names(room_name: &str, host_name: &str) -> Result<(), String> {
    check_name("room name", room_name)?;
    check_name("host name", host_name)
}

impl Frame {
    /// Checks every limit a decoded frame must respect; the codec calls this on each frame.
    pub fn validate(&self) -> Result<(), String> {
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
            Frame::Data { bytes, .. } if bytes.len() > DATA_LEN => Err(format!(
                "more than {DATA_LEN} bytes of file data in one frame"
            )),
            Frame::Direct { sealed, .. } | Frame::DirectFrom { sealed, .. }
                if sealed.len() > MAX_SEALED =>
            {
                Err(format!("a sealed direct message over {MAX_SEALED} bytes"))
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
                Err(format!(
                    "more than {HISTORY_PAGE} history messages in a page"
                ))
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
    fn validate(&self) -> Result<(), String> {
        check_name("member name", &self.name)
    }
}
