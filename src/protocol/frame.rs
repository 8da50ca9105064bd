//! [`Frame`]: everything said on the wire, with its payloads and the names of its kinds.

use super::{
    CancelCode, CloseCode, DeviceId, FileHash, FileOffer, FileRef, MemberId, Refusal, RejectCode,
    RoomId, Upload, WaitCode, keys,
};
use serde::{Deserialize, Serialize};

/// Everything said on the wire. See the module docs for who sends what, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "c", rename_all = "snake_case")]
pub enum Frame {
    /// Member → host, first frame: who is asking to join which room.
    Hello(Hello),
    /// Host → member, first frame: you are in.
    Welcome(Welcome),
    /// Host → member, instead of `Welcome` (or an answer to a file connection): you are
    /// not, and why.
    Refused(Refusal),
    /// Member → host: a chat message to store and fan out.
    Post {
        /// The member's number for this post, unique among its device's posts for good
        /// (see "Delivery"); echoed in the answer.
        seq: u64,
        /// The message, at most [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES).
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
        /// Why.
        code: RejectCode,
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
    /// `DirectSent{seq}` once handed to it, or `Rejected{seq, code}`.
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
    /// Host → members: the room is closing, and why; the connection ends next.
    Closing { code: CloseCode },
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
    TryLater { after_ms: u64, code: WaitCode },
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
    /// Either way on a file connection: file bytes at `offset`, at most [`DATA_LEN`](super::DATA_LEN).
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
    Cancel { code: CancelCode },
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
    /// The message, at most [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES); may be empty when a file is attached.
    pub text: String,
    /// A file shared with the message, kept by the host for later joiners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileRef>,
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

    /// The frame kind, for log lines and protocol errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::Welcome(_) => "welcome",
            Frame::Refused(_) => "refused",
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
