//! The wire protocol between a room's host and its members.
//!
//! # Transport
//! One TCP connection per member, opened by the member to the host's advertised port, with
//! `TCP_NODELAY` set on both ends. Each frame is a 4-byte big-endian length followed by that
//! many bytes of MessagePack: one [`Frame`], encoded with named fields (`rmp_serde::to_vec_named`)
//! and tagged adjacently (`{"t": "post", "c": {...}}`), so that later versions can add fields and
//! frame kinds. A frame kind this version does not know decodes as [`Frame::Unknown`] and is
//! ignored; a frame that is not MessagePack, not a frame, or breaks a limit ends that session.
//!
//! # Limits
//! A frame is at most [`MAX_FRAME_LEN`] bytes, a chat text at most [`MAX_TEXT_BYTES`], a display
//! or room name at most [`MAX_NAME_BYTES`], any other string at most [`MAX_SHORT_BYTES`], and a
//! room holds at most [`MAX_MEMBERS`] members. The length cap is checked before anything is
//! allocated for the frame.
//!
//! # Conversation
//! ```text
//! member                                host
//!   Hello{protocol, app, name, device,    ─►
//!         room, since, resume}
//!                                        ◄─ Welcome{room, room_name, host_name, you, members, history}
//!                                        ◄─ Message × history   (the tail after `since`, ≤ 500)
//!   Post{seq, text}                       ─►
//!                                        ◄─ Accepted{seq, id}   (or Rejected{seq, reason})
//!                                        ◄─ Message{id, ts, from, device, text}   (to everyone)
//!                                        ◄─ MemberJoined / MemberLeft
//!   Rename{name}                          ─►
//!                                        ◄─ MemberRenamed       (to everyone)
//!   Ping                                  ─►  (every 5 s)
//!                                        ◄─ Pong
//!   Bye                                   ─►  (leaving; the host then closes)
//!                                        ◄─ Closing{reason}     (the host is closing the room)
//! ```
//! The first frame each way must be `Hello` and then `Welcome` (or `Refused`, after which the
//! host closes). Instead of `Hello`, a client may send `Who` to learn which room runs at an
//! address it was given by hand; the host answers `About` and closes, and nobody sees a join. A host frame sent by a member, a second `Hello`, or anything before the
//! handshake is a protocol error and ends that session only. A member that sends nothing for
//! [`IDLE_TIMEOUT`] is dropped, and a member that hears nothing from its host for as long
//! treats the host as gone.
//!
//! `seq` numbers a member's posts within one app run; `resume` names that run, so after a
//! reconnect the host acknowledges, without storing twice, a post it already stored. `since`
//! is the newest message id the member already has, so a rejoin fetches only what it missed.

mod codec;

pub use crate::files::wire::{
    DATA_LEN, FileHash, FileOffer, FileRef, MAX_FILE_SIZE, MAX_PIECES, Upload,
};
pub use codec::{FrameCodec, ProtocolError, encode_frame};

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Bumped when a change would make an older peer misread a newer one.
pub const PROTOCOL_VERSION: u16 = 1;
/// Largest frame either side accepts: room for the largest chat message with margin, and
/// small, because the codec reserves the declared length as soon as it reads a header.
pub const MAX_FRAME_LEN: usize = 128 * 1024;
/// Largest chat message, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Largest display name or room name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 64;
/// Largest of any other string field (ids, versions, reasons).
pub const MAX_SHORT_BYTES: usize = 256;
/// Most members a room admits, the host's own user included.
pub const MAX_MEMBERS: usize = 256;
/// Messages a joiner receives from the room's history.
pub const HISTORY_TAIL: usize = 500;
/// How often a member pings its host when nothing else is said.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);
/// Silence after which either side gives the other up.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest a write to a peer may take before the peer counts as gone.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a new connection gets to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A room's identity: random, chosen when the room is first hosted, kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomId(String);

/// An installation's identity: random, chosen at first start, kept in the config dir.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(String);

macro_rules! token_id {
    ($ty:ident) => {
        impl $ty {
            /// A fresh random id: 16 lowercase hex digits (64 bits).
            pub fn random() -> Self {
                Self(format!("{:016x}", rand::random::<u64>()))
            }

            /// The id as text, as it appears in TXT records and on the command line.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Accepts 1 to 32 ASCII letters, digits, `-` or `_`: ids come from the network.
            pub fn parse(s: &str) -> Option<Self> {
                let ok = (1..=32).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                ok.then(|| Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s).ok_or_else(|| format!("invalid {}", stringify!($ty)))
            }
        }

        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.0
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
token_id!(RoomId);
token_id!(DeviceId);

/// The host's id for one member of one room, unique while the room runs.
pub type MemberId = u32;

/// Everything said on the wire. See the module docs for who sends what, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "c", rename_all = "snake_case")]
pub enum Frame {
    /// Member → host, first frame: who is asking to join which room.
    Hello(Hello),
    /// Host → member, first frame: you are in.
    Welcome(Welcome),
    /// Host → member, instead of `Welcome`: you are not, and why, in words for a person.
    Refused {
        /// Machine-readable cause.
        code: RefuseCode,
        /// Human-readable cause, shown to the user.
        reason: String,
    },
    /// Member → host: a chat message to store and fan out.
    Post {
        /// The member's running number for this post, echoed in the answer.
        seq: u64,
        /// The message, at most [`MAX_TEXT_BYTES`].
        text: String,
    },
    /// Host → member: post `seq` is stored as message `id`.
    Accepted {
        /// The post's number.
        seq: u64,
        /// The stored message's id.
        id: u64,
    },
    /// Host → member: post `seq` was not stored, and why.
    Rejected {
        /// The post's number.
        seq: u64,
        /// Why, for the user.
        reason: String,
    },
    /// Host → member: a message of the room (from history or new).
    Message(ChatMessage),
    /// Host → members: someone joined.
    MemberJoined(Member),
    /// Host → members: someone left.
    MemberLeft(Member),
    /// Member → host: call me this from now on.
    Rename { name: String },
    /// Host → members: a member changed their display name.
    MemberRenamed(Member),
    /// Member → host: keep-alive.
    Ping,
    /// Host → member: keep-alive answer.
    Pong,
    /// Member → host: I am leaving.
    Bye,
    /// Host → members: the room is closing; the connection ends next.
    Closing { reason: String },
    /// Client → host, instead of `Hello`: which room is this?
    Who,
    /// Host → client, the answer to `Who`; the host closes next.
    About {
        room: RoomId,
        room_name: String,
        host_name: String,
        members: u32,
    },
    /// Uploader → host, first frame of a file connection: keep this file for the room.
    Upload(Upload),
    /// Host → uploader: send the file from this offset (where an earlier try stopped).
    UploadFrom { offset: u64 },
    /// Downloader → host, first frame of a file connection: send this file from `offset`.
    Download {
        room: RoomId,
        hash: FileHash,
        offset: u64,
    },
    /// Host → downloader: the file's hashes; data follows from `offset`, a piece boundary.
    FileHeader { offer: FileOffer, offset: u64 },
    /// Either way on a file connection: file bytes at `offset`, at most [`DATA_LEN`].
    Data {
        offset: u64,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// Host → uploader: the file is verified, kept, and posted as message `id`.
    Stored { id: u64 },
    /// Either way on a file connection: this transfer stops, and why.
    Cancel { reason: String },
    /// A frame kind from a newer version; decoded from any unknown tag, never sent.
    #[serde(skip)]
    Unknown,
}

/// The member's introduction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the member.
    pub protocol: u16,
    /// The member's app version, for the host's logs and refusals.
    pub app: String,
    /// Display name.
    pub name: String,
    /// The member's installation, so its own messages can be told apart after a rejoin.
    pub device: DeviceId,
    /// The room the member means to join; a host that runs another room on that port refuses.
    pub room: RoomId,
    /// Newest message id the member already has; the host sends only newer history.
    pub since: Option<u64>,
    /// Names the member's app run, for de-duplicating posts resent after a reconnect.
    pub resume: u64,
}

/// The host's welcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The room joined (the one the hello named).
    pub room: RoomId,
    /// The room's name, which the member may have seen older in an advert.
    pub room_name: String,
    /// The host's display name now.
    pub host_name: String,
    /// This member's id in the room.
    pub you: MemberId,
    /// Everyone in the room now, this member included.
    pub members: Vec<Member>,
    /// How many history `Message` frames follow.
    pub history: u32,
}

/// One member of a room, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Unique in the room while it runs; kept when the same app run rejoins.
    pub id: MemberId,
    /// Display name.
    pub name: String,
    /// The member's installation.
    pub device: DeviceId,
    /// True for the host's own user.
    pub host: bool,
}

/// One stored chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Position in the room's history: increasing, assigned by the host.
    pub id: u64,
    /// When the host stored it, milliseconds since the Unix epoch.
    pub ts: i64,
    /// Sender's display name at the time.
    pub from: String,
    /// Sender's installation.
    pub device: DeviceId,
    /// The message, at most [`MAX_TEXT_BYTES`]; may be empty when a file is attached.
    pub text: String,
    /// A file shared with the message, kept by the host for later joiners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileRef>,
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

/// Why a host turned a member away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefuseCode {
    /// The member speaks another protocol version.
    Version,
    /// The room has [`MAX_MEMBERS`] members.
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
    /// Any cause a newer host may add.
    #[serde(other)]
    Other,
}

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

fn check_short(what: &'static str, s: &str) -> Result<(), String> {
    if s.len() > MAX_SHORT_BYTES {
        return Err(format!("{what} is longer than {MAX_SHORT_BYTES} bytes"));
    }
    Ok(())
}

impl Frame {
    /// The tag of every frame kind this version knows, as on the wire.
    pub const KINDS: &[&str] = &[
        "hello",
        "welcome",
        "refused",
        "post",
        "accepted",
        "rejected",
        "message",
        "member_joined",
        "member_left",
        "rename",
        "member_renamed",
        "ping",
        "pong",
        "bye",
        "closing",
        "who",
        "about",
        "upload",
        "upload_from",
        "download",
        "file_header",
        "data",
        "stored",
        "cancel",
    ];

    /// Checks every limit a decoded frame must respect; the codec calls this on each frame.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Frame::Hello(h) => {
                check_short("app version", &h.app)?;
                check_name("display name", &h.name)
            }
            Frame::Welcome(w) => {
                check_name("room name", &w.room_name)?;
                check_name("host name", &w.host_name)?;
                if w.members.len() > MAX_MEMBERS {
                    return Err(format!("more than {MAX_MEMBERS} members"));
                }
                if w.history as usize > HISTORY_TAIL {
                    return Err(format!("more than {HISTORY_TAIL} history messages"));
                }
                w.members.iter().try_for_each(Member::validate)
            }
            Frame::Refused { reason, .. }
            | Frame::Rejected { reason, .. }
            | Frame::Closing { reason } => check_short("reason", reason),
            Frame::Post { text, .. } => check_text(text),
            Frame::Message(m) => m.validate(),
            Frame::Upload(upload) => crate::files::wire::check_upload(upload),
            Frame::FileHeader { offer, .. } => offer.validate(),
            Frame::Data { bytes, .. } if bytes.len() > DATA_LEN => Err(format!(
                "more than {DATA_LEN} bytes of file data in one frame"
            )),
            Frame::Cancel { reason } => check_short("reason", reason),
            Frame::MemberJoined(m) | Frame::MemberLeft(m) | Frame::MemberRenamed(m) => m.validate(),
            Frame::Rename { name } => check_name("display name", name),
            Frame::About {
                room_name,
                host_name,
                ..
            } => {
                check_name("room name", room_name)?;
                check_name("host name", host_name)
            }
            Frame::Accepted { .. }
            | Frame::Ping
            | Frame::Pong
            | Frame::Bye
            | Frame::Who
            | Frame::UploadFrom { .. }
            | Frame::Download { .. }
            | Frame::Data { .. }
            | Frame::Stored { .. }
            | Frame::Unknown => Ok(()),
        }
    }

    /// The frame kind, for log lines and protocol errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::Welcome(_) => "welcome",
            Frame::Refused { .. } => "refused",
            Frame::Post { .. } => "post",
            Frame::Accepted { .. } => "accepted",
            Frame::Rejected { .. } => "rejected",
            Frame::Message(_) => "message",
            Frame::MemberJoined(_) => "member_joined",
            Frame::MemberLeft(_) => "member_left",
            Frame::Rename { .. } => "rename",
            Frame::MemberRenamed(_) => "member_renamed",
            Frame::Ping => "ping",
            Frame::Pong => "pong",
            Frame::Bye => "bye",
            Frame::Closing { .. } => "closing",
            Frame::Who => "who",
            Frame::About { .. } => "about",
            Frame::Upload(_) => "upload",
            Frame::UploadFrom { .. } => "upload_from",
            Frame::Download { .. } => "download",
            Frame::FileHeader { .. } => "file_header",
            Frame::Data { .. } => "data",
            Frame::Stored { .. } => "stored",
            Frame::Cancel { .. } => "cancel",
            Frame::Unknown => "unknown",
        }
    }
}

impl Member {
    fn validate(&self) -> Result<(), String> {
        check_name("member name", &self.name)
    }
}

/// This build's version, sent in `Hello`.
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");
