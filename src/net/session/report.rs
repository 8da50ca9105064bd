//! What a session tells whoever runs it (the runtime): [`SessionEvent`]s, each about the
//! session's room, handed to a [`Report`]. The session knows nothing of front ends; the
//! runtime turns each into the bridge's event, and a test can take them off a channel.

use super::{Rejection, SessionState};
use crate::net::identity::PublicKey;
use crate::net::password::RoomSecret;
use crate::net::trust::PersonPin;
use crate::protocol::{ChatMessage, DeviceId, Member, MemberId, RoomId, Welcome};
use crate::store::Direct;
use tokio::sync::mpsc;

/// Where a session's reports go. Called from the session's task, in the order things
/// happen; it must not wait.
pub trait Report: Send + Sync + 'static {
    /// `event` happened in the session of `room`.
    fn report(&self, room: &RoomId, event: SessionEvent);
}

/// Reports queued on a channel, with their room, for a loop to take in order.
impl Report for mpsc::UnboundedSender<(RoomId, SessionEvent)> {
    fn report(&self, room: &RoomId, event: SessionEvent) {
        let _ = self.send((room.clone(), event));
    }
}

/// What happened in a joined room's session (each names the bridge event it becomes, but
/// [`SessionEvent::LetIn`], which is the runtime's alone).
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// How the connection stands now.
    State(SessionState),
    /// The host checked our password and let us in: the secret to remember for the next
    /// start, with the host key it was proven to. Never passed on to a front end.
    LetIn { secret: RoomSecret, host: PublicKey },
    /// The host let us in: its welcome (who is here, how much history follows), and the key
    /// its handshake proved.
    Joined {
        welcome: Box<Welcome>,
        host_key: PublicKey,
    },
    /// The history sent on joining has all arrived.
    HistoryDone,
    /// The host's history started over: it follows afresh.
    HistoryReset,
    /// A message; `live` is false for history.
    Message { message: ChatMessage, live: bool },
    /// A post of an earlier run not yet answered, sent again when the room is reached.
    Pending { seq: u64, text: String },
    /// The host stored our post `seq` as message `id`.
    Accepted { seq: u64, id: u64 },
    /// The host (or we, before sending) refused post `seq`.
    Rejected { seq: u64, reason: Rejection },
    /// Someone joined.
    MemberJoined(Member),
    /// Someone left.
    MemberLeft(Member),
    /// A member changed their name.
    MemberRenamed(Member),
    /// A member went away from the keyboard, or came back.
    MemberAway { member: MemberId, away: bool },
    /// A member is typing.
    Typing { member: MemberId },
    /// The page of history before message `before` (empty if the host could not be asked).
    Earlier {
        before: u64,
        messages: Vec<ChatMessage>,
        more: bool,
    },
    /// A direct message, ours (as sending) or theirs.
    Direct(Direct),
    /// One of our direct messages reached its recipient's connection.
    DirectSent { peer: DeviceId, seq: u64 },
    /// One of our direct messages was not delivered.
    DirectFailed {
        peer: DeviceId,
        seq: u64,
        reason: Rejection,
    },
    /// The keys pinned for people changed (one was added).
    People(Vec<(String, PersonPin)>),
}
