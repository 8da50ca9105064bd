//! The member side of a room: dial the host (racing its addresses), greet, then carry posts
//! out and the room's frames in as [`SessionEvent`]s told to the runtime. When the host goes
//! away the session waits and rejoins by itself, resending posts the host never confirmed.
//!
//! Here: the [`Session`] handle the runtime holds, its configuration, and the task's state;
//! `report.rs` holds what it tells (its [`Report`]), `state.rs` how it stands.
//! The task's life is in the files beside: `rejoin.rs` (the loop that joins, waits and
//! rejoins), `join.rs` (the handshake up to the welcome), `connected.rs` (a joined spell: the
//! host's frames and the user's asks), `outbox.rs` (posts until the host answers them),
//! `history.rs` (pages of history, on joining and scrolling back), `directs.rs` (direct
//! messages, sealed and opened) and `who.rs` (asking an address which room it runs).

mod connected;
mod directs;
mod history;
mod join;
mod outbox;
mod rejoin;
mod report;
mod state;
mod who;

pub use report::{Report, SessionEvent};
pub use state::{Failure, PasswordNeed, Rejection, SessionState, Waiting};
pub use who::{About, WhoError, ask_who};

use crate::net::identity::{Identity, PublicKey};
use crate::net::link::Timeouts;
use crate::net::password::RoomSecret;
use crate::net::trust::{KnownHosts, KnownPeople};
use crate::protocol::RoomId;
use crate::protocol::{DeviceId, Member};
use crate::store::{DirectStore, MemberStore};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Who is joining which room, where.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The room to join; a host running another room refuses.
    pub room: RoomId,
    /// The host's addresses, tried together.
    pub addrs: Vec<SocketAddr>,
    /// Our display name in the room.
    pub name: String,
    /// Our device key, proved to the host: what we post is attributed to it.
    pub identity: Identity,
    /// The host keys pinned per room: a host presenting another is not joined.
    pub trust: Arc<KnownHosts>,
    /// The keys of the people we exchanged direct messages with: one listed with another
    /// key is not written to.
    pub people: Arc<KnownPeople>,
    /// The room's password secret, for a locked room.
    pub password: Option<RoomSecret>,
    /// Names this app run, so the host can recognise posts resent after a reconnect.
    pub resume: u64,
    /// Only passing through (`lanchat send`): the host does not show us as a member.
    pub passing: bool,
    /// Told the room's id when its host vanishes, so discovery can check the advert.
    pub host_gone: Option<mpsc::UnboundedSender<RoomId>>,
    /// Deadlines for the connection.
    pub timeouts: Timeouts,
    /// Where the member's record of this room is kept (outbox, messages seen, that we are
    /// in it); `None` keeps nothing (the host's own session in its own room, tests).
    pub store: Option<MemberStore>,
    /// Where direct messages are kept (in rooms we host too); `None` keeps none.
    pub directs: Option<DirectStore>,
}

/// Asks of a running session.
#[derive(Debug)]
enum SessionCmd {
    Post {
        seq: u64,
        text: String,
    },
    /// The room was seen (again) at these addresses; rejoin now if waiting.
    Redial(Vec<SocketAddr>),
    /// Our display name changed.
    Rename(String),
    /// The user gave the room's password: try it now.
    Password(RoomSecret),
    /// The user trusted the host's new key (it is pinned now): try again now.
    Retry,
    /// The user stays out of a host presenting this key: keep waiting for the key pinned.
    Distrust(PublicKey),
    /// The user scrolled back: the page before message `before`.
    Before(u64),
    /// The user went away from the keyboard, or came back.
    Presence(bool),
    /// The user is typing in this room.
    Typing,
    /// A direct message for a member, to seal and send through this room's host.
    Direct {
        to: Member,
        seq: u64,
        text: String,
    },
    Leave,
}

/// A handle on one joined room's session task.
pub struct Session {
    /// Commands to the session task.
    tx: mpsc::UnboundedSender<SessionCmd>,
    /// The session task, awaited (or aborted) when leaving.
    task: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Starts joining; what happens in the room is told to `report`.
    pub fn spawn(config: SessionConfig, report: impl Report) -> Session {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(rejoin::run(config, Box::new(report), rx));
        Session { tx, task }
    }

    /// Queues a post; it is sent now or after the next rejoin.
    pub fn post(&self, seq: u64, text: String) {
        let _ = self.tx.send(SessionCmd::Post { seq, text });
    }

    /// Changes our name in the room (now if connected, else at the next join).
    pub fn rename(&self, name: String) {
        let _ = self.tx.send(SessionCmd::Rename(name));
    }

    /// Tries joining again with this password (after the host asked for one).
    pub fn password(&self, secret: RoomSecret) {
        let _ = self.tx.send(SessionCmd::Password(secret));
    }

    /// Tries joining again now (after the user trusted the host's new key).
    pub fn retry(&self) {
        let _ = self.tx.send(SessionCmd::Retry);
    }

    /// Keeps the room but not the key its host presented (after the user chose to stay
    /// out): the session waits for the key it knows, and says so.
    pub fn distrust(&self, key: PublicKey) {
        let _ = self.tx.send(SessionCmd::Distrust(key));
    }

    /// Asks the host for the page of history before message `before` (the user scrolled
    /// back); the runtime hears [`SessionEvent::Earlier`].
    pub fn before(&self, before: u64) {
        let _ = self.tx.send(SessionCmd::Before(before));
    }

    /// Says whether the user is away from the keyboard (now, and after each rejoin).
    pub fn presence(&self, away: bool) {
        let _ = self.tx.send(SessionCmd::Presence(away));
    }

    /// Sends a direct message to member `to` through this room's host, sealed for its key;
    /// the runtime hears [`SessionEvent::Direct`], then [`SessionEvent::DirectSent`] or
    /// [`SessionEvent::DirectFailed`].
    pub fn direct(&self, to: Member, seq: u64, text: String) {
        let _ = self.tx.send(SessionCmd::Direct { to, seq, text });
    }

    /// Says the user is typing (dropped while not connected: it is news only now).
    pub fn typing(&self) {
        let _ = self.tx.send(SessionCmd::Typing);
    }

    /// Tells a waiting session where its room is now.
    pub fn redial(&self, addrs: Vec<SocketAddr>) {
        let _ = self.tx.send(SessionCmd::Redial(addrs));
    }

    /// Says goodbye to the host and ends, within `limit`.
    pub async fn leave(self, limit: Duration) {
        let _ = self.tx.send(SessionCmd::Leave);
        let mut task = self.task;
        if tokio::time::timeout(limit, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// The session task's state.
struct Run {
    /// Who joins where; the addresses and name change as discovery and the user say.
    config: SessionConfig,
    /// Where what happens in the room is told (the runtime).
    report: Box<dyn Report>,
    /// The member's record of the room, if kept.
    store: Option<MemberStore>,
    /// Posts not yet confirmed by the host, oldest first: resent after a rejoin.
    outbox: VecDeque<(u64, String)>,
    /// How many of the outbox's first posts are sent on this connection.
    in_flight: usize,
    /// The newest message id seen, so a rejoin fetches only newer history.
    last_id: Option<u64>,
    /// The history epoch `last_id` belongs to.
    epoch: Option<u64>,
    /// History messages still to come in this page; the ones after are live.
    history_left: u32,
    /// Whether more pages of history follow this one (we are catching up).
    more_history: bool,
    /// Whether the next page is to be asked for.
    ask_page: bool,
    /// Whether the history being received is news to us (after a rejoin: what we missed).
    history_is_news: bool,
    /// A page of older history on its way (the user scrolled back).
    earlier: Option<history::EarlierPage>,
    /// Whether the user is away from the keyboard: said to the host after each join.
    away: bool,
    /// Our direct messages sent on this connection and not yet answered: their recipient.
    directs_out: std::collections::HashMap<u64, DeviceId>,
    /// Who is in the room by device, as its host lists them: what a direct message's sender is
    /// called (its key's name here, never what the message says).
    names: std::collections::HashMap<DeviceId, String>,
    /// Keys the user chose to stay out of when they answered for this room: meeting one
    /// again is waited past, not asked about again.
    distrusted: Vec<PublicKey>,
}

impl Run {
    /// The state of a session not yet joined, knowing nothing of the room yet.
    fn new(config: SessionConfig, report: Box<dyn Report>) -> Run {
        let store = config.store.clone();
        Run {
            config,
            report,
            store,
            outbox: VecDeque::new(),
            in_flight: 0,
            last_id: None,
            epoch: None,
            history_left: 0,
            more_history: false,
            ask_page: false,
            history_is_news: false,
            earlier: None,
            away: false,
            directs_out: Default::default(),
            names: Default::default(),
            distrusted: Vec::new(),
        }
    }

    /// Tells the runtime what happened in the room.
    fn tell(&self, event: SessionEvent) {
        self.report.report(&self.config.room, event);
    }

    fn state(&self, state: SessionState) {
        self.tell(SessionEvent::State(state));
    }
}
