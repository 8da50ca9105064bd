//! The wire protocol between a room's host and its members.
//!
//! # Transport
//! Every connection is TCP, opened by a member to the host's advertised port, with
//! `TCP_NODELAY` on both ends, and goes through [`crate::net::link`]:
//! 1. **Version.** The member sends 6 bytes, `LCHT` and its [`PROTOCOL_VERSION`] as a big-endian
//!    `u16`; the host answers with its own 6 bytes. Nothing else is decoded before this. A
//!    side that sees another version closes; the member tells its user which side is newer.
//!    A version 1 member (whose first bytes are a frame's length) gets a version 1 `Refused`
//!    frame saying the room runs a newer lanchat.
//! 2. **Noise.** `Noise_XX_25519_AESGCM_SHA256`, member as initiator, with the two version
//!    preambles as prologue. Handshake messages are a 2-byte big-endian length and the
//!    message. The static keys are the devices' identities
//!    ([`crate::net::identity`]); a member checks the host's key against the one it pinned
//!    for the room after the second message and, if it differs, closes before sending the
//!    third: nothing of its own reaches a host it does not trust.
//! 3. **Frames.** Each frame is a 4-byte big-endian length and that many bytes of MessagePack:
//!    one [`Frame`], encoded with named fields (`rmp_serde::to_vec_named`) and tagged
//!    adjacently (`{"t": "post", "c": {...}}`), so later versions can add fields and kinds.
//!    These bytes are cut into Noise transport messages of at most 65,535 bytes (tag
//!    included), each sent as a 2-byte length and the ciphertext, with one nonce counter per
//!    direction. A message that fails to decrypt (garbage, replayed, reordered) ends that
//!    connection, as does a connection cut in the middle of one.
//!
//! A frame kind this version does not know decodes as [`Frame::Unknown`] and is ignored; a
//! frame that is not MessagePack, not a frame, or breaks a limit ends that session.
//!
//! # Identity
//! A member's device id ([`DeviceId::of_key`]) is derived from the key it proved in the
//! handshake; the host attributes every post, file and name to it, and marks the member whose
//! key is its own as the host. Nothing a peer writes in a frame names its device.
//!
//! # Limits
//! A frame is at most [`MAX_FRAME_LEN`] bytes, a chat text at most [`MAX_TEXT_BYTES`], a display
//! or room name at most [`MAX_NAME_BYTES`], any other string at most [`MAX_SHORT_BYTES`], and a
//! room holds at most [`MAX_MEMBERS`] members. The length cap is checked before anything is
//! allocated for the frame. A host limits each member's posts (messages and bytes per second,
//! with a burst) and answers the excess with `Rejected`.
//!
//! # Conversation
//! ```text
//! member                                host
//!   Hello{app, name, room, since, epoch,  ─►
//!         resume, password}
//!                                        ◄─ Spake{msg, proof}   (password rooms only)
//!   Proof{proof}                          ─►
//!                                        ◄─ Welcome{room, room_name, host_name, you, members,
//!                                                   epoch, history, more}
//!                                        ◄─ Message × history   (≤ 500: see "History")
//!   History{after}                        ─►  (while `more`)
//!                                        ◄─ Page{count, more}
//!                                        ◄─ Message × count
//!   Before{before}                        ─►  (scrolling back: the page before a message)
//!                                        ◄─ Earlier{before, count, more}
//!                                        ◄─ Message × count     (oldest first)
//!   Post{seq, text}                       ─►
//!                                        ◄─ Message{id, ts, from, device, text}   (to everyone,
//!                                           once the host has committed it)
//!                                        ◄─ Accepted{seq, id}   (or Rejected{seq, reason}),
//!                                           once the message is on the host's disk
//!                                        ◄─ MemberJoined / MemberLeft
//!   Rename{name}                          ─►
//!                                        ◄─ MemberRenamed       (to everyone)
//!   Presence{away}                        ─►  (no input for 10 minutes, or back)
//!                                        ◄─ MemberAway{member, away}   (to everyone)
//!   Typing                                ─►  (while typing, at most every 3 s)
//!                                        ◄─ MemberTyping{member}       (to the others)
//!   Direct{to, seq, sealed}               ─►  (sealed for `to`'s key: the host cannot read it)
//!                                        ◄─ DirectSent{seq}     (or Rejected{seq, reason})
//!                                        ◄─ DirectFrom{from, sealed}   (to `to` only)
//!   Ping                                  ─►  (every 4 s)
//!                                        ◄─ Pong
//!   Bye                                   ─►  (leaving; the host then closes)
//!                                        ◄─ Closing{reason}     (the host is closing the room)
//! ```
//! The first frame from the member is `Hello`, `Who`, `Upload` or `Download`; the host's
//! first answer is `Welcome`, `Spake`, `TryLater` or `Refused` (after the last two it closes). Instead of
//! `Hello`, a client may send `Who` to learn which room runs at an address it was given by
//! hand; the host answers `About` and closes, and nobody sees a join. A host frame sent by a
//! member, a second `Hello`, or anything else out of turn is a protocol error and ends that
//! session only. A member that sends nothing for [`IDLE_TIMEOUT`] is dropped, and a member
//! that hears nothing from its host for as long treats the host as gone.
//!
//! # Password rooms
//! The password never crosses the network. The member starts SPAKE2 (Ed25519 group) with a
//! key derived from the room id and the password (a BLAKE3 digest of both, stretched with
//! Argon2id, 19 MiB and two passes, salted with the room id), the two sides' identities being "member" and
//! "host" each followed by the Noise handshake hash, and puts its message in `Hello.password`.
//! The host answers `Spake` with its SPAKE2 message and a proof (a BLAKE3 MAC, under the
//! shared key, of "host" and the handshake hash); the member checks it and answers `Proof`
//! ("member" likewise). Only then is the member admitted. Each session tests one guess, and
//! a recorded session tests none: the key is bound to that Noise handshake. A host slows
//! down repeated failures from one address (`TryLater{after_ms}` until the wait is over).
//!
//! # Delivery
//! `seq` names a post for good: unique among its device's posts (random, or counted in the
//! sender's database), kept with the post in the sender's outbox and sent again, unchanged,
//! after any reconnect or restart until the host answers. The host stores a post with its
//! device and `seq` and answers a post it already has with the id it got, so a post is stored
//! once however often it is sent. A member keeps at most a window of posts unanswered, in
//! order, so its posts are stored in the order they were written.
//!
//! The host acknowledges (`Accepted`) and fans out a message only once it is on disk; a
//! message's id is its place in the history, increasing. The ids belong to the history's
//! `epoch`, a random number that changes whenever the host's history starts over (it was
//! lost or damaged): a member that knew another epoch drops what it knew of the room's ids.
//!
//! # History
//! `since` is the newest message id the member has, of history `epoch` (`None` with an epoch:
//! it has seen none of that history). A member that knows no epoch (a newcomer), or another
//! one, gets the newest page of the history in its welcome. A member
//! coming back gets what it missed, however much: the welcome brings the first page (or none)
//! and `more` says whether more follow; the member then asks `History{after}` with the newest
//! id it has, page by page, until a `Page` says `more: false`. Messages posted meanwhile are
//! in the later pages; any that arrive live before the last page are left for it, so the
//! member sees every message once, in order. `resume` names the member's app run, so a member
//! coming back on a new connection takes its old place. A page holds at most
//! [`HISTORY_PAGE`] messages and about a megabyte (`store::PAGE_BYTES`): a page of long
//! messages is shorter, and says more follow. Each page asked for costs the member a post of
//! its allowance; a page asked for while one is on its way waits for it.
//!
//! # What a member may spend
//! A host keeps, for as long as it runs, what each key and each machine (address) may still
//! spend of the room: posts, their bytes, pages, presence changes, typing, renames, direct
//! messages and joins. Another session of the same key, or leaving and joining again, refills
//! nothing; a key holds a few sessions at most (`Refused{busy}` past them), and joining too
//! often is answered `TryLater{after_ms}`. A member passing through (`Hello.passing`: `lanchat
//! send`) is welcomed with nobody but itself and no history, hears nothing of the room, takes
//! no member's place (a few may pass at once; past them, `Refused{busy}`), and is not told to
//! anyone.
//!
//! File connections (see [`files`]) are admitted only from devices that have
//! joined the room while the host runs.

mod codec;
pub mod files;
pub mod keys;

pub(crate) use codec::encode_into;
pub use codec::{FrameCodec, ProtocolError, encode_frame};
pub use files::{DATA_LEN, FileHash, FileOffer, FileRef, MAX_FILE_SIZE, MAX_PIECES, Upload};

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Milliseconds since the Unix epoch: what a message's and a record's time stamps count.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Bumped when a change would make an older peer misread a newer one. 4: a room password is
/// stretched with Argon2id before SPAKE2 uses it, so version 3 peers would disagree on it.
pub const PROTOCOL_VERSION: u16 = 4;
/// Largest frame either side accepts: room for the largest chat message with margin, and
/// small, because the codec reserves the declared length as soon as it reads a header.
pub const MAX_FRAME_LEN: usize = 128 * 1024;
/// Largest chat message, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Largest sealed direct message: one Noise message.
pub const MAX_SEALED: usize = 65535;
/// Largest display name or room name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 64;
/// Largest of any other string field (ids, versions, reasons).
pub const MAX_SHORT_BYTES: usize = 256;
/// Most members a room admits, the host's own user included.
pub const MAX_MEMBERS: usize = 256;
/// Most history messages in one page: a newcomer's welcome brings the newest page, a member
/// catching up asks for page after page.
pub const HISTORY_PAGE: usize = 500;
/// How often a member pings its host when nothing else is said.
pub const PING_INTERVAL: Duration = Duration::from_secs(4);
/// Silence after which either side gives the other up: three pings (or their answers) missed,
/// so a peer whose machine or network died is noticed within seconds.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(12);
/// Longest a write to a peer may take before the peer counts as gone.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a new connection gets to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A room's identity: random, chosen when the room is first hosted, kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomId(std::sync::Arc<str>);

/// A device's identity on the network: derived from its public key ([`DeviceId::of_key`]),
/// so it cannot be claimed without that key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(std::sync::Arc<str>);

macro_rules! token_id {
    ($ty:ident) => {
        impl $ty {
            /// A fresh random id: 16 lowercase hex digits (64 bits).
            pub fn random() -> Self {
                Self(format!("{:016x}", rand::random::<u64>()).into())
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
                ok.then(|| Self(s.into()))
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
                id.0.to_string()
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

/// Crockford's base32 alphabet: no I, L, O or U, so a fingerprint read aloud is not misheard.
const FINGERPRINT_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl DeviceId {
    /// The device id of a public key: 128 bits of its BLAKE3 hash, in hex.
    pub fn of_key(key: &[u8; 32]) -> DeviceId {
        let hash = blake3::derive_key("lanchat 2026-12 device id", key);
        DeviceId(
            hash[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
        )
    }

    /// The first 80 bits of the device id as four groups of four characters, for two people
    /// to compare aloud (`K7QF-M2XA-PL9D-3RTW`). `None` for ids not made by [`Self::of_key`].
    pub fn fingerprint(&self) -> Option<String> {
        let s = &self.0;
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let bits = u128::from_str_radix(&s[..20], 16).ok()?; // 80 bits
        let mut out = String::with_capacity(19);
        for i in 0..16 {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            let digit = (bits >> (75 - 5 * i)) & 31;
            out.push(FINGERPRINT_ALPHABET[digit as usize] as char);
        }
        Some(out)
    }
}

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
        /// The member's number for this post, unique among its device's posts for good
        /// (see "Delivery"); echoed in the answer.
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
    /// Member → host, while catching up: the next page of history after message `after`
    /// (`None`: from the first).
    History { after: Option<u64> },
    /// Host → member: `count` history messages follow; `more` if the history goes on after
    /// them.
    Page { count: u32, more: bool },
    /// Member → host, scrolling back: the page of history before message `before`.
    Before { before: u64 },
    /// Host → member, the answer to `Before`: the `count` messages that follow are the page
    /// before `before`, oldest first; `more` if older ones are still further back.
    Earlier { before: u64, count: u32, more: bool },
    /// Host → members: someone joined.
    MemberJoined(Member),
    /// Host → members: someone left.
    MemberLeft(Member),
    /// Member → host: call me this from now on.
    Rename { name: String },
    /// Host → members: a member changed their display name.
    MemberRenamed(Member),
    /// Member → host: away from the keyboard now, or back ([`Member::away`]).
    Presence { away: bool },
    /// Host → members: a member went away or came back.
    MemberAway { member: MemberId, away: bool },
    /// Member → host: typing in the room now (sent at most every few seconds).
    Typing,
    /// Host → members but the typist: a member is typing (shown for a few seconds).
    MemberTyping { member: MemberId },
    /// Member → host: a direct message for member `to`, sealed for its device; answered
    /// `DirectSent{seq}` once handed to it, or `Rejected{seq, reason}`.
    Direct {
        to: MemberId,
        seq: u64,
        #[serde(with = "serde_bytes")]
        sealed: Vec<u8>,
    },
    /// Host → the recipient: a direct message from member `from`, as sealed by its sender.
    DirectFrom {
        from: MemberId,
        #[serde(with = "serde_bytes")]
        sealed: Vec<u8>,
    },
    /// Host → sender: direct message `seq` is handed to its recipient's connection.
    DirectSent { seq: u64 },
    /// Member → host: keep-alive.
    Ping,
    /// Host → member: keep-alive answer.
    Pong,
    /// Member → host: I am leaving.
    Bye,
    /// Host → members: the room is closing; the connection ends next.
    Closing { reason: String },
    /// Host → member, in a password room: the host's SPAKE2 message and its proof of the
    /// shared key.
    Spake {
        #[serde(with = "serde_bytes")]
        msg: Vec<u8>,
        #[serde(with = "serde_bytes")]
        proof: Vec<u8>,
    },
    /// Member → host, in a password room: the member's proof of the shared key.
    Proof {
        #[serde(with = "serde_bytes")]
        proof: Vec<u8>,
    },
    /// Host → member, instead of `Welcome`: not now — try again after `after_ms` (password
    /// tries from this address are being slowed down); the host closes next.
    TryLater { after_ms: u64, reason: String },
    /// Client → host, instead of `Hello`: which room is this?
    Who,
    /// Host → client, the answer to `Who`; the host closes next.
    About {
        room: RoomId,
        room_name: String,
        host_name: String,
        members: u32,
        /// Whether joining needs the room's password.
        #[serde(default)]
        locked: bool,
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
        /// Shared, so a block read from disk is sent without copying it per frame.
        bytes: bytes::Bytes,
    },
    /// Host → uploader, about once a second while data arrives: verified up to `offset`.
    Received { offset: u64 },
    /// Host → uploader: the file is verified, kept, and posted as message `id`.
    Stored { id: u64 },
    /// Either way on a file connection: this transfer stops, and why.
    Cancel { reason: String },
    /// A frame kind from a newer version; decoded from any unknown tag, never sent.
    #[serde(skip)]
    Unknown,
}

/// The member's introduction. Its device is not in it: the host takes it from the key the
/// member proved in the handshake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The member's app version, for the host's logs.
    pub app: String,
    /// Display name.
    pub name: String,
    /// The room the member means to join; a host that runs another room on that port refuses.
    pub room: RoomId,
    /// Newest message id the member already has; the host sends only newer history.
    pub since: Option<u64>,
    /// The history epoch `since` belongs to.
    #[serde(default)]
    pub epoch: Option<u64>,
    /// Names the member's app run, for de-duplicating posts resent after a reconnect.
    pub resume: u64,
    /// In a password room, the member's SPAKE2 message (see the module docs).
    #[serde(default, with = "serde_bytes", skip_serializing_if = "Option::is_none")]
    pub password: Option<Vec<u8>>,
    /// Only passing through (`lanchat send`): the host does not show it as a member.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub passing: bool,
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
    /// The history's epoch: the ids of its messages mean nothing in another.
    pub epoch: u64,
    /// How many history `Message` frames follow.
    pub history: u32,
    /// Whether more history follows those (the member asks with `History`).
    pub more: bool,
}

/// One member of a room, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Unique in the room while it runs; kept when the same app run rejoins.
    pub id: MemberId,
    /// Display name.
    pub name: String,
    /// The member's device, from the key it proved: its fingerprint tells it apart.
    pub device: DeviceId,
    /// True for the host's own user.
    pub host: bool,
    /// Away from the keyboard: the member's app saw no input for a while.
    #[serde(default)]
    pub away: bool,
    /// The key the member proved to the host, to seal direct messages to it; the member's
    /// `device` is derived from it, which the sender checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<keys::PublicKey>,
}

/// What a direct message says, sealed (see [`crate::net::sealed`]) so that only its
/// recipient reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectBody {
    /// The sender's number for it, unique among its direct messages for good.
    pub seq: u64,
    /// When it was written, milliseconds since the Unix epoch.
    pub ts: i64,
    /// The sender's display name.
    pub name: String,
    pub text: String,
}

impl DirectBody {
    /// Checks a body just opened.
    pub fn validate(&self) -> Result<(), String> {
        check_name("sender name", &self.name)?;
        check_text(&self.text)
    }
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
    /// Sender's device, from the key of the session it was posted on.
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
        "history",
        "page",
        "before",
        "earlier",
        "presence",
        "member_away",
        "typing",
        "member_typing",
        "direct",
        "direct_from",
        "direct_sent",
        "member_joined",
        "member_left",
        "rename",
        "member_renamed",
        "ping",
        "pong",
        "bye",
        "closing",
        "spake",
        "proof",
        "try_later",
        "who",
        "about",
        "upload",
        "upload_from",
        "download",
        "file_header",
        "data",
        "received",
        "stored",
        "cancel",
    ];

    /// Checks every limit a decoded frame must respect; the codec calls this on each frame.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Frame::Hello(h) => {
                check_short("app version", &h.app)?;
                check_short(
                    "password message",
                    h.password.as_deref().unwrap_or_default(),
                )?;
                check_name("display name", &h.name)
            }
            Frame::Spake { msg, proof } => {
                check_short("password message", msg)?;
                check_short("proof", proof)
            }
            Frame::Proof { proof } => check_short("proof", proof),
            Frame::Welcome(w) => {
                check_name("room name", &w.room_name)?;
                check_name("host name", &w.host_name)?;
                if w.members.len() > MAX_MEMBERS {
                    return Err(format!("more than {MAX_MEMBERS} members"));
                }
                if w.history as usize > HISTORY_PAGE {
                    return Err(format!("more than {HISTORY_PAGE} history messages"));
                }
                w.members.iter().try_for_each(Member::validate)
            }
            Frame::Refused { reason, .. }
            | Frame::TryLater { reason, .. }
            | Frame::Rejected { reason, .. }
            | Frame::Closing { reason } => check_short("reason", reason),
            Frame::Post { text, .. } => check_text(text),
            Frame::Message(m) => m.validate(),
            Frame::Upload(upload) => files::check_upload(upload),
            Frame::FileHeader { offer, .. } => offer.validate(),
            Frame::Data { bytes, .. } if bytes.len() > DATA_LEN => Err(format!(
                "more than {DATA_LEN} bytes of file data in one frame"
            )),
            Frame::Cancel { reason } => check_short("reason", reason),
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
            } => {
                check_name("room name", room_name)?;
                check_name("host name", host_name)
            }
            Frame::Page { count, .. } | Frame::Earlier { count, .. }
                if *count as usize > HISTORY_PAGE =>
            {
                Err(format!(
                    "more than {HISTORY_PAGE} history messages in a page"
                ))
            }
            Frame::Accepted { .. }
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
            Frame::History { .. } => "history",
            Frame::Page { .. } => "page",
            Frame::Before { .. } => "before",
            Frame::Presence { .. } => "presence",
            Frame::MemberAway { .. } => "member_away",
            Frame::Typing => "typing",
            Frame::MemberTyping { .. } => "member_typing",
            Frame::Direct { .. } => "direct",
            Frame::DirectFrom { .. } => "direct_from",
            Frame::DirectSent { .. } => "direct_sent",
            Frame::Earlier { .. } => "earlier",
            Frame::MemberJoined(_) => "member_joined",
            Frame::MemberLeft(_) => "member_left",
            Frame::Rename { .. } => "rename",
            Frame::MemberRenamed(_) => "member_renamed",
            Frame::Ping => "ping",
            Frame::Pong => "pong",
            Frame::Bye => "bye",
            Frame::Closing { .. } => "closing",
            Frame::Spake { .. } => "spake",
            Frame::Proof { .. } => "proof",
            Frame::TryLater { .. } => "try_later",
            Frame::Who => "who",
            Frame::About { .. } => "about",
            Frame::Upload(_) => "upload",
            Frame::UploadFrom { .. } => "upload_from",
            Frame::Download { .. } => "download",
            Frame::FileHeader { .. } => "file_header",
            Frame::Data { .. } => "data",
            Frame::Received { .. } => "received",
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

/// A fresh post number (see "Delivery"): random, and of 53 bits, so JSON carries it exactly.
pub fn new_post_seq() -> u64 {
    rand::random::<u64>() >> 11
}

/// This build's version, sent in `Hello`.
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");
