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
//!                                        ◄─ Accepted{seq, id}   (or Rejected{seq, code}),
//!                                           once the message is on the host's disk
//!                                        ◄─ MemberJoined / MemberLeft
//!   Rename{name}                          ─►
//!                                        ◄─ MemberRenamed       (to everyone)
//!   Presence{away}                        ─►  (no input for 10 minutes, or back)
//!                                        ◄─ MemberAway{member, away}   (to everyone)
//!   Typing                                ─►  (while typing, at most every 3 s)
//!                                        ◄─ MemberTyping{member}       (to the others)
//!   Direct{to, seq, sealed}               ─►  (sealed for `to`'s key: the host cannot read it)
//!                                        ◄─ DirectSent{seq}     (or Rejected{seq, code})
//!                                        ◄─ DirectFrom{from, sealed}   (to `to` only)
//!   Ping                                  ─►  (every 4 s)
//!                                        ◄─ Pong
//!   Bye                                   ─►  (leaving; the host then closes)
//!                                        ◄─ Closing{code}       (the host is closing the room)
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
//! nothing; a key holds a few sessions at most (`Refused{sessions}` past them), and joining too
//! often is answered `TryLater{after_ms}`. A member passing through (`Hello.passing`: `lanchat
//! send`) is welcomed with nobody but itself and no history, hears nothing of the room, takes
//! no member's place (a few may pass at once; past them, `Refused{passing}`), and is not told to
//! anyone.
//!
//! File connections (see [`files`]) are admitted only from devices that have
//! joined the room while the host runs.
//!
//! Where things live: `frame` holds [`Frame`] and its payloads, `ids` the room and device
//! ids, `limits` the sizes and times both sides keep, `validate` the checks every decoded
//! frame passes, `version` the version and why a host refuses, `reasons` the other codes
//! that say why (rejected, closing, try later, cancel); [`files`] the frames that
//! carry files, [`keys`] the device key, and `codec` frames on a byte stream.

mod codec;
pub mod files;
mod frame;
mod ids;
pub mod keys;
mod limits;
mod reasons;
mod validate;
mod version;

pub(crate) use codec::encode_into;
pub use codec::{FrameCodec, ProtocolError, encode_frame};
pub use files::{DATA_LEN, FileHash, FileOffer, FileRef, MAX_FILE_SIZE, MAX_PIECES, Upload};
pub use frame::{ChatMessage, DirectBody, Frame, Hello, Member, Welcome};
pub use ids::{DeviceId, MemberId, RoomId};
pub use limits::{
    HANDSHAKE_TIMEOUT, HISTORY_PAGE, IDLE_TIMEOUT, MAX_FRAME_LEN, MAX_MEMBERS, MAX_NAME_BYTES,
    MAX_SEALED, MAX_SHORT_BYTES, MAX_TEXT_BYTES, PING_INTERVAL, WRITE_TIMEOUT,
};
pub use reasons::{CancelCode, CloseCode, RejectCode, WaitCode};
pub use validate::{Invalid, check_name, check_text};
pub use version::{APP_VERSION, PROTOCOL_VERSION, Refusal, RefuseCode};

/// Milliseconds since the Unix epoch: what a message's and a record's time stamps count.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A fresh post number (see "Delivery"): random, and of 53 bits, so JSON carries it exactly.
pub fn new_post_seq() -> u64 {
    rand::random::<u64>() >> 11
}
