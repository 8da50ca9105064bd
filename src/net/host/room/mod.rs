//! The room actor: one task that owns the member list and the history, meters what each
//! member may make it do (allowances, held posts, pages), and fans each message out as bytes
//! encoded once.

mod join;
pub(super) use join::Joining;
mod pages;
mod said;

use super::member::{Outbox, Unqueued};
use super::{HostConfig, Usage};
use crate::net::identity::PublicKey;
use crate::net::limits::Allowances;
use crate::protocol::now_ms;
use crate::protocol::{
    ChatMessage, CloseCode, DeviceId, FileRef, Frame, Hello, MAX_MEMBERS, Member, MemberId,
    Refusal, RefuseCode, RejectCode, RoomId, WaitCode, Welcome, encode_frame,
};
use crate::store::{Database, History, StoreError, Stored, read_page, read_page_before};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Posts of one member held back while it sends faster than the room allows: they are stored
/// (in order) as its allowance comes back. A member keeps fewer than this unanswered (see
/// the protocol's "Delivery"); past it (or past `Limits::held_bytes`), posts are refused.
const HELD_POSTS: usize = 256;
/// Longest the room waits, when it closes, for its last messages to reach the disk.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

/// What the room task is asked to do.
pub(super) enum RoomCmd {
    /// A member finished its hello; `reply` gets its id or a refusal.
    Join {
        joining: Joining,
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
        /// The sender's number for this sharing of the file (see `Upload::share`).
        share: Option<u64>,
        reply: oneshot::Sender<Result<u64, RejectCode>>,
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
    /// The room is closing, for this reason.
    Close {
        code: CloseCode,
    },
}

/// One member, as the room task keeps it.
pub(super) struct Slot {
    /// The member as others see it.
    pub(super) member: Member,
    /// Identifies the member's app run, to recognise resent posts and rejoins.
    pub(super) resume: u64,
    /// The connection in use; a leave from an older one is ignored.
    pub(super) conn: u64,
    /// The machine it connects from, whose allowance (with its key's) it spends.
    pub(super) machine: IpAddr,
    /// Posts held back while the member is over its allowance, oldest first: `(seq, text)`.
    pub(super) held: VecDeque<(u64, String)>,
    /// The bytes of text in `held`.
    pub(super) held_bytes: usize,
    /// A page of history it asked for and waits for (its allowance, or a read under way),
    /// as the id it is after.
    pub(super) asked_page: Option<Option<u64>>,
    /// Encoded frames for the member's writer; dropping it ends the session after the queue.
    pub(super) out: Outbox,
    /// Ends the connection at once (for members too slow to keep up, or replaced).
    pub(super) kick: CancellationToken,
    /// When this member's typing was last passed on: at most every [`TYPING_EVERY`], so a
    /// member cannot flood the room with it.
    pub(super) typing_told: Option<Instant>,
    /// A page of history is being read from disk for this member: one at a time.
    pub(super) reading: bool,
    /// Only passing through (`lanchat send`: in, a file, out): not shown to the room as a
    /// member, nor counted, and told nothing of the room (see `Limits::passing`).
    pub(super) passing: bool,
}

/// How often a member's typing is passed on at most.
const TYPING_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a post is turned away when its sender goes past the room's limits.
const TOO_FAST: RejectCode = RejectCode::TooFast;

/// Keys remembered as the room's past members at most (see `Room::known`).
const KNOWN_KEYS: usize = 65_536;

/// What typing costs of a member's allowance each time it is passed on.
const TYPING_COST: f64 = 0.5;

/// Who hears of a message's id once it is on the disk.
enum Reply {
    /// A member's post: `Accepted` (with `seq`), or `Rejected` if it could not be stored.
    Post { member: MemberId, seq: u64 },
    /// A file connection waiting for the file's message id; `key` finds a try of the same
    /// sharing again (see [`Room::recent_files`]).
    File {
        reply: oneshot::Sender<Result<u64, RejectCode>>,
        key: FileKey,
    },
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
type FileKey = (DeviceId, crate::protocol::FileHash, String, Option<u64>);

/// The room task's state: everything about the room, owned by one task, so no locks.
pub(super) struct Room {
    pub(super) config: HostConfig,
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
    /// Where `internal` reports arrive, until [`Room::run`] takes it.
    reports: Option<mpsc::UnboundedReceiver<Internal>>,
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
    /// Files posted lately, by sender, content and sharing, with their message id: an upload
    /// retried after its confirmation was lost is answered with the first post, not posted
    /// twice; the same file shared again (another sharing number) is posted again.
    recent_files: HashMap<FileKey, (u64, std::time::Instant)>,
}

/// How long a posted file counts as recent for [`Room::recent_files`].
const RECENT_FILE: Duration = Duration::from_secs(600);

impl Room {
    /// The room of `config`, with its `history` and the keys `known` to have been members;
    /// `count` hears how many members it has.
    pub(super) fn new(
        config: HostConfig,
        history: History,
        known: Arc<std::sync::Mutex<std::collections::HashSet<DeviceId>>>,
        count: watch::Sender<u32>,
    ) -> Room {
        let (internal, reports) = mpsc::unbounded_channel();
        let limits = config.limits;
        Room {
            recent_files: HashMap::new(),
            pong: encode_frame(&Frame::Pong).expect("a pong encodes"),
            host_device: config.identity.device(),
            config,
            members: BTreeMap::new(),
            next_member: 1,
            history,
            internal,
            reports: Some(reports),
            holding: Default::default(),
            allowances: Allowances::new(&limits),
            readers: Arc::new(Semaphore::new(limits.history_readers)),
            machine_queues: HashMap::new(),
            known,
            count,
        }
    }

    pub(super) async fn run(mut self, mut cmds: mpsc::Receiver<RoomCmd>) {
        let mut internal = self.reports.take().expect("a room runs once");
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
            if let RoomCmd::Close { code } = cmd {
                return self.close(code, &mut internal).await;
            }
            self.handle(cmd);
        }
        // Every sender is gone without a close: still keep the history.
        self.close(CloseCode::Stopped, &mut internal).await;
    }

    /// One command, handed to the part of the room it is about (one arm per command: a match
    /// over the command enum is the clearest form of this dispatch).
    fn handle(&mut self, cmd: RoomCmd) {
        match cmd {
            RoomCmd::Join { joining, reply } => {
                let _ = reply.send(self.join(joining));
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
                share,
                reply,
            } => self.post_file(from, (device, machine), (file, share), reply),
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
                let _ = reply.send(self.about());
            }
            RoomCmd::Usage { reply } => {
                let _ = reply.send(self.usage());
            }
            RoomCmd::Close { .. } => unreachable!("the room closes in `run`"),
        }
    }

    /// What anyone who asks may know of the room.
    fn about(&self) -> Frame {
        Frame::About {
            room: self.config.room.clone(),
            room_name: self.config.room_name.clone(),
            host_name: self.config.host_name.clone(),
            members: self.present(),
            locked: self.config.password.is_some(),
        }
    }

    /// What the room holds for its members now.
    fn usage(&self) -> Usage {
        let queued: Vec<usize> = self.members.values().map(|s| s.out.queued()).collect();
        Usage {
            sessions: self.members.len(),
            queued: queued.iter().sum(),
            most_queued: queued.iter().copied().max().unwrap_or(0),
            held: self.members.values().map(|s| s.held_bytes).sum(),
        }
    }

    /// A write or a disk read has finished.
    fn internal(&mut self, report: Internal) {
        match report {
            Internal::Written {
                message,
                stored,
                file_key,
            } => self.written(message, stored, file_key),
            Internal::Durable(durable) => self.durable(*durable),
            Internal::EarlierPage {
                member,
                conn,
                before,
                page,
            } => self.earlier_read(member, conn, before, page),
            Internal::DiskPage { member, conn, page } => self.disk_read(member, conn, page),
        }
    }

    /// The members the room shows: all but those passing through.
    fn present(&self) -> u32 {
        self.members.values().filter(|s| !s.passing).count() as u32
    }

    async fn close(&mut self, code: CloseCode, internal: &mut mpsc::UnboundedReceiver<Internal>) {
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
        self.broadcast(&Frame::Closing { code });
        // Dropping the queues ends each session once it has written what is queued.
        self.members.clear();
        self.count.send_replace(0);
    }

    pub(super) fn problem(&self, text: String) {
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

/// A time no timer reaches, for a `select!` branch that is off.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}
