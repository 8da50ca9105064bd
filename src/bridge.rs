//! The only two message types between the UI (or a headless front end) and the runtime:
//! [`Command`]s in, [`Event`]s out, each over a channel neither side ever waits on.
//!
//! Events are few except chat messages, whose pace the network sets; so chat messages are
//! bounded: at most [`MESSAGE_BACKLOG`] wait for the front end. Past it, a room's messages
//! are no longer queued (every one is in the profile's database already) and the front end
//! is told the room is [`Event::Behind`]; it asks for them with [`Command::CatchUp`] once it
//! gets there, and they come back from the database a page at a time. (Without a database —
//! it could not be opened — nothing is dropped.) The front end's half does that asking itself
//! ([`order`]): every front end receives each room's messages in order and once, the missed
//! ones as [`Event::Missed`].

mod errors;
mod order;
pub mod words;

/// How a joined room's session stands, and why a post or a password was not taken: the
/// session's codes ([`words`] says them).
pub use crate::net::session::{Failure, PasswordNeed, Rejection, SessionState, Waiting};
pub use errors::{DatabaseFailure, HostFailure, JoinFailure, SearchFailure};

use crate::discovery::{AdKey, RoomAd};
use crate::net::identity::PublicKey;
use crate::protocol::{ChatMessage, DeviceId, FileHash, FileRef, Member, MemberId, RoomId};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::mpsc;

/// The most chat messages that wait for the front end at once: a front end that stops
/// reading (a window left minimized, a script whose output nobody reads) costs this much
/// memory at most, not the whole flood.
pub const MESSAGE_BACKLOG: usize = 2048;

/// What a front end asks the runtime to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Take `key` as the person called `name`'s from now on (their key changed and the user
    /// accepts it), and whether the user compared fingerprints with them (`verified`).
    AcceptPerson {
        name: String,
        key: PublicKey,
        verified: bool,
    },
    /// Host a room and join it. `id` re-hosts a room hosted before, with its history.
    /// `password`: `Some("")` makes the room open, `Some(p)` locks it with `p`, `None` keeps
    /// what the room had (a new room is open).
    Host {
        name: String,
        id: Option<RoomId>,
        password: Option<String>,
    },
    /// Close a room this app hosts: members are told, the advert is withdrawn.
    StopHosting(RoomId),
    /// Join a room at these addresses (from discovery, or typed by a headless user), with
    /// its password if it is locked.
    Join {
        room: RoomId,
        addrs: Vec<SocketAddr>,
        password: Option<String>,
    },
    /// Try a room's password (after [`SessionState::NeedsPassword`]).
    Unlock { room: RoomId, password: String },
    /// Trust the new key a room's host presented (after [`SessionState::KeyChanged`]) and
    /// join it.
    TrustHostKey { room: RoomId, key: PublicKey },
    /// Stay out of the machine presenting `key` for a room (after
    /// [`SessionState::KeyChanged`]) but keep the room: its session waits for the host key it
    /// knows, keeping what we wrote meanwhile.
    StayOut { room: RoomId, key: PublicKey },
    /// Join the room at an address typed by a person (`HOST:PORT`), for networks where
    /// discovery cannot see it. `expect`, if given, is the room's name or id, checked first.
    JoinAddress {
        addr: String,
        expect: Option<String>,
        password: Option<String>,
        /// Join even if the room `expect` names was joined before with another host key or
        /// id (the user was told, and accepts it).
        trust_new_key: bool,
    },
    /// Ask `HOST:PORT` (typed by a person) which room it runs, without joining:
    /// [`Event::Probed`] follows.
    Probe { addr: String },
    /// Leave a joined room.
    Leave(RoomId),
    /// Post a chat message. `seq` is the caller's increasing number for it, echoed back in
    /// [`Event::Accepted`] or [`Event::Rejected`].
    Send {
        room: RoomId,
        seq: u64,
        text: String,
    },
    /// Send files to a room we are in.
    SendFiles { room: RoomId, paths: Vec<PathBuf> },
    /// Download a file shared in a room we are in, into the downloads folder.
    Download { room: RoomId, file: FileRef },
    /// Stop a transfer; a download's partial file is removed.
    CancelTransfer(TransferId),
    /// Open a received file with the system's default app.
    Open(PathBuf),
    /// Show a received file in the system's file manager.
    Reveal(PathBuf),
    /// Make a thumbnail of the file at `path` (a picture saved or sent in an earlier run,
    /// shown now): [`Event::Thumbnail`] follows if it is one.
    Thumbnail { hash: FileHash, path: PathBuf },
    /// Change a setting: kept in the settings file and put to work at once (see
    /// [`crate::store::Change`]).
    Settings(crate::store::Change),
    /// The user looks at how the network fares (the diagnostics panel is open), or no
    /// longer does: while they do, discovery confirms the rooms' adverts now and then, so
    /// [`Event::Network`] tells who was heard from lately.
    Diagnosing(bool),
    /// Send the messages of a room after `after` (all of them for `None`) from the database:
    /// the answer to [`Event::Behind`], sent by the front end's half of the bridge.
    /// [`Event::CaughtUp`] follows, and the room's messages are queued again from now on.
    CatchUp { room: RoomId, after: Option<u64> },
    /// Ask the room's host for the page of history before message `before` (the user
    /// scrolled back); [`Event::Earlier`] follows.
    Earlier { room: RoomId, before: u64 },
    /// The user went away from the keyboard (no input for a while), or came back: every
    /// room hears it.
    Presence { away: bool },
    /// The user is typing in `room` (the window sends it at most every few seconds).
    Typing { room: RoomId },
    /// A direct message for member `to` of `room`, sealed for its device and relayed by
    /// the room's host; [`Event::Direct`] follows, then [`Event::DirectSent`] or
    /// [`Event::DirectFailed`].
    SendDirect {
        room: RoomId,
        to: Member,
        seq: u64,
        text: String,
    },
    /// Look for the messages of the rooms' histories kept here that hold these words (as a
    /// person typed them; see [`crate::store::fts_query`]): [`Event::SearchResults`]
    /// follows, unless a newer search came meanwhile.
    Search { query: String },
    /// Read a room's messages from `from` up to (not including) `until`, or to the newest,
    /// from the database: what lies between a search result and the oldest message shown.
    /// [`Event::Loaded`] follows.
    LoadFrom {
        room: RoomId,
        from: u64,
        until: Option<u64>,
    },
    /// Say goodbye everywhere and stop; [`Event::Stopped`] follows.
    Shutdown,
}

/// What the runtime tells the front end.
#[derive(Debug, Clone)]
pub enum Event {
    /// What the network side is doing now, for the status line.
    Network(NetStatus),
    /// A room was found on the network, or its advert changed (member count, addresses).
    RoomFound(RoomAd),
    /// The host keys pinned for rooms joined before (told once at start): each room's id, its
    /// host's fingerprint, and its name then.
    KnownHosts(Vec<(RoomId, String, String)>),
    /// The keys pinned for the people we exchanged direct messages with, by name: at start,
    /// and whenever one is added or accepted.
    People(Vec<(String, crate::net::trust::PersonPin)>),
    /// A room's advert is gone (told apart by id and claimed key, as found).
    RoomLost(AdKey),
    /// A room this app hosts is listening and advertised.
    Hosting {
        room: RoomId,
        name: String,
        port: u16,
        /// Whether joining needs its password.
        locked: bool,
    },
    /// A room this app hosted is closed.
    HostingStopped { room: RoomId },
    /// Hosting a room failed; `error` is for the user.
    HostFailed { name: String, error: HostFailure },
    /// How the connection to a joined room stands.
    Session { room: RoomId, state: SessionState },
    /// The host let us in. Replaces any earlier member list for that room.
    Joined {
        room: RoomId,
        room_name: String,
        host_name: String,
        you: MemberId,
        members: Vec<Member>,
        /// How many history messages follow (as `Message` events that are not live).
        history: u32,
        /// The host's key, as its handshake proved it (and now pinned for the room).
        host_key: PublicKey,
    },
    /// The history sent on joining has all arrived.
    HistoryDone { room: RoomId },
    /// A member went away from the keyboard, or came back.
    MemberAway {
        room: RoomId,
        member: MemberId,
        away: bool,
    },
    /// A member is typing (shown for a few seconds unless said again).
    Typing { room: RoomId, member: MemberId },
    /// A direct message, ours (as sending) or theirs, just now.
    Direct(crate::store::Direct),
    /// The direct messages kept from earlier runs, oldest first (at start).
    DirectsKept(Vec<crate::store::Direct>),
    /// One of our direct messages reached its recipient's connection.
    DirectSent { peer: DeviceId, seq: u64 },
    /// One of our direct messages was not delivered.
    DirectFailed {
        peer: DeviceId,
        seq: u64,
        reason: Rejection,
    },
    /// The page of history before message `before`, oldest first (empty if the host could
    /// not be asked), and whether older messages are further back.
    Earlier {
        room: RoomId,
        before: u64,
        messages: Vec<ChatMessage>,
        more: bool,
    },
    /// The front end fell behind: this room's messages stopped coming this way (the
    /// database has them). The front end's half of the bridge asks for them
    /// ([`Command::CatchUp`]), and [`Event::Missed`] pages follow until one says `done`.
    Behind { room: RoomId },
    /// A room's messages from the database, after the id asked for, oldest first; `more`: a
    /// page is full, ask again after its last. Some may have arrived already. Taken by the
    /// front end's half of the bridge, which hands them over as [`Event::Missed`].
    CaughtUp {
        room: RoomId,
        messages: Vec<ChatMessage>,
        more: bool,
    },
    /// Messages of a room that came while the front end was behind, oldest first, after the
    /// last it received and before the next live one: counted, not each announced. `done`:
    /// the last page; the room is caught up.
    Missed {
        room: RoomId,
        messages: Vec<ChatMessage>,
        done: bool,
    },
    /// The host's history of a room started over (it was lost or damaged): the messages shown
    /// so far are not in it, and its history follows afresh.
    HistoryReset { room: RoomId },
    /// Someone joined a room we are in.
    MemberJoined { room: RoomId, member: Member },
    /// Someone left a room we are in.
    MemberLeft { room: RoomId, member: Member },
    /// A member of a joined room changed their name (the member carries the new one).
    MemberRenamed { room: RoomId, member: Member },
    /// What [`Command::Probe`] found at `addr`: the room there, as an advert would describe it
    /// (with the addresses it resolved to), or why there is none, in words.
    Probed {
        addr: String,
        found: Result<crate::discovery::RoomAd, JoinFailure>,
    },
    /// [`Command::JoinAddress`] found no room to join; `error` is for the user.
    JoinFailed { error: JoinFailure },
    /// A problem the user should hear of and can act on (a full disk, say).
    Alert(String),
    /// How far a file a member sends to a room we host has come.
    Arriving(Arrival),
    /// A file, or its folder, could not be shown (no app or file manager for it): the
    /// window says so and offers the path to copy.
    NotOpened { path: PathBuf, error: String },
    /// A message in a joined room; `live` is false for the history sent on joining.
    Message {
        room: RoomId,
        message: ChatMessage,
        live: bool,
    },
    /// A post of ours from an earlier run that the host has not answered yet: it is sent
    /// again when the room is reached (told when the room's session starts).
    Pending {
        room: RoomId,
        seq: u64,
        text: String,
    },
    /// A room we were in when lanchat last ran: it is being joined again (told at start).
    Restored {
        room: RoomId,
        room_name: String,
        host_name: String,
    },
    /// The host stored our post `seq` as message `id`.
    Accepted { room: RoomId, seq: u64, id: u64 },
    /// The host (or we, before sending) refused post `seq`.
    Rejected {
        room: RoomId,
        seq: u64,
        reason: Rejection,
    },
    /// How a file transfer stands (sent a few times a second while it runs).
    Transfer(Transfer),
    /// A small picture of a received image, to show in its message.
    Thumbnail {
        hash: FileHash,
        image: Arc<Thumbnail>,
    },
    /// The downloads folder changed.
    Downloads(PathBuf),
    /// A file saved by an earlier download (told at start, so its message offers Open).
    Saved { hash: FileHash, path: PathBuf },
    /// What [`Command::Search`] for `query` found, or why it could not look.
    SearchResults {
        query: String,
        found: Result<crate::store::Found, SearchFailure>,
    },
    /// The messages [`Command::LoadFrom`] `from` asked for, oldest first (empty if they
    /// could not be read).
    Loaded {
        room: RoomId,
        from: u64,
        messages: Vec<ChatMessage>,
    },
    /// lanchat was started again on this profile: bring the window to the front.
    Raise,
    /// The runtime has finished shutting down.
    Stopped,
}

/// How a transfer stands: the file feature's report, shown as it is.
pub use crate::files::report::{Arrival, Transfer, TransferFailure, TransferId, TransferState};

/// An image made small, as RGBA pixels.
#[derive(Debug, PartialEq, Eq)]
pub struct Thumbnail {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// `width × height` pixels, 4 bytes each, row by row.
    pub rgba: Vec<u8>,
}

/// The network side's condition, for the status line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetStatus {
    /// Interfaces discovery uses, e.g. `["eth0 10.0.0.5", "wlan0 …"]`.
    pub interfaces: Vec<String>,
    /// Whether room discovery is running.
    pub discovery: bool,
    /// The latest problem, in words a user can act on.
    pub problem: Option<String>,
    /// Every interface, used or skipped and why, and how mDNS fares, for the diagnostics
    /// panel; empty while discovery is off.
    pub report: crate::discovery::Report,
}

/// Wakes the front end when an event is queued (for the window: `ctx.request_repaint`).
type Waker = Arc<OnceLock<Box<dyn Fn() + Send + Sync>>>;

/// How many chat messages wait for the front end, and which rooms it fell behind on.
#[derive(Default)]
struct Backlog {
    /// Chat messages queued and not yet taken.
    queued: AtomicUsize,
    /// Rooms whose messages are not queued until the front end asks to catch up.
    behind: Mutex<HashSet<RoomId>>,
    /// Set when there is no database to read missed messages back from: then nothing is
    /// dropped, whatever it costs.
    unbounded: std::sync::atomic::AtomicBool,
}

impl Backlog {
    /// What becomes of a chat message for `room`.
    fn admit(&self, room: &RoomId) -> Admit {
        let mut behind = self.behind.lock().expect("backlog lock");
        if behind.contains(room) {
            return Admit::Drop;
        }
        if self.queued.load(Ordering::Acquire) >= MESSAGE_BACKLOG
            && !self.unbounded.load(Ordering::Relaxed)
        {
            behind.insert(room.clone());
            return Admit::Behind;
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        Admit::Queue
    }
}

/// What becomes of a chat message.
enum Admit {
    Queue,
    /// The first past the bound: queue word that its room is behind instead.
    Behind,
    /// Its room is behind already.
    Drop,
}

/// The runtime's way to send events: queues the event, then wakes the front end.
#[derive(Clone)]
pub struct EventSender {
    /// The queue the front end drains.
    tx: mpsc::UnboundedSender<Event>,
    /// Set once by the front end; until then events just queue.
    waker: Waker,
    /// Bounds the chat messages in `tx`.
    backlog: Arc<Backlog>,
}

impl EventSender {
    /// Queues an event and wakes the front end. A front end that is gone is not an error:
    /// the runtime is then shutting down anyway. A chat message past the backlog is not
    /// queued (see the module's doc).
    pub fn send(&self, event: Event) {
        let event = match &event {
            Event::Message { room, .. } => match self.backlog.admit(room) {
                Admit::Queue => event,
                Admit::Behind => Event::Behind { room: room.clone() },
                Admit::Drop => return,
            },
            _ => event,
        };
        if self.tx.send(event).is_ok()
            && let Some(wake) = self.waker.get()
        {
            wake();
        }
    }

    /// There is no database to read missed messages back from: queue every one.
    pub fn unbounded(&self) {
        self.backlog.unbounded.store(true, Ordering::Relaxed);
    }

    /// The front end asked to catch up on `room` (or the room was joined or left afresh):
    /// its messages are queued again.
    pub fn caught_up(&self, room: &RoomId) {
        self.backlog
            .behind
            .lock()
            .expect("backlog lock")
            .remove(room);
    }
}

/// The front end's end of the events: keeps the count of chat messages waiting, and each
/// room's messages in order when the front end fell behind.
pub struct EventReceiver {
    /// The queue [`EventSender`] fills.
    rx: mpsc::UnboundedReceiver<Event>,
    /// Shared with the sender: each chat message taken is one fewer waiting.
    backlog: Arc<Backlog>,
    /// Catches up on rooms the front end fell behind in, and holds what comes meanwhile.
    order: order::InOrder,
    /// The runtime's commands, for the catch-up requests `order` makes.
    commands: mpsc::UnboundedSender<Command>,
}

impl EventReceiver {
    /// The next event; `None` once the runtime is gone. Cancel-safe: an event taken from
    /// the queue is kept for the next call.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.order.ready.pop_front() {
                return Some(event);
            }
            let event = self.rx.recv().await?;
            self.sort(event);
        }
    }

    /// The next event if one is ready.
    pub fn try_recv(&mut self) -> Result<Event, mpsc::error::TryRecvError> {
        loop {
            if let Some(event) = self.order.ready.pop_front() {
                return Ok(event);
            }
            let event = self.rx.try_recv()?;
            self.sort(event);
        }
    }

    /// Takes an event off the queue, into order.
    fn sort(&mut self, event: Event) {
        if let Event::Message { .. } = event {
            self.backlog.queued.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(catch_up) = self.order.sort(event) {
            let _ = self.commands.send(catch_up);
        }
    }
}

/// The front end's half of the bridge.
pub struct FrontEnd {
    /// Commands to the runtime.
    pub commands: mpsc::UnboundedSender<Command>,
    /// Events from the runtime.
    pub events: EventReceiver,
    /// Shared with [`EventSender`]; set by [`FrontEnd::set_waker`].
    waker: Waker,
}

impl FrontEnd {
    /// Installs what wakes the front end on each event (the window's repaint request).
    pub fn set_waker(&self, wake: impl Fn() + Send + Sync + 'static) {
        let _ = self.waker.set(Box::new(wake));
    }

    /// Sends a command; a runtime that is gone has already said so with an event.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }
}

/// The runtime's half of the bridge.
pub struct Backend {
    /// Commands from the front end.
    pub commands: mpsc::UnboundedReceiver<Command>,
    /// Events to the front end.
    pub events: EventSender,
}

/// A connected pair of bridge halves.
pub fn channel() -> (FrontEnd, Backend) {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let waker: Waker = Arc::default();
    let backlog: Arc<Backlog> = Arc::default();
    let catch_up = cmd_tx.clone();
    (
        FrontEnd {
            commands: cmd_tx,
            events: EventReceiver {
                rx: ev_rx,
                backlog: backlog.clone(),
                order: order::InOrder::default(),
                commands: catch_up,
            },
            waker: waker.clone(),
        },
        Backend {
            commands: cmd_rx,
            events: EventSender {
                tx: ev_tx,
                waker,
                backlog,
            },
        },
    )
}

pub use crate::units::{human_duration, human_size};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::DeviceId;

    fn message(room: &RoomId, id: u64) -> Event {
        Event::Message {
            room: room.clone(),
            message: ChatMessage {
                id,
                ts: 0,
                from: "Bob".into(),
                device: DeviceId::parse("bob").unwrap(),
                text: "hi".into(),
                file: None,
            },
            live: true,
        }
    }

    #[test]
    fn chat_messages_wait_for_a_front_end_up_to_the_backlog_and_no_further() {
        let (mut front, back) = channel();
        let (a, b) = (RoomId::parse("a").unwrap(), RoomId::parse("b").unwrap());
        for id in 0..MESSAGE_BACKLOG as u64 + 500 {
            back.events.send(message(&a, id));
        }
        back.events.send(message(&b, 0));
        // Other events are not bounded by it.
        back.events.send(Event::HistoryDone { room: a.clone() });
        let mut got = Vec::new();
        while let Ok(event) = front.events.try_recv() {
            got.push(event);
        }
        let messages = got
            .iter()
            .filter(|e| matches!(e, Event::Message { .. }))
            .count();
        assert_eq!(messages, MESSAGE_BACKLOG);
        let behind: Vec<&RoomId> = got
            .iter()
            .filter_map(|e| match e {
                Event::Behind { room } => Some(room),
                _ => None,
            })
            .collect();
        assert_eq!(behind, vec![&a, &b], "each room is said to be behind once");
        // The front end's half asked for what each missed, after the last it has.
        let mut back = back;
        let mut asked = Vec::new();
        while let Ok(Command::CatchUp { room, after }) = back.commands.try_recv() {
            asked.push((room, after));
        }
        let last_a = MESSAGE_BACKLOG as u64 - 1;
        assert_eq!(asked, vec![(a.clone(), Some(last_a)), (b.clone(), None)]);

        // Meanwhile `a`'s messages stay in the database, and its history's end waits.
        back.events.send(message(&a, 9999));
        assert!(front.events.try_recv().is_err());
        // The runtime answers: the room's messages are queued again, the missed ones follow.
        back.events.caught_up(&a);
        back.events.send(Event::CaughtUp {
            room: a.clone(),
            messages: Vec::new(),
            more: false,
        });
        back.events.send(message(&a, 10_000));
        assert!(matches!(
            front.events.try_recv(),
            Ok(Event::Missed { done: true, .. })
        ));
        assert!(matches!(
            front.events.try_recv(),
            Ok(Event::HistoryDone { .. })
        ));
        assert!(matches!(front.events.try_recv(), Ok(Event::Message { .. })));
    }

    #[test]
    fn without_a_database_to_read_back_from_nothing_is_dropped() {
        let (mut front, back) = channel();
        back.events.unbounded();
        let a = RoomId::parse("a").unwrap();
        let sent = MESSAGE_BACKLOG as u64 + 10;
        for id in 0..sent {
            back.events.send(message(&a, id));
        }
        let mut got = 0;
        while let Ok(event) = front.events.try_recv() {
            assert!(matches!(event, Event::Message { .. }), "{event:?}");
            got += 1;
        }
        assert_eq!(got, sent);
    }
}
