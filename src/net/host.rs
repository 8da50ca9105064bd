//! The host side of a room: listeners on an ephemeral port (IPv4 and IPv6), one task per
//! member, and one room task that owns the member list and the history and fans each message
//! out as bytes encoded once.

use crate::net::now_ms;
use crate::protocol::{
    ChatMessage, DeviceId, Frame, FrameCodec, HANDSHAKE_TIMEOUT, Hello, IDLE_TIMEOUT, MAX_MEMBERS,
    Member, MemberId, PROTOCOL_VERSION, ProtocolError, RefuseCode, RoomId, Welcome, encode_frame,
};
use crate::store::{History, HistoryWriter};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Frames queued for one member before it counts as too slow and is dropped.
const MEMBER_QUEUE: usize = 2048;

/// What a room needs to start.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub room: RoomId,
    pub room_name: String,
    /// The hosting user's display name, shown as the room's host.
    pub host_name: String,
    /// The hosting user's device, to mark their member entry as the host.
    pub host_device: DeviceId,
    /// The room's history file.
    pub history: PathBuf,
    /// Port to try first (the room's previous one); 0 or a taken port means any free port.
    pub port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("could not listen for members: {0}")]
    Listen(std::io::Error),
    #[error("could not open the room's history: {0}")]
    History(std::io::Error),
}

/// A running room. Dropping it without [`RoomHost::close`] leaves members to time out.
pub struct RoomHost {
    /// The port members connect to (the same on IPv4 and IPv6).
    pub port: u16,
    /// The number of members, for the room's advert.
    members: watch::Receiver<u32>,
    /// Commands to the room task.
    room: mpsc::UnboundedSender<RoomCmd>,
    /// Stops the accept loops and every member task.
    cancel: CancellationToken,
    /// Every task of this room, to wait for them at close.
    tasks: TaskTracker,
}

impl RoomHost {
    /// Opens the history, binds the listeners and starts accepting members.
    pub async fn start(config: HostConfig) -> Result<RoomHost, HostError> {
        let path = config.history.clone();
        let (history, writer) = tokio::task::spawn_blocking(move || History::open(&path))
            .await
            .expect("history open does not panic")
            .map_err(HostError::History)?;
        let listeners = bind(config.port).map_err(HostError::Listen)?;
        let port = listeners[0].local_addr().map_err(HostError::Listen)?.port();

        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let (count_tx, count_rx) = watch::channel(0);
        let (room_tx, room_rx) = mpsc::unbounded_channel();
        let room = Room {
            config,
            members: BTreeMap::new(),
            next_member: 1,
            history,
            writer: Some(writer),
            posted: HashMap::new(),
            count: count_tx,
        };
        tasks.spawn(room.run(room_rx));
        for listener in listeners {
            tasks.spawn(accept_loop(
                listener,
                room_tx.clone(),
                cancel.clone(),
                tasks.clone(),
            ));
        }
        tracing::info!("room listening on port {port}");
        Ok(RoomHost {
            port,
            members: count_rx,
            room: room_tx,
            cancel,
            tasks,
        })
    }

    /// Watches the member count.
    pub fn member_count(&self) -> watch::Receiver<u32> {
        self.members.clone()
    }

    /// Tells every member the room is closing, stores the history and stops, within `limit`.
    pub async fn close(self, reason: String, limit: Duration) {
        let _ = self.room.send(RoomCmd::Close { reason });
        self.tasks.close();
        // The room task ends the member sessions itself once they have written the goodbye;
        // the token is the backstop for members that do not drain in time.
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

/// Binds the same port on IPv4 and IPv6 (IPv6 only where the system has it).
fn bind(port: u16) -> std::io::Result<Vec<TcpListener>> {
    let v4 = match listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))) {
        Ok(l) => l,
        Err(e) if port != 0 => {
            tracing::debug!("port {port} is taken ({e}); using any free port");
            return bind(0);
        }
        Err(e) => return Err(e),
    };
    let port = v4.local_addr()?.port();
    let mut listeners = vec![v4];
    match listen(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
        Ok(v6) => listeners.push(v6),
        Err(e) => tracing::info!("no IPv6 listener on port {port}: {e}"),
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

async fn accept_loop(
    listener: TcpListener,
    room: mpsc::UnboundedSender<RoomCmd>,
    cancel: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            _ = room.closed() => return, // the room task has finished
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                tasks.spawn(serve_member(
                    stream,
                    peer,
                    room.clone(),
                    cancel.child_token(),
                ));
            }
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!("accepting a member failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What the room task is asked to do.
enum RoomCmd {
    /// A member finished its hello; `reply` gets its id or a refusal.
    Join {
        hello: Hello,
        out: mpsc::Sender<Bytes>,
        reply: oneshot::Sender<Result<MemberId, (RefuseCode, String)>>,
    },
    Post {
        member: MemberId,
        seq: u64,
        text: String,
    },
    /// A member's session ended.
    Leave { member: MemberId },
    /// Someone asked which room this is.
    About { reply: oneshot::Sender<Frame> },
    /// The room is closing.
    Close { reason: String },
}

/// One member, as the room task keeps it.
struct Slot {
    member: Member,
    /// Identifies the member's app run, to recognise resent posts.
    resume: u64,
    /// Encoded frames for the member's session; dropping it ends the session.
    out: mpsc::Sender<Bytes>,
}

/// The room task's state: everything about the room, owned by one task, so no locks.
struct Room {
    config: HostConfig,
    members: BTreeMap<MemberId, Slot>,
    /// The id the next member gets.
    next_member: MemberId,
    history: History,
    /// Appends to the history file; taken at close.
    writer: Option<HistoryWriter>,
    /// Per (device, app run): recent post numbers and the message ids they were stored as,
    /// so a post resent after a reconnect is acknowledged, not stored twice.
    posted: HashMap<(DeviceId, u64), BTreeMap<u64, u64>>,
    /// Publishes the member count.
    count: watch::Sender<u32>,
}

/// How many posts per app run are remembered for de-duplication.
const POSTED_MEMORY: usize = 256;

impl Room {
    async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<RoomCmd>) {
        while let Some(cmd) = cmds.recv().await {
            match cmd {
                RoomCmd::Join { hello, out, reply } => {
                    let _ = reply.send(self.join(hello, out));
                }
                RoomCmd::Post { member, seq, text } => self.post(member, seq, text),
                RoomCmd::Leave { member } => self.leave(member),
                RoomCmd::About { reply } => {
                    let _ = reply.send(Frame::About {
                        room: self.config.room.clone(),
                        room_name: self.config.room_name.clone(),
                        host_name: self.config.host_name.clone(),
                        members: self.members.len() as u32,
                    });
                }
                RoomCmd::Close { reason } => {
                    self.close(reason).await;
                    return;
                }
            }
        }
        // Every sender is gone without a close: still keep the history.
        self.close("the room stopped".into()).await;
    }

    fn join(
        &mut self,
        hello: Hello,
        out: mpsc::Sender<Bytes>,
    ) -> Result<MemberId, (RefuseCode, String)> {
        if hello.room != self.config.room {
            return Err((
                RefuseCode::WrongRoom,
                "this host no longer runs that room".into(),
            ));
        }
        if self.members.len() >= MAX_MEMBERS {
            return Err((
                RefuseCode::Full,
                format!("the room is full ({MAX_MEMBERS} members)"),
            ));
        }
        let id = self.next_member;
        self.next_member += 1;
        let member = Member {
            id,
            name: hello.name,
            host: hello.device == self.config.host_device,
            device: hello.device,
        };
        let history: Vec<&ChatMessage> = self.history.after(hello.since).collect();
        let mut members: Vec<Member> = self.members.values().map(|s| s.member.clone()).collect();
        members.push(member.clone());
        let welcome = Frame::Welcome(Welcome {
            room: self.config.room.clone(),
            room_name: self.config.room_name.clone(),
            host_name: self.config.host_name.clone(),
            you: id,
            members,
            history: history.len() as u32,
        });
        // The queue is empty and larger than a welcome plus the history tail.
        let frames =
            std::iter::once(welcome).chain(history.into_iter().cloned().map(Frame::Message));
        for frame in frames {
            if let Ok(bytes) = encode_frame(&frame) {
                let _ = out.try_send(bytes);
            }
        }
        self.broadcast(&Frame::MemberJoined(member.clone()));
        tracing::info!("{} joined as member {id}", member.name);
        self.members.insert(
            id,
            Slot {
                member,
                resume: hello.resume,
                out,
            },
        );
        self.count.send_replace(self.members.len() as u32);
        Ok(id)
    }

    fn post(&mut self, member: MemberId, seq: u64, text: String) {
        let Some(slot) = self.members.get(&member) else {
            return;
        };
        let key = (slot.member.device.clone(), slot.resume);
        if let Some(&id) = self.posted.get(&key).and_then(|posts| posts.get(&seq)) {
            self.send_to(member, &Frame::Accepted { seq, id });
            return;
        }
        let message = ChatMessage {
            id: self.history.next_id(),
            ts: now_ms(),
            from: slot.member.name.clone(),
            device: slot.member.device.clone(),
            text,
        };
        let id = message.id;
        self.history.push(message.clone());
        if let Some(writer) = &self.writer {
            writer.append(message.clone());
        }
        self.remember_post(key, seq, id);
        self.broadcast(&Frame::Message(message));
        self.send_to(member, &Frame::Accepted { seq, id });
    }

    fn remember_post(&mut self, key: (DeviceId, u64), seq: u64, id: u64) {
        if self.posted.len() > 4 * MAX_MEMBERS {
            // Forget runs that are no longer in the room.
            let live: Vec<(DeviceId, u64)> = self
                .members
                .values()
                .map(|s| (s.member.device.clone(), s.resume))
                .collect();
            self.posted.retain(|k, _| live.contains(k));
        }
        let posts = self.posted.entry(key).or_default();
        posts.insert(seq, id);
        if posts.len() > POSTED_MEMORY {
            posts.pop_first();
        }
    }

    fn leave(&mut self, member: MemberId) {
        if let Some(slot) = self.members.remove(&member) {
            tracing::info!("{} left", slot.member.name);
            self.count.send_replace(self.members.len() as u32);
            self.broadcast(&Frame::MemberLeft(slot.member));
        }
    }

    async fn close(&mut self, reason: String) {
        self.broadcast(&Frame::Closing { reason });
        // Dropping the queues ends each session once it has written what is queued.
        self.members.clear();
        self.count.send_replace(0);
        if let Some(writer) = self.writer.take() {
            match tokio::task::spawn_blocking(move || writer.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("saving the room's history failed: {e}"),
                Err(e) => tracing::error!("history writer task failed: {e}"),
            }
        }
    }

    fn send_to(&mut self, member: MemberId, frame: &Frame) {
        let Ok(bytes) = encode_frame(frame) else {
            return;
        };
        if let Some(slot) = self.members.get(&member)
            && let Err(mpsc::error::TrySendError::Full(_)) = slot.out.try_send(bytes)
        {
            self.drop_slow(vec![member]);
        }
    }

    /// Queues one encoding of `frame` for every member; members whose queue is full are
    /// dropped (they rejoin and catch up from history) rather than holding up the room.
    fn broadcast(&mut self, frame: &Frame) {
        let bytes = match encode_frame(frame) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!("cannot encode a {} frame: {e}", frame.kind());
                return;
            }
        };
        let slow: Vec<MemberId> = self
            .members
            .iter()
            // A closed queue is a session that has ended; its leave is on the way.
            .filter(|(_, slot)| {
                matches!(
                    slot.out.try_send(bytes.clone()),
                    Err(mpsc::error::TrySendError::Full(_))
                )
            })
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

/// One member's session: handshake, then frames in (to the room task) and queued frames out.
async fn serve_member(
    stream: TcpStream,
    peer: SocketAddr,
    room: mpsc::UnboundedSender<RoomCmd>,
    cancel: CancellationToken,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("{peer}: cannot set TCP_NODELAY: {e}");
    }
    let (read, write) = stream.into_split();
    let mut frames = FramedRead::new(read, FrameCodec::default());
    let mut write = BufWriter::new(write);

    let first = tokio::select! {
        _ = cancel.cancelled() => return,
        _ = room.closed() => return,
        first = tokio::time::timeout(HANDSHAKE_TIMEOUT, frames.next()) => first,
    };
    let hello = match first {
        Ok(Some(Ok(Frame::Hello(hello)))) => hello,
        Ok(Some(Ok(Frame::Who))) => return answer_who(write, &room).await,
        Ok(Some(Ok(other))) => {
            return tracing::info!("{peer}: closing: sent {} before hello", other.kind());
        }
        Ok(Some(Err(e))) => return tracing::info!("{peer}: closing: {e}"),
        Ok(None) => return tracing::debug!("{peer}: left before hello"),
        Err(_) => return tracing::info!("{peer}: closing: no hello within {HANDSHAKE_TIMEOUT:?}"),
    };
    if hello.protocol != PROTOCOL_VERSION {
        let reason = format!(
            "this room speaks lanchat protocol {PROTOCOL_VERSION} and your app (lanchat {}) speaks {}; update lanchat on the older side",
            hello.app, hello.protocol
        );
        return refuse(write, RefuseCode::Version, reason, peer).await;
    }
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(MEMBER_QUEUE);
    let (reply_tx, reply_rx) = oneshot::channel();
    let name = hello.name.clone();
    if room
        .send(RoomCmd::Join {
            hello,
            out: out_tx,
            reply: reply_tx,
        })
        .is_err()
    {
        return; // the room is closing
    }
    let member = match reply_rx.await {
        Ok(Ok(id)) => id,
        Ok(Err((code, reason))) => return refuse(write, code, reason, peer).await,
        Err(_) => return,
    };

    let ended = member_loop(&mut frames, &mut write, &mut out_rx, member, &room, &cancel).await;
    match &ended {
        Ok(()) => tracing::debug!("{peer} ({name}): session ended"),
        Err(e) => tracing::info!("{peer} ({name}): closing session: {e}"),
    }
    let _ = room.send(RoomCmd::Leave { member });
    let _ = write.shutdown().await;
}

async fn member_loop(
    frames: &mut FramedRead<tokio::net::tcp::OwnedReadHalf, FrameCodec>,
    write: &mut BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    out: &mut mpsc::Receiver<Bytes>,
    member: MemberId,
    room: &mpsc::UnboundedSender<RoomCmd>,
    cancel: &CancellationToken,
) -> Result<(), ProtocolError> {
    let pong = encode_frame(&Frame::Pong)?;
    let idle = tokio::time::sleep(IDLE_TIMEOUT);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(()),
            _ = &mut idle => {
                return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "member went silent").into());
            }
            queued = out.recv() => {
                let Some(first) = queued else {
                    // The room dropped us (closing, or too slow): send what is queued, end.
                    write.flush().await?;
                    return Ok(());
                };
                write.write_all(&first).await?;
                while let Ok(more) = out.try_recv() {
                    write.write_all(&more).await?;
                }
                write.flush().await?;
            }
            frame = frames.next() => {
                let Some(frame) = frame else { return Ok(()) };
                let frame = frame?;
                idle.as_mut().reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
                match frame {
                    Frame::Post { seq, text } => {
                        let _ = room.send(RoomCmd::Post { member, seq, text });
                    }
                    Frame::Ping => {
                        write.write_all(&pong).await?;
                        write.flush().await?;
                    }
                    Frame::Bye => return Ok(()),
                    Frame::Unknown => tracing::debug!("ignoring a frame kind from a newer version"),
                    other => {
                        return Err(ProtocolError::OutOfOrder { kind: other.kind(), context: "from a member" });
                    }
                }
            }
        }
    }
}

async fn answer_who(
    write: BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    room: &mpsc::UnboundedSender<RoomCmd>,
) {
    let (reply, about) = oneshot::channel();
    if room.send(RoomCmd::About { reply }).is_err() {
        return;
    }
    let Ok(about) = about.await else { return };
    let mut sink = FramedWrite::new(write, FrameCodec::default());
    let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(about)).await;
    let _ = sink.into_inner().shutdown().await;
}

async fn refuse(
    write: BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    code: RefuseCode,
    reason: String,
    peer: SocketAddr,
) {
    tracing::info!("{peer}: refused: {reason}");
    let mut sink = FramedWrite::new(write, FrameCodec::default());
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        sink.send(Frame::Refused { code, reason }),
    )
    .await;
    let _ = sink.into_inner().shutdown().await;
}
