//! The host side of a room: listeners on an ephemeral port (IPv4 and IPv6), a reader and a
//! writer task per member, and one room task that owns the member list and the history and
//! fans each message out as bytes encoded once.
//!
//! Reading and writing a member's socket are separate tasks, so a member that stops reading
//! never stops the host from reading it (and two full send buffers cannot wait on each other),
//! and every write has a deadline.

use crate::files::FileStore;
use crate::files::transfer::{self, HostFiles};
use crate::net::identity::{Identity, PublicKey};
use crate::net::limits::{
    AddressPlace, Allowances, HandshakePlace, Handshakes, Limits, PerAddress,
};
use crate::net::link::{self, Link, LinkError, LinkReader, LinkWriter, Timeouts};
use crate::net::password::{Guesses, HostAnswer, RoomSecret};
use crate::protocol::now_ms;
use crate::protocol::{
    ChatMessage, DeviceId, FileRef, Frame, Hello, MAX_MEMBERS, Member, MemberId, ProtocolError,
    RefuseCode, RoomId, Upload, Welcome, encode_frame,
};
use crate::store::{
    Database, History, ProblemSink, StoreError, Stored, read_page, read_page_before,
};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Frames queued for one member before it counts as too slow and is dropped (besides the
/// bytes, `Limits::member_queue_bytes`).
const MEMBER_QUEUE: usize = 2048;
/// Commands queued for the room task; a member flooding it waits, it does not grow memory.
const ROOM_QUEUE: usize = 1024;
/// Posts of one member held back while it sends faster than the room allows: they are stored
/// (in order) as its allowance comes back. A member keeps fewer than this unanswered (see
/// the protocol's "Delivery"); past it (or past `Limits::held_bytes`), posts are refused.
const HELD_POSTS: usize = 256;
/// Longest the room waits, when it closes, for its last messages to reach the disk.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

/// What a room needs to start.
#[derive(Clone)]
pub struct HostConfig {
    /// The room's identity, checked against each member's hello.
    pub room: RoomId,
    /// The room's name, sent in the welcome.
    pub room_name: String,
    /// The hosting user's display name, shown as the room's host.
    pub host_name: String,
    /// The hosting device's key: every link proves it, and the member holding it is the host.
    pub identity: Identity,
    /// The room's folder: a history file an older lanchat left there is imported.
    pub dir: PathBuf,
    /// The profile's database, which holds the room's history; `None` opens one of the
    /// room's own in `dir` (tests and benchmarks).
    pub db: Option<Database>,
    /// Port to try first (the room's previous one); 0 or a taken port means any free port.
    pub port: u16,
    /// Listen on this address only; `None` means every address, IPv4 and IPv6 (tests use
    /// loopback).
    pub bind: Option<IpAddr>,
    /// Hears of problems the hosting user should know about.
    pub problems: Option<ProblemSink>,
    /// Where the room keeps the files shared in it, within a size limit.
    pub files: FileStore,
    /// The room's password secret; `None` for an open room.
    pub password: Option<RoomSecret>,
    /// What one address or one member may take.
    pub limits: Limits,
    /// Deadlines for every connection.
    pub timeouts: Timeouts,
}

impl HostConfig {
    /// A room with the default limits and deadlines, open to anyone who finds it.
    pub fn new(
        room: RoomId,
        room_name: String,
        host_name: String,
        identity: Identity,
        dir: PathBuf,
        files_limit: u64,
    ) -> Self {
        Self {
            room,
            room_name,
            host_name,
            identity,
            db: None,
            port: 0,
            bind: None,
            problems: None,
            files: FileStore::new(dir.join("files"), files_limit),
            dir,
            password: None,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("could not listen for members: {0}")]
    Listen(std::io::Error),
    #[error("could not open the room's history: {0}")]
    History(StoreError),
}

/// What a room holds for its members, in bytes: each member's share is capped by
/// `Limits::member_queue_bytes` and `Limits::held_bytes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Sessions in the room (members and those passing through).
    pub sessions: usize,
    /// Encoded frames queued for them and not yet written, in all.
    pub queued: usize,
    /// The most queued for any one of them.
    pub most_queued: usize,
    /// Posts held back while their senders were over their allowance, in all.
    pub held: usize,
}

/// A running room. Dropping it without [`RoomHost::close`] leaves members to time out.
pub struct RoomHost {
    /// The port members connect to (the same on IPv4 and IPv6).
    pub port: u16,
    /// The number of members, for the room's advert.
    members: watch::Receiver<u32>,
    /// Commands to the room task.
    room: mpsc::Sender<RoomCmd>,
    /// Stops the accept loops and every member task.
    cancel: CancellationToken,
    /// Every task of this room, to wait for them at close.
    tasks: TaskTracker,
    /// The room's kept files, to change their limit.
    files: Arc<HostFiles>,
}

impl RoomHost {
    /// Opens the history, binds the listeners and starts accepting members.
    pub async fn start(config: HostConfig) -> Result<RoomHost, HostError> {
        let (dir, db, room) = (config.dir.clone(), config.db.clone(), config.room.clone());
        let (history, warning, known) = tokio::task::spawn_blocking(move || {
            let db = match db {
                Some(db) => db,
                None => Database::open(&dir.join("lanchat.db"))?.0,
            };
            let (history, warning) = History::open(&db, &room, &dir.join("history.jsonl"))?;
            let known = crate::store::senders(&db, &room)?;
            Ok::<_, StoreError>((history, warning, known))
        })
        .await
        .map_err(|e| HostError::History(StoreError::Sqlite(e.to_string())))?
        .map_err(HostError::History)?;
        let listeners = bind(config.bind, config.port).map_err(HostError::Listen)?;
        let port = listeners[0].local_addr().map_err(HostError::Listen)?.port();

        let known = Arc::new(std::sync::Mutex::new(known));
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let (count_tx, count_rx) = watch::channel(0);
        let (room_tx, room_rx) = mpsc::channel(ROOM_QUEUE);
        let gates = Arc::new(Gates {
            handshakes: Handshakes::new(config.limits.handshakes),
            handshakes_per_address: PerAddress::new(config.limits.handshakes_per_address),
            connections_per_address: PerAddress::new(config.limits.connections_per_address),
            guesses: Guesses::new(config.limits.password_wait, config.limits.password_wait_max),
        });
        let files = Arc::new(HostFiles::new(
            config.room.clone(),
            config.files.clone(),
            &config.limits,
        ));
        let shared = Arc::new(Shared {
            known: known.clone(),
            identity: config.identity.clone(),
            password: config.password.clone(),
            timeouts: config.timeouts,
            limits: config.limits,
            files: files.clone(),
            gates,
        });
        let host_device = config.identity.device();
        let config_limits = config.limits;
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let room = Room {
            recent_files: HashMap::new(),
            pong: encode_frame(&Frame::Pong).expect("a pong encodes"),
            host_device,
            config,
            members: BTreeMap::new(),
            next_member: 1,
            history,
            internal: internal_tx,
            holding: Default::default(),
            allowances: Allowances::new(&config_limits),
            readers: Arc::new(Semaphore::new(config_limits.history_readers)),
            machine_queues: HashMap::new(),
            known,
            count: count_tx,
        };
        if let Some(warning) = warning {
            room.problem(format!("{}: {warning}", room.config.room_name));
        }
        tasks.spawn(room.run(room_rx, internal_rx));
        for listener in listeners {
            let accept = Accept {
                shared: shared.clone(),
                room: room_tx.clone(),
                cancel: cancel.clone(),
                tasks: tasks.clone(),
            };
            tasks.spawn(accept.run(listener));
        }
        tracing::info!("room listening on port {port}");
        Ok(RoomHost {
            port,
            members: count_rx,
            room: room_tx,
            cancel,
            tasks,
            files,
        })
    }

    /// Watches the member count.
    pub fn member_count(&self) -> watch::Receiver<u32> {
        self.members.clone()
    }

    /// What the room holds for its members now, against their budgets (see [`Usage`]).
    pub async fn usage(&self) -> Usage {
        let (reply, usage) = oneshot::channel();
        if self.room.send(RoomCmd::Usage { reply }).await.is_err() {
            return Usage::default();
        }
        usage.await.unwrap_or_default()
    }

    /// Changes how many bytes of files the room keeps, from the next kept file on.
    pub fn set_files_limit(&self, limit: u64) {
        self.files.store.set_limit(limit);
    }

    /// Changes the host's display name as the room shows it. Never waits: with the room's
    /// queue full (a flood), the name is handed over by a task as soon as there is room.
    pub fn rename_host(&self, name: String) {
        if let Err(mpsc::error::TrySendError::Full(cmd)) =
            self.room.try_send(RoomCmd::RenameHost { name })
        {
            let room = self.room.clone();
            tokio::spawn(async move { room.send(cmd).await });
        }
    }

    /// Tells every member the room is closing, stores the history and stops, within `limit`.
    pub async fn close(self, reason: String, limit: Duration) {
        let _ = self.room.send(RoomCmd::Close { reason }).await;
        self.tasks.close();
        // The room task ends each session once it has written the goodbye; the token cuts
        // off whatever has not finished by the limit.
        if tokio::time::timeout(limit, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("room tasks did not finish within {limit:?}; cutting them off");
            self.cancel.cancel();
            self.tasks.wait().await;
        }
    }
}

/// Binds one address, or the same port on IPv4 and IPv6 (IPv6 only where the system has it).
fn bind(only: Option<IpAddr>, port: u16) -> std::io::Result<Vec<TcpListener>> {
    let first = only.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let first = match listen(SocketAddr::new(first, port)) {
        Ok(listener) => listener,
        Err(e) if port != 0 => {
            tracing::debug!("port {port} is taken ({e}); using any free port");
            return bind(only, 0);
        }
        Err(e) => return Err(e),
    };
    let port = first.local_addr()?.port();
    let mut listeners = vec![first];
    if only.is_none() {
        match listen(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
            Ok(v6) => listeners.push(v6),
            Err(e) => tracing::info!("no IPv6 listener on port {port}: {e}"),
        }
    }
    Ok(listeners)
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        // Separate sockets per family behave the same on every OS.
        socket.set_only_v6(true)?;
    }
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// The address one machine's limits are counted under: the address it connects from, an
/// IPv4-mapped IPv6 address as its IPv4 address. IPv6 addresses are counted one by one, not
/// by prefix: on a LAN every machine shares the one /64 (and `fe80::/64`), so a prefix would
/// make the whole network one machine. A machine's other addresses are linked to it by its
/// key once it joins (see [`crate::net::limits::Allowances`]).
pub fn address_key(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// A time no timer reaches, for a `select!` branch that is off.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

/// Numbers connections, so a leave from a replaced connection is told apart.
static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// What every connection of a room shares.
struct Shared {
    /// Keys that have been members of this room (shared with the room task).
    known: Arc<std::sync::Mutex<std::collections::HashSet<DeviceId>>>,
    /// The host's key, proved to every member.
    identity: Identity,
    /// The room's password secret, for locked rooms.
    password: Option<RoomSecret>,
    /// Deadlines of the handshake and of a silent member.
    timeouts: Timeouts,
    /// Budgets a connection is held to (its queue's bytes, above all).
    limits: Limits,
    /// The room's kept files, for file connections.
    files: Arc<HostFiles>,
    /// How many connections may be where at once, and from whom.
    gates: Arc<Gates>,
}

/// The host's limits on connections, shared by its listeners.
struct Gates {
    /// Places for connections still in their handshake, from everyone; when all are taken,
    /// the biggest holder gives one up to a newcomer.
    handshakes: Arc<Handshakes>,
    /// The same, per address: one machine cannot take every place.
    handshakes_per_address: Arc<PerAddress>,
    /// Connections of any kind, per address.
    connections_per_address: Arc<PerAddress>,
    /// Password tries per address and per key.
    guesses: Arc<Guesses>,
}

/// What a connection holds while it is in its handshake, given back when it is through.
struct HandshakePlaces {
    /// Among every connection's (see [`Handshakes`]).
    all: HandshakePlace,
    /// Among its address's (`Limits` handshakes per address).
    _address: AddressPlace,
}

/// What an accept loop hands each new connection.
struct Accept {
    shared: Arc<Shared>,
    room: mpsc::Sender<RoomCmd>,
    /// The room's cancel token; each connection gets a child.
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Accept {
    async fn run(self, listener: TcpListener) {
        let gates = &self.shared.gates;
        loop {
            let accepted = tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = self.room.closed() => return, // the room task has finished
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!("accepting a member failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Over a limit, the connection is closed at once: it costs nobody else a place.
            let ip = address_key(peer.ip());
            let Some(connection) = gates.connections_per_address.take(ip) else {
                tracing::debug!("{peer}: too many connections from {ip}; closing");
                continue;
            };
            let Some(address) = gates.handshakes_per_address.take(ip) else {
                tracing::debug!("{peer}: too many handshakes from {ip}; closing");
                continue;
            };
            let token = self.cancel.child_token();
            let all = gates.handshakes.take(ip, token.clone());
            let conn = Conn {
                id: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
                peer,
                room: self.room.clone(),
                token,
                tasks: self.tasks.clone(),
                shared: self.shared.clone(),
                _connection: connection,
            };
            let places = HandshakePlaces {
                all,
                _address: address,
            };
            self.tasks.spawn(conn.serve(stream, places));
        }
    }
}
/// What the room task is asked to do.
enum RoomCmd {
    /// A member finished its hello; `reply` gets its id or a refusal.
    Join {
        hello: Hello,
        /// The key the member's link proved: its device, and what direct messages to it
        /// are sealed for.
        key: PublicKey,
        /// The machine it connects from (see [`address_key`]), whose allowance it shares.
        address: IpAddr,
        conn: u64,
        out: Outbox,
        /// Ends the member's connection when the room drops it.
        kick: CancellationToken,
        /// Its id, or the frame that turns it away (`Refused`, or `TryLater`).
        reply: oneshot::Sender<Result<MemberId, Box<Frame>>>,
    },
    Post {
        member: MemberId,
        seq: u64,
        text: String,
    },
    Ping {
        member: MemberId,
    },
    /// A member catching up asks for the history after message `after`.
    History {
        member: MemberId,
        after: Option<u64>,
    },
    /// A member scrolling back asks for the page before message `before`.
    Before {
        member: MemberId,
        before: u64,
    },
    /// A member went away from the keyboard, or came back.
    Presence {
        member: MemberId,
        away: bool,
    },
    /// A member is typing.
    Typing {
        member: MemberId,
    },
    /// A member's direct message for another, sealed: relayed, never read.
    Direct {
        member: MemberId,
        to: MemberId,
        seq: u64,
        sealed: Vec<u8>,
    },
    /// An upload is coming or kept: post it to the room; `reply` gets the message id, or why
    /// not (the sender posts too fast).
    PostFile {
        from: String,
        device: DeviceId,
        /// The sender's machine, whose allowance the post costs (it may have left since).
        machine: IpAddr,
        file: FileRef,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    Rename {
        member: MemberId,
        name: String,
    },
    /// The room says something in the host's name (e.g. which kept files went).
    HostSays {
        text: String,
    },
    /// The hosting user changed their name.
    RenameHost {
        name: String,
    },
    /// Connection `conn` of a member ended.
    Leave {
        member: MemberId,
        conn: u64,
    },
    /// A file connection from `device`: `reply` gets its name in the room, or `None` if it
    /// is not a member.
    WhoIs {
        device: DeviceId,
        /// Its name in the room, and the machine its allowances are counted under (a
        /// dual-stack machine's file connections count as that machine's, whichever of its
        /// addresses they come from).
        reply: oneshot::Sender<Option<(String, IpAddr)>>,
    },
    /// Someone asked which room this is.
    About {
        reply: oneshot::Sender<Frame>,
    },
    /// What the room holds for its members now.
    Usage {
        reply: oneshot::Sender<Usage>,
    },
    /// The room is closing.
    Close {
        reason: String,
    },
}

/// One member, as the room task keeps it.
struct Slot {
    /// The member as others see it.
    member: Member,
    /// Identifies the member's app run, to recognise resent posts and rejoins.
    resume: u64,
    /// The connection in use; a leave from an older one is ignored.
    conn: u64,
    /// The machine it connects from, whose allowance (with its key's) it spends.
    machine: IpAddr,
    /// Posts held back while the member is over its allowance, oldest first: `(seq, text)`.
    held: VecDeque<(u64, String)>,
    /// The bytes of text in `held`.
    held_bytes: usize,
    /// A page of history it asked for and waits for (its allowance, or a read under way),
    /// as the id it is after.
    asked_page: Option<Option<u64>>,
    /// Encoded frames for the member's writer; dropping it ends the session after the queue.
    out: Outbox,
    /// Ends the connection at once (for members too slow to keep up, or replaced).
    kick: CancellationToken,
    /// When this member's typing was last passed on: at most every [`TYPING_EVERY`], so a
    /// member cannot flood the room with it.
    typing_told: Option<Instant>,
    /// A page of history is being read from disk for this member: one at a time.
    reading: bool,
    /// Only passing through (`lanchat send`: in, a file, out): not shown to the room as a
    /// member, nor counted, and told nothing of the room (see `Limits::passing`).
    passing: bool,
}

/// One member's queue of encoded frames, capped in frames and in bytes: a member that stops
/// reading costs the host at most that much before it is dropped.
#[derive(Clone)]
struct Outbox {
    /// To the member's writer task; capped at [`MEMBER_QUEUE`] frames.
    frames: mpsc::Sender<Bytes>,
    /// Bytes queued and not yet written, for this member and for its machine; the writer
    /// takes off what it wrote.
    bytes: Arc<Queued>,
    /// The member's byte budget (`Limits::member_queue_bytes`).
    limit: usize,
}

/// What is queued for one member, and for all the members of its machine together.
#[derive(Default)]
struct Queued {
    /// Queued for this member.
    member: AtomicUsize,
    /// Shared by the members of one machine (set at the join, when the machine is known),
    /// with that machine's limit.
    machine: std::sync::OnceLock<(Arc<AtomicUsize>, usize)>,
}

impl Queued {
    /// `len` bytes were written: no longer held.
    fn written(&self, len: usize) {
        self.member.fetch_sub(len, Ordering::Relaxed);
        if let Some((machine, _)) = self.machine.get() {
            machine.fetch_sub(len, Ordering::Relaxed);
        }
    }
}

/// Why a frame was not queued.
#[derive(Debug)]
enum Unqueued {
    /// Over the member's budget: it is too slow.
    Full,
    /// Its session has ended.
    Closed,
}

impl Outbox {
    fn new(limit: usize) -> (Outbox, mpsc::Receiver<Bytes>, Arc<Queued>) {
        let (frames, rx) = mpsc::channel(MEMBER_QUEUE);
        let bytes = Arc::new(Queued::default());
        let outbox = Outbox {
            frames,
            bytes: bytes.clone(),
            limit,
        };
        (outbox, rx, bytes)
    }

    /// Bytes queued for this member now.
    fn queued(&self) -> usize {
        self.bytes.member.load(Ordering::Relaxed)
    }

    fn push(&self, frame: Bytes) -> Result<(), Unqueued> {
        let len = frame.len();
        if self.queued() + len > self.limit {
            return Err(Unqueued::Full);
        }
        let machine = self.bytes.machine.get();
        if let Some((machine, limit)) = machine
            && machine.load(Ordering::Relaxed) + len > *limit
        {
            return Err(Unqueued::Full);
        }
        // Counted before it is sent, so the writer never takes off bytes not yet added.
        self.bytes.member.fetch_add(len, Ordering::Relaxed);
        if let Some((machine, _)) = machine {
            machine.fetch_add(len, Ordering::Relaxed);
        }
        let unqueued = match self.frames.try_send(frame) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Unqueued::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Unqueued::Closed,
        };
        self.bytes.written(len);
        Err(unqueued)
    }
}

impl Drop for Queued {
    /// The session is over (its outbox and writer are gone): what was still queued for it is
    /// dropped with the channel, and no longer counts against its machine.
    fn drop(&mut self) {
        if let Some((machine, _)) = self.machine.get() {
            machine.fetch_sub(*self.member.get_mut(), Ordering::Relaxed);
        }
    }
}

/// How often a member's typing is passed on at most.
const TYPING_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a post is turned away when its sender goes past the room's limits.
const TOO_FAST: &str =
    "you are sending faster than this room allows; wait a moment and send it again";

/// Keys remembered as the room's past members at most (see `Room::known`).
const KNOWN_KEYS: usize = 65_536;

/// What typing costs of a member's allowance each time it is passed on.
const TYPING_COST: f64 = 0.5;

/// Who hears of a message's id once it is on the disk.
enum Reply {
    /// A member's post: `Accepted` (with `seq`), or `Rejected` if it could not be stored.
    Post { member: MemberId, seq: u64 },
    /// A file connection waiting for the file's message id.
    File(oneshot::Sender<Result<u64, String>>),
    /// Nobody (the host's own notices).
    Nobody,
}

/// What reaches the room task from outside its command queue.
enum Internal {
    /// A message's write is committed (they commit in the order they were given): the room
    /// hears it now, its sender once it is on the disk.
    Written {
        message: ChatMessage,
        stored: Stored,
        /// For a file: the key it is remembered under, so a retried upload is answered.
        file_key: Option<FileKey>,
    },
    /// A message's write is on the disk, or failed.
    Durable(Box<Durable>),
    /// A page of history read from disk for a member's connection.
    DiskPage {
        member: MemberId,
        conn: u64,
        page: Result<Vec<ChatMessage>, StoreError>,
    },
    /// The page before message `before`, read from disk for a member scrolling back, and
    /// whether older ones are further back.
    EarlierPage {
        member: MemberId,
        conn: u64,
        before: u64,
        page: Result<(Vec<ChatMessage>, bool), StoreError>,
    },
}

/// A message's write, finished.
struct Durable {
    message: ChatMessage,
    outcome: Result<Stored, StoreError>,
    reply: Reply,
}

/// A posted file, by sender, content and name.
type FileKey = (DeviceId, crate::protocol::FileHash, String);

/// The room task's state: everything about the room, owned by one task, so no locks.
struct Room {
    config: HostConfig,
    /// The host's own device: its member is marked as the host.
    host_device: DeviceId,
    /// The members now, by id.
    members: BTreeMap<MemberId, Slot>,
    /// The id the next member gets.
    next_member: MemberId,
    /// The history: the newest messages, the next id, and the store behind them.
    history: History,
    /// Where writes and disk reads report back to this task.
    internal: mpsc::UnboundedSender<Internal>,
    /// The members with posts or a page held back (so a busy room does not look through
    /// everyone).
    holding: std::collections::BTreeSet<MemberId>,
    /// What each key and machine may still spend, kept across sessions.
    allowances: Allowances,
    /// Places for reading history from disk, shared by every member.
    readers: Arc<Semaphore>,
    /// Bytes queued for the members of each machine together (see `Limits::machine_queue_bytes`).
    machine_queues: HashMap<IpAddr, Arc<AtomicUsize>>,
    /// Keys that have been members of this room: their password tries and handshakes are
    /// not held up by anyone else's (see [`Gates`]).
    known: Arc<std::sync::Mutex<std::collections::HashSet<DeviceId>>>,
    /// Publishes the member count.
    count: watch::Sender<u32>,
    /// A pong, encoded once.
    pong: Bytes,
    /// Files posted lately, by sender and content, with their message id: an upload retried
    /// after its confirmation was lost is answered with the first post, not posted twice.
    recent_files: HashMap<FileKey, (u64, std::time::Instant)>,
}

/// How long a posted file counts as recent for [`Room::recent_files`].
const RECENT_FILE: Duration = Duration::from_secs(600);

impl Room {
    async fn run(
        mut self,
        mut cmds: mpsc::Receiver<RoomCmd>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
    ) {
        loop {
            let release = self.next_release();
            let cmd = tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => cmd,
                    None => break,
                },
                Some(report) = internal.recv() => {
                    self.internal(report);
                    continue;
                }
                _ = tokio::time::sleep_until(release.unwrap_or_else(far_future)), if release.is_some() => {
                    self.release_held();
                    continue;
                }
            };
            match cmd {
                RoomCmd::Join {
                    hello,
                    key,
                    address,
                    conn,
                    out,
                    kick,
                    reply,
                } => {
                    let _ = reply.send(self.join(hello, key, address, conn, out, kick));
                }
                RoomCmd::WhoIs { device, reply } => {
                    let member = self.members.values().find(|s| s.member.device == device);
                    let _ = reply.send(member.map(|s| (s.member.name.clone(), s.machine)));
                }
                RoomCmd::Post { member, seq, text } => self.post(member, seq, text),
                RoomCmd::History { member, after } => self.history_page(member, after),
                RoomCmd::Before { member, before } => self.earlier_page(member, before),
                RoomCmd::Presence { member, away } => self.presence(member, away),
                RoomCmd::Typing { member } => self.typing(member),
                RoomCmd::Direct {
                    member,
                    to,
                    seq,
                    sealed,
                } => self.direct(member, to, seq, sealed),
                RoomCmd::Ping { member } => {
                    let pong = self.pong.clone();
                    self.send_bytes(member, pong);
                }
                RoomCmd::Rename { member, name } => self.rename(member, name),
                RoomCmd::PostFile {
                    from,
                    device,
                    machine,
                    file,
                    reply,
                } => self.post_file(from, (device, machine), file, reply),
                RoomCmd::RenameHost { name } => self.config.host_name = name,
                RoomCmd::HostSays { text } => {
                    let (from, device) = (self.config.host_name.clone(), self.host_device.clone());
                    let text = crate::store::clamp_text(&text);
                    self.store(from, device, text, None, None, Reply::Nobody);
                }
                RoomCmd::Leave { member, conn } => {
                    if self.members.get(&member).is_some_and(|s| s.conn == conn) {
                        self.leave(member);
                    }
                }
                RoomCmd::About { reply } => {
                    let _ = reply.send(Frame::About {
                        room: self.config.room.clone(),
                        room_name: self.config.room_name.clone(),
                        host_name: self.config.host_name.clone(),
                        members: self.present(),
                        locked: self.config.password.is_some(),
                    });
                }
                RoomCmd::Usage { reply } => {
                    let queued = self.members.values().map(|s| s.out.queued());
                    let queued: Vec<usize> = queued.collect();
                    let _ = reply.send(Usage {
                        sessions: self.members.len(),
                        queued: queued.iter().sum(),
                        most_queued: queued.iter().copied().max().unwrap_or(0),
                        held: self.members.values().map(|s| s.held_bytes).sum(),
                    });
                }
                RoomCmd::Close { reason } => {
                    self.close(reason, &mut internal).await;
                    return;
                }
            }
        }
        // Every sender is gone without a close: still keep the history.
        self.close("the room stopped".into(), &mut internal).await;
    }

    /// A write or a disk read has finished.
    fn internal(&mut self, report: Internal) {
        match report {
            Internal::Written {
                message,
                stored,
                file_key,
            } => {
                // Sent before its sync: lanchat crashing keeps it, and after the machine
                // stops, the database starts the room's history a new epoch (`mark_open`).
                if stored == Stored::New {
                    let id = message.id;
                    self.history.committed(message.clone());
                    self.broadcast(&Frame::Message(message));
                    if let Some(key) = file_key {
                        self.recent_files
                            .insert(key, (id, std::time::Instant::now()));
                    }
                }
            }
            Internal::Durable(durable) => {
                let Durable {
                    message,
                    outcome,
                    reply,
                } = *durable;
                let id = match outcome {
                    Ok(Stored::New) => Ok(message.id),
                    Ok(Stored::Existing(id)) => Ok(id),
                    // A notice that could not be saved (often about the full disk that stopped
                    // it) goes to the hosting user: if it failed to commit, no member saw it.
                    Err(e) if matches!(reply, Reply::Nobody) => {
                        return self.problem(format!(
                            "{}: {} (not saved in the room's history: {e})",
                            self.config.room_name, message.text
                        ));
                    }
                    Err(e) => {
                        self.problem(format!(
                            "A message in {} could not be saved: {e}",
                            self.config.room_name
                        ));
                        Err(format!("the host could not save it ({e})"))
                    }
                };
                match reply {
                    Reply::Post { member, seq } => {
                        let frame = match id {
                            Ok(id) => Frame::Accepted { seq, id },
                            Err(reason) => Frame::Rejected { seq, reason },
                        };
                        self.send_to(member, &frame);
                    }
                    Reply::File(reply) => {
                        let _ = reply.send(id);
                    }
                    Reply::Nobody => {}
                }
            }
            Internal::EarlierPage {
                member,
                conn,
                before,
                page,
            } => {
                match self.members.get_mut(&member) {
                    Some(slot) if slot.conn == conn => slot.reading = false,
                    _ => return,
                }
                match page {
                    Ok((page, more)) => {
                        let header = Frame::Earlier {
                            before,
                            count: page.len() as u32,
                            more,
                        };
                        self.send_messages(member, header, page);
                    }
                    Err(e) => {
                        tracing::warn!("reading the history of {}: {e}", self.config.room);
                        // Nothing older is sent: the member may ask again.
                        let header = Frame::Earlier {
                            before,
                            count: 0,
                            more: true,
                        };
                        self.send_to(member, &header);
                    }
                }
            }
            Internal::DiskPage { member, conn, page } => {
                match self.members.get_mut(&member) {
                    Some(slot) if slot.conn == conn => slot.reading = false,
                    // Gone, or back on another connection that asks for itself.
                    _ => return,
                }
                match page {
                    // Older than the memory's pages: more always follow.
                    Ok(page) if !page.is_empty() => self.send_page(member, page, true),
                    Ok(_) => {
                        let oldest = self.history.recent().next().map(|m| m.id);
                        self.serve_page(member, oldest.and_then(|id| id.checked_sub(1)));
                    }
                    Err(e) => {
                        tracing::warn!("reading the history of {}: {e}", self.config.room);
                        self.leave(member); // it rejoins and asks again
                    }
                }
            }
        }
    }

    /// Spends `posts` posts of `bytes` bytes of a member's allowance (its key's and its
    /// machine's), if they allow.
    fn spend(&mut self, member: MemberId, posts: f64, bytes: f64) -> bool {
        let Some(slot) = self.members.get(&member) else {
            return false;
        };
        let (key, machine) = (slot.member.device.clone(), slot.machine);
        self.allowances.spend(&key, machine, posts, bytes)
    }

    /// When the next member holding posts or a page back can be served, if any is.
    fn next_release(&mut self) -> Option<Instant> {
        let waiting: Vec<(DeviceId, IpAddr, f64)> = self
            .holding
            .iter()
            .filter_map(|id| {
                let slot = self.members.get(id)?;
                let bytes = match slot.held.front() {
                    Some((_, text)) => text.len() as f64,
                    // A page waits for a read under way: it is served when that ends.
                    None if slot.asked_page.is_some() && !slot.reading => 0.0,
                    None => return None,
                };
                Some((slot.member.device.clone(), slot.machine, bytes))
            })
            .collect();
        let now = Instant::now();
        waiting
            .into_iter()
            .map(|(key, machine, bytes)| now + self.allowances.wait(&key, machine, 1.0, bytes))
            .min()
    }

    /// Sends a member scrolling back the page before message `before`, read from disk off
    /// this task (scrolling back is rare; the newest pages are in memory for joins).
    fn earlier_page(&mut self, member: MemberId, before: u64) {
        // One read at a time, each costing a post of the member's allowance: asking without
        // end is a flood like any other, and is answered with nothing.
        let reading = self.members.get(&member).is_none_or(|s| s.reading);
        if reading || !self.spend(member, 1.0, 0.0) {
            let none = Frame::Earlier {
                before,
                count: 0,
                more: true,
            };
            return self.send_to(member, &none);
        }
        let Some(slot) = self.members.get_mut(&member) else {
            return;
        };
        slot.reading = true;
        let conn = slot.conn;
        self.read_history(move |db, room| Internal::EarlierPage {
            member,
            conn,
            before,
            page: read_page_before(db, room, before),
        });
    }

    /// Reads the room's history off this task, when one of the room's few reading places is
    /// free; what was read comes back as `Internal`.
    fn read_history(&self, read: impl FnOnce(&Database, &RoomId) -> Internal + Send + 'static) {
        let (db, room) = (self.history.database().clone(), self.config.room.clone());
        let (internal, readers) = (self.internal.clone(), self.readers.clone());
        tokio::spawn(async move {
            let Ok(_place) = readers.acquire_owned().await else {
                return;
            };
            let read = tokio::task::spawn_blocking(move || read(&db, &room)).await;
            if let Ok(read) = read {
                let _ = internal.send(read);
            }
        });
    }

    /// A member catching up asks for the page after `after`. Each page costs a post of its
    /// allowance, and one is read for it at a time: a page asked for meanwhile waits.
    fn history_page(&mut self, member: MemberId, after: Option<u64>) {
        let Some(slot) = self.members.get_mut(&member) else {
            return;
        };
        slot.asked_page = Some(after);
        self.holding.insert(member);
        self.release_held();
    }

    /// Sends a member the page after `after`: from memory at once, or from disk once read
    /// (off this task).
    fn serve_page(&mut self, member: MemberId, after: Option<u64>) {
        let Some(slot) = self.members.get_mut(&member) else {
            return;
        };
        if let Some((page, more)) = self.history.page_after(after) {
            return self.send_page(member, page, more);
        }
        slot.reading = true;
        let conn = slot.conn;
        self.read_history(move |db, room| Internal::DiskPage {
            member,
            conn,
            page: read_page(db, room, after),
        });
    }

    fn send_page(&mut self, member: MemberId, page: Vec<ChatMessage>, more: bool) {
        let header = Frame::Page {
            count: page.len() as u32,
            more,
        };
        self.send_messages(member, header, page);
    }

    /// Sends a page's header, then its messages, one after the other in the member's queue.
    fn send_messages(&mut self, member: MemberId, header: Frame, page: Vec<ChatMessage>) {
        for frame in std::iter::once(header).chain(page.into_iter().map(Frame::Message)) {
            self.send_to(member, &frame);
        }
    }

    /// Stores the posts members had held back, and serves the pages they asked for, as far
    /// as their allowances now go.
    fn release_held(&mut self) {
        let ids: Vec<MemberId> = std::mem::take(&mut self.holding).into_iter().collect();
        for member in ids {
            while let Some(slot) = self.members.get(&member) {
                let Some((_, text)) = slot.held.front() else {
                    break;
                };
                if !self.spend(member, 1.0, text.len() as f64) {
                    break;
                }
                let slot = self.members.get_mut(&member).expect("a member just seen");
                let (seq, text) = slot.held.pop_front().expect("a held post");
                slot.held_bytes -= text.len();
                self.store_post(member, seq, text);
            }
            let page = self
                .members
                .get(&member)
                .filter(|s| !s.reading)
                .and_then(|s| s.asked_page);
            if let Some(after) = page
                && self.spend(member, 1.0, 0.0)
            {
                if let Some(slot) = self.members.get_mut(&member) {
                    slot.asked_page = None;
                }
                self.serve_page(member, after);
            }
            if self
                .members
                .get(&member)
                .is_some_and(|s| !s.held.is_empty() || s.asked_page.is_some())
            {
                self.holding.insert(member);
            }
        }
    }

    fn join(
        &mut self,
        hello: Hello,
        key: PublicKey,
        address: IpAddr,
        conn: u64,
        out: Outbox,
        kick: CancellationToken,
    ) -> Result<MemberId, Box<Frame>> {
        let refuse = |code, reason: String| Box::new(Frame::Refused { code, reason });
        let device = key.device();
        if hello.room != self.config.room {
            let reason = "this host no longer runs that room".into();
            return Err(refuse(RefuseCode::WrongRoom, reason));
        }
        // The same app run coming back (its old connection not yet timed out) takes its old
        // place: nobody sees it leave and join again.
        let returning = self
            .members
            .iter()
            .find(|(_, s)| {
                // Coming back as the same kind: a passing session never turns into a member
                // unannounced (nor a member into one hidden from the room).
                s.member.device == device && s.resume == hello.resume && s.passing == hello.passing
            })
            .map(|(&id, _)| id);
        if returning.is_none() {
            let limits = &self.config.limits;
            let sessions = self.members.values().filter(|s| s.member.device == device);
            if sessions.count() >= limits.sessions_per_key {
                let reason = format!(
                    "this device is in the room on {} connections already",
                    limits.sessions_per_key
                );
                return Err(refuse(RefuseCode::Busy, reason));
            }
            let passing = self.members.values().filter(|s| s.passing).count();
            if hello.passing && passing >= limits.passing {
                let reason = "the room is busy with files being sent; try again in a moment";
                return Err(refuse(RefuseCode::Busy, reason.into()));
            }
            if !hello.passing && self.present() as usize >= MAX_MEMBERS {
                let reason = format!("the room is full ({MAX_MEMBERS} members)");
                return Err(refuse(RefuseCode::Full, reason));
            }
        }
        // Every join costs one of the key's and the machine's, coming back too: each is told
        // to the room, and a reconnect refills nothing.
        if let Err(wait) = self.allowances.join(&device, address) {
            return Err(Box::new(Frame::TryLater {
                after_ms: wait.as_millis() as u64,
                reason: "joining too often from this device; try again in a moment".into(),
            }));
        }
        let machine = self.allowances.machine(address);
        // What is queued for the members of one machine together has a budget too.
        self.machine_queues.retain(|_, q| Arc::strong_count(q) > 1);
        let together = self.machine_queues.entry(machine).or_default().clone();
        let _ = out
            .bytes
            .machine
            .set((together, self.config.limits.machine_queue_bytes));
        let id = returning.unwrap_or_else(|| {
            self.next_member += 1;
            self.next_member - 1
        });
        let member = Member {
            id,
            name: hello.name,
            host: device == self.host_device,
            device,
            away: false,
            key: Some(key),
        };
        // A member that knows this epoch gets what it missed; any other, the newest page;
        // one passing through, nothing of the room.
        let (history, more) = match hello.epoch {
            _ if hello.passing => (Vec::new(), false),
            Some(epoch) if epoch == self.history.epoch() => {
                let since = hello.since;
                // Older than memory: the member asks for pages, read from disk.
                self.history.page_after(since).unwrap_or((Vec::new(), true))
            }
            _ => (self.history.newest_page(), false),
        };
        let mut members: Vec<Member> = match hello.passing {
            true => Vec::new(),
            false => self
                .members
                .values()
                .filter(|s| s.member.id != id && !s.passing)
                .map(|s| s.member.clone())
                .collect(),
        };
        members.push(member.clone());
        let welcome = Frame::Welcome(Welcome {
            room: self.config.room.clone(),
            room_name: self.config.room_name.clone(),
            host_name: self.config.host_name.clone(),
            you: id,
            members,
            epoch: self.history.epoch(),
            history: history.len() as u32,
            more,
        });
        // The member's queue is empty and takes a welcome and a page of history (see
        // `PAGE_BYTES`), but its machine's may be full: then it comes back later, rather than
        // wait for a welcome that is not sent (what was queued goes with the refused session).
        let frames = std::iter::once(welcome).chain(history.into_iter().map(Frame::Message));
        for frame in frames {
            let Ok(bytes) = encode_frame(&frame) else {
                continue; // stored texts are clamped: not reached
            };
            if out.push(bytes).is_err() {
                return Err(Box::new(Frame::TryLater {
                    after_ms: 1000,
                    reason: "the host is busy sending to this computer; try again in a moment"
                        .into(),
                }));
            }
        }
        let slot = Slot {
            member: member.clone(),
            resume: hello.resume,
            conn,
            machine,
            held: VecDeque::new(),
            held_bytes: 0,
            asked_page: None,
            out,
            kick,
            typing_told: None,
            reading: false,
            passing: hello.passing,
        };
        let mut known = self.known.lock().expect("known keys");
        // Bounded: joins are metered, but a host may run for weeks.
        if known.len() < KNOWN_KEYS {
            known.insert(member.device.clone());
        }
        drop(known);
        match self.members.remove(&id) {
            Some(old) => {
                // Posts it had held back are dropped: it sends them again, in order, on
                // this connection.
                self.holding.remove(&id);
                self.members.insert(id, slot);
                old.kick.cancel();
                // Back on a new connection, present (its app says so again if it is away).
                if old.member.away {
                    self.broadcast(&Frame::MemberAway {
                        member: id,
                        away: false,
                    });
                }
                if old.member.name != member.name {
                    self.broadcast(&Frame::MemberRenamed(member));
                }
                tracing::info!("member {id} is back on a new connection");
            }
            None => {
                let passing = slot.passing;
                self.members.insert(id, slot);
                tracing::info!("{} joined as member {id}", member.name);
                if !passing {
                    self.broadcast_except(id, &Frame::MemberJoined(member));
                    self.count.send_replace(self.present());
                }
            }
        }
        Ok(id)
    }

    /// A member's post: stored now, or held back (in order) while the member is over its
    /// allowance, or refused if it has far too many held back.
    fn post(&mut self, member: MemberId, seq: u64, text: String) {
        let Some(slot) = self.members.get(&member) else {
            return;
        };
        if slot.held.is_empty() && self.spend(member, 1.0, text.len() as f64) {
            return self.store_post(member, seq, text);
        }
        let held_bytes = self.config.limits.held_bytes;
        let Some(slot) = self.members.get_mut(&member) else {
            return;
        };
        if slot.held.len() < HELD_POSTS && slot.held_bytes + text.len() <= held_bytes {
            slot.held_bytes += text.len();
            slot.held.push_back((seq, text));
            self.holding.insert(member);
            return;
        }
        let reason = TOO_FAST.to_owned();
        self.send_to(member, &Frame::Rejected { seq, reason });
    }

    /// Stores a member's post, under its name now, answering it once on disk.
    fn store_post(&mut self, member: MemberId, seq: u64, text: String) {
        if let Some(slot) = self.members.get(&member) {
            let (from, device) = (slot.member.name.clone(), slot.member.device.clone());
            let reply = Reply::Post { member, seq };
            self.store(from, device, text, None, Some(seq), reply);
        }
    }

    /// Posts a file, unless the same sender posted the same file lately (a retry). A file is
    /// a post like any other for the sender's limits: re-posting a kept file costs no data,
    /// so it must cost a post.
    fn post_file(
        &mut self,
        from: String,
        (device, machine): (DeviceId, IpAddr),
        file: FileRef,
        reply: oneshot::Sender<Result<u64, String>>,
    ) {
        let now = std::time::Instant::now();
        self.recent_files
            .retain(|_, (_, at)| now.duration_since(*at) < RECENT_FILE);
        let key = (device.clone(), file.hash.clone(), file.name.clone());
        if let Some((id, _)) = self.recent_files.get(&key) {
            let _ = reply.send(Ok(*id));
            return;
        }
        // A post like any other, from the sender's key and machine, whether or not it is
        // still in the room.
        if !self.allowances.spend(&device, machine, 1.0, 0.0) {
            let _ = reply.send(Err(TOO_FAST.to_owned()));
            return;
        }
        let text = String::new();
        self.store(from, device, text, Some(file), None, Reply::File(reply));
    }

    /// Stores a message: once it is committed everyone hears it, once it is on the disk
    /// `reply` hears its id. `seq` is the sender's number for a post, by which a post sent
    /// again is found.
    fn store(
        &mut self,
        from: String,
        device: DeviceId,
        text: String,
        file: Option<FileRef>,
        seq: Option<u64>,
        reply: Reply,
    ) {
        let file_key = file
            .as_ref()
            .map(|f| (device.clone(), f.hash.clone(), f.name.clone()));
        let message = ChatMessage {
            id: self.history.reserve_id(),
            ts: now_ms(),
            from,
            device,
            text,
            file,
        };
        let (early, late) = (self.internal.clone(), self.internal.clone());
        let (written, durable) = (message.clone(), message.clone());
        self.history.store(
            &message,
            seq,
            move |stored| {
                let _ = early.send(Internal::Written {
                    message: written,
                    stored: *stored,
                    file_key,
                });
            },
            move |outcome| {
                let _ = late.send(Internal::Durable(Box::new(Durable {
                    message: durable,
                    outcome,
                    reply,
                })));
            },
        );
    }

    /// Keeps a member's presence and tells the room. Each change costs a post of the
    /// member's allowance: flipping it on purpose is a flood like any other, and is ignored.
    fn presence(&mut self, member: MemberId, away: bool) {
        if self
            .members
            .get(&member)
            .is_none_or(|s| s.member.away == away)
            || !self.spend(member, 1.0, 0.0)
        {
            return;
        }
        if let Some(slot) = self.members.get_mut(&member) {
            slot.member.away = away;
            self.broadcast(&Frame::MemberAway { member, away });
        }
    }

    /// Relays a direct message to its recipient, as sealed: this host cannot read it, and
    /// keeps nothing of it. It costs the sender a post of its allowance, like a post.
    fn direct(&mut self, member: MemberId, to: MemberId, seq: u64, sealed: Vec<u8>) {
        if !self.members.contains_key(&member) {
            return;
        }
        if !self.spend(member, 1.0, sealed.len() as f64) {
            let reason = TOO_FAST.to_owned();
            return self.send_to(member, &Frame::Rejected { seq, reason });
        }
        if to == member || self.members.get(&to).is_none_or(|s| s.passing) {
            let reason = "they are not in the room now".to_owned();
            return self.send_to(member, &Frame::Rejected { seq, reason });
        }
        // Confirmed only once queued for the recipient's connection.
        let from = member;
        if self.deliver(to, &Frame::DirectFrom { from, sealed }) {
            self.send_to(member, &Frame::DirectSent { seq });
        } else {
            let reason = "they left the room as it arrived".to_owned();
            self.send_to(member, &Frame::Rejected { seq, reason });
        }
    }

    /// Tells the others a member is typing, at most every [`TYPING_EVERY`].
    fn typing(&mut self, member: MemberId) {
        let now = Instant::now();
        let told_lately = |s: &Slot| {
            s.typing_told
                .is_some_and(|at| now.duration_since(at) < TYPING_EVERY)
        };
        if self.members.get(&member).is_none_or(told_lately)
            || !self.spend(member, TYPING_COST, 0.0)
        {
            return;
        }
        if let Some(slot) = self.members.get_mut(&member) {
            slot.typing_told = Some(now);
            self.broadcast_except(member, &Frame::MemberTyping { member });
        }
    }

    fn rename(&mut self, member: MemberId, name: String) {
        if self
            .members
            .get(&member)
            .is_none_or(|s| s.member.name == name)
        {
            return;
        }
        // Every rename is told to everyone: it costs a post.
        if !self.spend(member, 1.0, name.len() as f64) {
            return tracing::info!("member {member}: renaming too fast; ignored");
        }
        let Some(slot) = self.members.get_mut(&member) else {
            return;
        };
        slot.member.name = name;
        if slot.member.host {
            self.config.host_name = slot.member.name.clone();
        }
        let renamed = Frame::MemberRenamed(slot.member.clone());
        self.broadcast(&renamed);
    }

    fn leave(&mut self, member: MemberId) {
        self.holding.remove(&member);
        if let Some(slot) = self.members.remove(&member) {
            tracing::info!("{} left", slot.member.name);
            slot.kick.cancel();
            if !slot.passing {
                self.count.send_replace(self.present());
                self.broadcast(&Frame::MemberLeft(slot.member));
            }
        }
    }

    /// The members the room shows: all but those passing through.
    fn present(&self) -> u32 {
        self.members.values().filter(|s| !s.passing).count() as u32
    }

    async fn close(&mut self, reason: String, internal: &mut mpsc::UnboundedReceiver<Internal>) {
        // What is being written is answered first: its senders hear it was stored.
        let flushed = tokio::time::timeout(FLUSH_LIMIT, self.history.database().flush()).await;
        while let Ok(report) = internal.try_recv() {
            self.internal(report);
        }
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.problem(format!(
                "The history of {} was not fully saved: {e}",
                self.config.room_name
            )),
            Err(_) => tracing::warn!("the history of {} is still being written", self.config.room),
        }
        self.broadcast(&Frame::Closing { reason });
        // Dropping the queues ends each session once it has written what is queued.
        self.members.clear();
        self.count.send_replace(0);
    }

    fn problem(&self, text: String) {
        match &self.config.problems {
            Some(sink) => sink(text),
            None => tracing::error!("{text}"),
        }
    }

    fn send_to(&mut self, member: MemberId, frame: &Frame) {
        self.deliver(member, frame);
    }

    /// Queues a frame for a member; says whether it was queued.
    fn deliver(&mut self, member: MemberId, frame: &Frame) -> bool {
        encode_frame(frame).is_ok_and(|bytes| self.send_bytes(member, bytes))
    }

    /// Queues bytes for a member; says whether they were queued (a member whose queue is
    /// full is dropped; one whose session ended is leaving).
    fn send_bytes(&mut self, member: MemberId, bytes: Bytes) -> bool {
        let Some(slot) = self.members.get(&member) else {
            return false;
        };
        match slot.out.push(bytes) {
            Ok(()) => true,
            Err(Unqueued::Full) => {
                self.drop_slow(vec![member]);
                false
            }
            Err(Unqueued::Closed) => false,
        }
    }

    /// Queues one encoding of `frame` for every member; members whose queue is full are
    /// dropped (they rejoin and catch up from history) rather than holding up the room.
    fn broadcast(&mut self, frame: &Frame) {
        self.broadcast_except(MemberId::MAX, frame);
    }

    fn broadcast_except(&mut self, except: MemberId, frame: &Frame) {
        let bytes = match encode_frame(frame) {
            Ok(bytes) => bytes,
            Err(e) => return tracing::error!("cannot encode a {} frame: {e}", frame.kind()),
        };
        let slow: Vec<MemberId> = self
            .members
            .iter()
            // Passing sessions hear nothing of the room.
            .filter(|&(&id, slot)| id != except && !slot.passing)
            // A closed queue is a session that has ended; its leave is on the way.
            .filter(|(_, slot)| matches!(slot.out.push(bytes.clone()), Err(Unqueued::Full)))
            .map(|(&id, _)| id)
            .collect();
        self.drop_slow(slow);
    }

    fn drop_slow(&mut self, slow: Vec<MemberId>) {
        for id in slow {
            if let Some(slot) = self.members.get(&id) {
                tracing::warn!(
                    "{} cannot keep up; dropping their session",
                    slot.member.name
                );
            }
            self.leave(id);
        }
    }
}
/// One connection, from accept to close.
struct Conn {
    /// Tells this connection's leave apart from an older one of the same member.
    id: u64,
    peer: SocketAddr,
    room: mpsc::Sender<RoomCmd>,
    /// Ends this connection's reader and writer; a child of the room's token.
    token: CancellationToken,
    tasks: TaskTracker,
    shared: Arc<Shared>,
    /// This connection's place among its address's, held for its whole life.
    _connection: AddressPlace,
}

impl Conn {
    /// Handshake, then whatever the first frame asks for: to join (frames in to the room task
    /// while a writer task sends queued frames), a file, or which room this is.
    async fn serve(self, stream: TcpStream, places: HandshakePlaces) {
        let peer = self.peer;
        let _ = stream.set_nodelay(true);
        let timeouts = &self.shared.timeouts;
        // Everything up to the first frame counts against the handshake deadline.
        let deadline = Instant::now() + timeouts.handshake;
        let mut places = Some(places);
        let opened = async {
            let mut link = link::accept(stream, &self.shared.identity, timeouts).await?;
            // A key that has been a member here competes for no place with strangers.
            if self.is_known(&link.remote) {
                places = None;
            }
            if let Some(places) = &places {
                places.all.spoke();
            }
            match tokio::time::timeout_at(deadline, link.reader.recv()).await {
                Ok(Some(first)) => Ok((link, first?)),
                Ok(None) => Err(LinkError::Ended),
                Err(_) => Err(LinkError::TimedOut("no first frame in time")),
            }
        };
        let (link, first) = tokio::select! {
            _ = self.token.cancelled() => return,
            _ = self.room.closed() => return,
            opened = opened => match opened {
                Ok(opened) => opened,
                Err(LinkError::Ended) => return tracing::debug!("{peer}: left during the handshake"),
                Err(e) => return tracing::info!("{peer}: closing: {e}"),
            },
        };
        match first {
            Frame::Hello(hello) => self.serve_member(link, hello, places, deadline).await,
            frame @ (Frame::Upload(_) | Frame::Download { .. }) => {
                drop(places);
                self.serve_file(link, frame).await;
            }
            Frame::Who => {
                let (reply, about) = oneshot::channel();
                if self.room.send(RoomCmd::About { reply }).await.is_ok()
                    && let Ok(about) = about.await
                {
                    link.answer_and_close(about).await;
                }
            }
            other => tracing::info!("{peer}: closing: sent {} first", other.kind()),
        }
    }

    /// Whether `key` has been a member of this room.
    fn is_known(&self, key: &PublicKey) -> bool {
        let known = self.shared.known.lock().expect("known keys");
        known.contains(&key.device())
    }

    /// A member: the password (in a locked room), the join, then its frames until it ends.
    async fn serve_member(
        self,
        mut link: Link,
        hello: Hello,
        places: Option<HandshakePlaces>,
        deadline: Instant,
    ) {
        let peer = self.peer;
        if let Some(secret) = &self.shared.password {
            let checked = tokio::select! {
                _ = self.token.cancelled() => return, // its place was given to another
                checked = self.check_password(&mut link, &hello, secret, deadline) => checked,
            };
            if let Err(refusal) = checked {
                tracing::info!("{peer}: not let in: {refusal:?}");
                return link.answer_and_close(refusal).await;
            }
        }
        // Through its handshake: from here its token only ends its session, and a place
        // taken from it a moment ago ends it before it joins, never after.
        drop(places);
        if self.token.is_cancelled() {
            return;
        }
        let (out, out_rx, queued) = Outbox::new(self.shared.limits.member_queue_bytes);
        let (reply_tx, reply_rx) = oneshot::channel();
        let (name, passing) = (hello.name.clone(), hello.passing);
        let join = RoomCmd::Join {
            hello,
            key: link.remote,
            address: address_key(peer.ip()),
            conn: self.id,
            out,
            kick: self.token.clone(),
            reply: reply_tx,
        };
        if self.room.send(join).await.is_err() {
            return; // the room is closing
        }
        let member = match reply_rx.await {
            Ok(Ok(id)) => id,
            Ok(Err(refusal)) => {
                tracing::info!("{peer}: not let in: {refusal:?}");
                return link.answer_and_close(*refusal).await;
            }
            Err(_) => return,
        };
        let Link {
            mut reader, writer, ..
        } = link;
        let writing = write_queued(writer, out_rx, queued, self.token.clone(), peer);
        self.tasks.spawn(writing);

        let ended = self.read_member(&mut reader, member, passing).await;
        match &ended {
            Ok(()) => tracing::debug!("{peer} ({name}): session ended"),
            Err(e) => tracing::info!("{peer} ({name}): closing session: {e}"),
        }
        self.token.cancel();
        let _ = self
            .room
            .send(RoomCmd::Leave {
                member,
                conn: self.id,
            })
            .await;
    }

    /// Runs the password exchange of a locked room (see [`crate::net::password`]); a wrong
    /// password, or none, is refused in words. Tries from one address are slowed down.
    async fn check_password(
        &self,
        link: &mut Link,
        hello: &Hello,
        secret: &RoomSecret,
        deadline: Instant,
    ) -> Result<(), Frame> {
        let refuse = |reason: &str| Frame::Refused {
            code: RefuseCode::Password,
            reason: reason.to_owned(),
        };
        let Some(message) = &hello.password else {
            return Err(refuse("this room needs a password"));
        };
        let key = link.remote.device();
        let attempt = self
            .shared
            .gates
            .guesses
            .begin(
                address_key(self.peer.ip()),
                &key,
                self.is_known(&link.remote),
            )
            .map_err(|(wait, why)| Frame::TryLater {
                after_ms: wait.as_millis() as u64,
                reason: why.to_owned(),
            })?;
        let answer = HostAnswer::new(secret, link.handshake_hash, message)
            .map_err(|_| refuse("wrong password"))?;
        let spake = Frame::Spake {
            msg: answer.message.clone(),
            proof: answer.proof.clone(),
        };
        // Whatever happens now counts as a try: only the right proof makes it a right one.
        let unfinished = || refuse("the password check did not finish");
        link.writer.send(spake).await.map_err(|_| unfinished())?;
        match tokio::time::timeout_at(deadline, link.reader.recv()).await {
            Ok(Some(Ok(Frame::Proof { proof }))) if answer.admits(&proof) => {
                attempt.right();
                Ok(())
            }
            Ok(Some(Ok(Frame::Proof { .. }))) => Err(refuse("wrong password")),
            _ => Err(unfinished()),
        }
    }

    /// Runs a file connection for a member of the room: an upload to keep, or a download to
    /// serve. Anyone else is turned away before any file is looked at.
    async fn serve_file(&self, link: Link, first: Frame) {
        let (reply, name) = oneshot::channel();
        let device = link.remote.device();
        let asked = RoomCmd::WhoIs {
            device: device.clone(),
            reply,
        };
        if self.room.send(asked).await.is_err() {
            return;
        }
        let Ok(Some((from, machine))) = name.await else {
            let reason = "join the room before sending or fetching its files".to_owned();
            tracing::info!("{}: file connection refused: not a member", self.peer);
            let code = RefuseCode::NotMember;
            return link.answer_and_close(Frame::Refused { code, reason }).await;
        };
        let files = &self.shared.files;
        let Some(_place) = files.take_place(machine) else {
            let reason = "the host is busy with other files; try again in a moment".to_owned();
            let code = RefuseCode::Busy;
            return link.answer_and_close(Frame::Refused { code, reason }).await;
        };
        let Link {
            mut reader,
            mut writer,
            ..
        } = link;
        match first {
            Frame::Upload(upload) => {
                let sender = (from, device, machine);
                self.keep_upload(&mut reader, &mut writer, upload, sender)
                    .await
            }
            Frame::Download { room, hash, offset } => {
                let served = tokio::select! {
                    _ = self.token.cancelled() => return,
                    served = transfer::serve_download(&mut writer, room, hash, offset, files) => served,
                    // A downloader says nothing more but a cancel: anything else, or its end,
                    // means it is gone, and its place is free at once.
                    _ = reader.recv() => Err(transfer::TransferError::Ended),
                };
                if let Err(e) = served {
                    tracing::info!("{}: download stopped: {e}", self.peer);
                }
            }
            _ => unreachable!("only file frames come here"),
        }
        writer.close().await;
    }

    /// Keeps an upload, posted to the room (under the sender's key and name) as soon as it
    /// starts coming, and tells the uploader its message id once it is whole.
    async fn keep_upload(
        &self,
        frames: &mut LinkReader,
        sink: &mut LinkWriter,
        upload: Upload,
        (from, device, machine): (String, DeviceId, IpAddr),
    ) {
        let peer = self.peer;
        let files = &self.shared.files;
        let accepted = tokio::select! {
            _ = self.token.cancelled() => return,
            accepted = transfer::accept_upload(sink, upload, files) => accepted,
        };
        let (file, receiving) = match accepted {
            Ok(transfer::Accepted::Kept(file)) => (file, None),
            Ok(transfer::Accepted::Receiving(receiving)) => (receiving.file(), Some(receiving)),
            Err(e) => return tracing::info!("{peer}: upload refused: {e}"),
        };
        let (reply, id) = oneshot::channel();
        let name = file.name.clone();
        let post = RoomCmd::PostFile {
            from: from.clone(),
            device,
            machine,
            file,
            reply,
        };
        let Some(posted) = async {
            self.room.send(post).await.ok()?;
            id.await.ok()
        }
        .await
        else {
            return; // the room is closing
        };
        let id = match posted {
            Ok(id) => id,
            Err(reason) => {
                tracing::info!("{peer}: file not posted: {reason}");
                let _ = sink.send(Frame::Cancel { reason }).await;
                return;
            }
        };
        let kept = match receiving {
            None => Ok(Vec::new()),
            Some(receiving) => tokio::select! {
                _ = self.token.cancelled() => return,
                kept = receiving.finish(frames, sink, files) => kept.map(|k| k.removed),
            },
        };
        let notice = match kept {
            Ok(removed) => {
                tracing::info!("{peer}: kept {name}");
                let _ = sink.send(Frame::Stored { id }).await;
                transfer::removed_notice(files.store.limit(), &removed)
            }
            Err(e) => {
                tracing::info!("{peer}: upload of {name} stopped: {e}");
                transfer::failed_notice(&from, &name, &e)
            }
        };
        if let Some(text) = notice {
            let _ = self.room.send(RoomCmd::HostSays { text }).await;
        }
    }

    /// Reads a member's frames and hands them to the room. A session `passing` through only
    /// posts and keeps its link alive while its files go: anything else it asks of the room
    /// (pages, presence, typing, a rename, a direct message) ends it.
    async fn read_member(
        &self,
        frames: &mut LinkReader,
        member: MemberId,
        passing: bool,
    ) -> Result<(), ProtocolError> {
        let idle_limit = self.shared.timeouts.idle;
        let idle = tokio::time::sleep(idle_limit);
        tokio::pin!(idle);
        loop {
            let frame = tokio::select! {
                _ = self.token.cancelled() => return Ok(()),
                _ = &mut idle => {
                    return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "member went silent").into());
                }
                frame = frames.recv() => match frame {
                    None => return Ok(()),
                    Some(frame) => frame?,
                },
            };
            idle.as_mut().reset(Instant::now() + idle_limit);
            if passing
                && !matches!(
                    frame,
                    Frame::Post { .. } | Frame::Ping | Frame::Bye | Frame::Unknown
                )
            {
                return Err(ProtocolError::OutOfOrder {
                    kind: frame.kind(),
                    context: "from a session passing through",
                });
            }
            let cmd = match frame {
                Frame::Post { seq, text } => RoomCmd::Post { member, seq, text },
                Frame::Ping => RoomCmd::Ping { member },
                Frame::History { after } => RoomCmd::History { member, after },
                Frame::Before { before } => RoomCmd::Before { member, before },
                Frame::Presence { away } => RoomCmd::Presence { member, away },
                Frame::Typing => RoomCmd::Typing { member },
                Frame::Direct { to, seq, sealed } => RoomCmd::Direct {
                    member,
                    to,
                    seq,
                    sealed,
                },
                Frame::Rename { name } => RoomCmd::Rename { member, name },
                Frame::Bye => return Ok(()),
                Frame::Unknown => {
                    tracing::debug!("ignoring a frame kind from a newer version");
                    continue;
                }
                other => {
                    return Err(ProtocolError::OutOfOrder {
                        kind: other.kind(),
                        context: "from a member",
                    });
                }
            };
            if self.room.send(cmd).await.is_err() {
                return Ok(()); // the room is closing
            }
        }
    }
}

/// Writes a member's queued frames, a batch at a time (each encrypted for this member), until
/// the room drops the queue, the connection ends, or a write misses its deadline.
async fn write_queued(
    mut writer: LinkWriter,
    mut out: mpsc::Receiver<Bytes>,
    queued: Arc<Queued>,
    token: CancellationToken,
    peer: SocketAddr,
) {
    loop {
        let first = tokio::select! {
            biased;
            _ = token.cancelled() => break,
            first = out.recv() => match first {
                Some(first) => first,
                None => break, // dropped by the room: what was queued is written
            },
        };
        let mut batch = vec![first];
        batch.extend(std::iter::from_fn(|| out.try_recv().ok()));
        let bytes: usize = batch.iter().map(Bytes::len).sum();
        let written = tokio::select! {
            _ = token.cancelled() => break,
            written = writer.send_encoded(batch) => written,
        };
        // Written (into the socket's own buffer): no longer the member's to hold.
        queued.written(bytes);
        if let Err(e) = written {
            tracing::info!("{peer}: closing: {e}");
            break;
        }
    }
    token.cancel(); // ends the reader too
    writer.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_an_ended_session_had_queued_no_longer_counts_against_its_machine() {
        let machine = Arc::new(AtomicUsize::new(0));
        let (a, a_rx, a_queued) = Outbox::new(1000);
        let (b, b_rx, b_queued) = Outbox::new(1000);
        for queued in [&a_queued, &b_queued] {
            let _ = queued.machine.set((machine.clone(), 150));
        }
        a.push(Bytes::from_static(&[0; 100])).unwrap();
        assert!(
            matches!(b.push(Bytes::from_static(&[0; 100])), Err(Unqueued::Full)),
            "over the machine's budget"
        );
        assert_eq!(
            machine.load(Ordering::Relaxed),
            100,
            "a refused frame is not counted"
        );
        // `a` ends with its frame never written (its writer cancelled).
        drop((a, a_rx, a_queued));
        assert_eq!(machine.load(Ordering::Relaxed), 0);
        b.push(Bytes::from_static(&[0; 100])).unwrap();
        drop(b_rx);
        assert!(matches!(
            b.push(Bytes::from_static(&[0; 10])),
            Err(Unqueued::Closed)
        ));
        assert_eq!(machine.load(Ordering::Relaxed), 100);
    }
}
