//! The member side of a room: dial the host (racing its addresses), greet, then carry posts
//! out and the room's frames in as bridge events. When the host goes away the session waits
//! and rejoins by itself, resending posts the host never confirmed.

use crate::bridge::{Event, EventSender, SessionState};
use crate::protocol::{
    APP_VERSION, DeviceId, Frame, FrameCodec, HANDSHAKE_TIMEOUT, Hello, IDLE_TIMEOUT,
    PING_INTERVAL, PROTOCOL_VERSION, ProtocolError, RefuseCode, RoomId, WRITE_TIMEOUT, Welcome,
    check_text,
};
use futures::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::codec::Framed;

/// Delay between starting connection attempts to a room's successive addresses.
const DIAL_STAGGER: Duration = Duration::from_millis(150);
/// Longest a single connection attempt may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait between rejoin attempts after the host vanished.
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// Wait between attempts when the host turned us away for a reason that may pass (the room
/// was full, or its address now runs another room).
const REFUSED_RETRY: Duration = Duration::from_secs(30);

/// Who is joining which room, where.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The room to join; a host running another room refuses.
    pub room: RoomId,
    /// The host's addresses, tried together.
    pub addrs: Vec<SocketAddr>,
    /// Our display name in the room.
    pub name: String,
    /// Our installation, so our own messages are told apart after a rejoin.
    pub device: DeviceId,
    /// Names this app run, so the host can recognise posts resent after a reconnect.
    pub resume: u64,
    /// Told the room's id when its host vanishes, so discovery can check the advert.
    pub host_gone: Option<mpsc::UnboundedSender<RoomId>>,
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
    Leave,
}

/// What a command that arrived while not connected means for the loop that got it.
enum Offline {
    Stay,
    Redialled,
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
    /// Starts joining; events for the room arrive on `events`.
    pub fn spawn(config: SessionConfig, events: EventSender) -> Session {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(config, events, rx));
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

/// How a connected spell ended.
enum Ended {
    /// The user left.
    Left,
    /// The host closed the room, with its reason.
    Closed(String),
    /// The connection broke, or the host misbehaved.
    Lost(String),
}

/// Why joining failed.
enum JoinError {
    /// The host refused; retrying will not help until something changes.
    Refused(RefuseCode, String),
    /// Nobody answered, or the answer was not a welcome.
    Unreachable(String),
}

/// The session task's state.
struct Run {
    /// Who joins where; the addresses and name change as discovery and the user say.
    config: SessionConfig,
    /// To the front end.
    events: EventSender,
    /// Posts not yet confirmed by the host, oldest first: resent after a rejoin.
    outbox: VecDeque<(u64, String)>,
    /// The newest message id seen, so a rejoin fetches only newer history.
    last_id: Option<u64>,
    /// History messages still to come after the welcome; the ones after are live.
    history_left: u32,
    /// Whether the history being received is news to us (after a rejoin: what we missed).
    history_is_news: bool,
}

async fn run(
    config: SessionConfig,
    events: EventSender,
    mut cmds: mpsc::UnboundedReceiver<SessionCmd>,
) {
    let mut run = Run {
        config,
        events,
        outbox: VecDeque::new(),
        last_id: None,
        history_left: 0,
        history_is_news: false,
    };
    let mut backoff = Duration::from_secs(1);
    // The reason we are waiting for the host, while we are: retries keep saying it.
    let mut waiting: Option<String> = None;
    loop {
        if waiting.is_none() {
            run.state(SessionState::Connecting);
        }
        let joining = join(run.config.clone(), run.last_id);
        tokio::pin!(joining);
        let joined = loop {
            tokio::select! {
                joined = &mut joining => break joined,
                // Discovery often adds addresses while we dial: they are used next time, and
                // an attempt that may already be in is not cut short.
                cmd = cmds.recv() => if let Offline::Leave = run.offline(cmd) {
                    return run.state(SessionState::Left);
                },
            }
        };
        let (wait, why) = match joined {
            Ok((conn, welcome)) => {
                backoff = Duration::from_secs(1);
                waiting = None;
                let host = welcome.host_name.clone();
                run.welcomed(welcome);
                match run.connected(conn, &mut cmds).await {
                    Ended::Left => return run.state(SessionState::Left),
                    // Discovery usually announces the room's return first; the backoff covers
                    // a return it misses (a restart within the goodbye's grace second).
                    Ended::Closed(reason) => (
                        backoff,
                        SessionState::Waiting(format!(
                            "{reason} — it will reopen here when they host it again"
                        )),
                    ),
                    Ended::Lost(why) => {
                        tracing::info!("room {}: {why}", run.config.room);
                        if let Some(gone) = &run.config.host_gone {
                            let _ = gone.send(run.config.room.clone());
                        }
                        (
                            backoff,
                            SessionState::Waiting(format!(
                                "{host} left — waiting for the room to come back"
                            )),
                        )
                    }
                }
            }
            Err(JoinError::Refused(code, reason)) => {
                let retry = matches!(code, RefuseCode::Full | RefuseCode::WrongRoom);
                let state = if retry {
                    SessionState::Waiting(format!("The host turned us away: {reason}"))
                } else {
                    SessionState::Failed(format!("The host turned us away: {reason}"))
                };
                (if retry { REFUSED_RETRY } else { Duration::MAX }, state)
            }
            Err(JoinError::Unreachable(why)) => {
                tracing::info!("room {}: cannot reach the host: {why}", run.config.room);
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                let why = waiting
                    .clone()
                    .unwrap_or_else(|| "Cannot reach the room's host — trying again".into());
                (wait, SessionState::Waiting(why))
            }
        };
        match &why {
            SessionState::Waiting(text) if waiting.as_ref() == Some(text) => {}
            SessionState::Waiting(text) => {
                waiting = Some(text.clone());
                run.state(why);
            }
            _ => run.state(why),
        }
        // Wait for the retry time, or for discovery to see the room again.
        let retry = tokio::time::sleep(wait.min(Duration::from_secs(24 * 3600)));
        tokio::pin!(retry);
        loop {
            tokio::select! {
                _ = &mut retry => break,
                cmd = cmds.recv() => match run.offline(cmd) {
                    Offline::Stay => {}
                    Offline::Redialled => break,
                    Offline::Leave => return run.state(SessionState::Left),
                },
            }
        }
    }
}

type Conn = Framed<TcpStream, FrameCodec>;

/// Dials the room and exchanges hello and welcome.
async fn join(config: SessionConfig, since: Option<u64>) -> Result<(Conn, Welcome), JoinError> {
    let stream = dial(&config.addrs).await.map_err(JoinError::Unreachable)?;
    let mut conn = Framed::new(stream, FrameCodec::default());
    let hello = Frame::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        app: APP_VERSION.to_owned(),
        name: config.name.clone(),
        device: config.device.clone(),
        room: config.room.clone(),
        since,
        resume: config.resume,
    });
    let unreachable = |e: ProtocolError| JoinError::Unreachable(e.to_string());
    send(&mut conn, hello).await.map_err(unreachable)?;
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.next()).await {
        Ok(Some(Ok(Frame::Welcome(welcome)))) if welcome.room == config.room => Ok((conn, welcome)),
        Ok(Some(Ok(Frame::Welcome(_)))) => Err(JoinError::Refused(
            RefuseCode::WrongRoom,
            "that address now runs another room".into(),
        )),
        Ok(Some(Ok(Frame::Refused { code, reason }))) => Err(JoinError::Refused(code, reason)),
        Ok(Some(Ok(other))) => Err(JoinError::Unreachable(format!(
            "the host sent {} before welcome",
            other.kind()
        ))),
        Ok(Some(Err(e))) => Err(unreachable(e)),
        Ok(None) => Err(JoinError::Unreachable("the host hung up".into())),
        Err(_) => Err(JoinError::Unreachable("the host did not answer".into())),
    }
}

/// Connects to the first address that answers, starting one attempt every [`DIAL_STAGGER`].
pub(crate) async fn dial(addrs: &[SocketAddr]) -> Result<TcpStream, String> {
    if addrs.is_empty() {
        return Err("no known address".into());
    }
    let mut ordered = addrs.to_vec();
    // IPv4 and routable IPv6 before link-local IPv6, which needs the right scope to work.
    ordered.sort_by_key(|a| match a {
        SocketAddr::V4(_) => 0,
        SocketAddr::V6(v6) if v6.ip().is_unicast_link_local() => 2,
        SocketAddr::V6(_) => 1,
    });
    let mut attempts = JoinSet::new();
    for (i, addr) in ordered.into_iter().enumerate() {
        attempts.spawn(async move {
            tokio::time::sleep(DIAL_STAGGER * i as u32).await;
            match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(e)) => Err(format!("{addr}: {e}")),
                Err(_) => Err(format!("{addr}: timed out")),
            }
        });
    }
    let mut last_error = String::new();
    while let Some(result) = attempts.join_next().await {
        match result {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last_error = e,
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(last_error)
}

/// What a host says about the room it runs at an address given by hand.
#[derive(Debug, Clone)]
pub struct About {
    pub room: RoomId,
    pub room_name: String,
    pub host_name: String,
    pub members: u32,
}

/// Asks the host at these addresses which room it runs, without joining it.
pub async fn ask_who(addrs: &[SocketAddr]) -> Result<About, String> {
    let stream = dial(addrs).await?;
    let mut conn = Framed::new(stream, FrameCodec::default());
    conn.send(Frame::Who).await.map_err(|e| e.to_string())?;
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.next()).await {
        Ok(Some(Ok(Frame::About {
            room,
            room_name,
            host_name,
            members,
        }))) => Ok(About {
            room,
            room_name,
            host_name,
            members,
        }),
        Ok(Some(Ok(other))) => Err(format!("the host answered with {}", other.kind())),
        Ok(Some(Err(e))) => Err(e.to_string()),
        Ok(None) => Err("the host hung up without answering".into()),
        Err(_) => Err("the host did not answer".into()),
    }
}

/// Sends one frame, giving up if the host has not taken it within [`WRITE_TIMEOUT`].
async fn send(conn: &mut Conn, frame: Frame) -> Result<(), ProtocolError> {
    match tokio::time::timeout(WRITE_TIMEOUT, conn.send(frame)).await {
        Ok(sent) => sent,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the host stopped reading",
        )
        .into()),
    }
}

impl Run {
    /// Handles a command while not connected.
    fn offline(&mut self, cmd: Option<SessionCmd>) -> Offline {
        match cmd {
            Some(SessionCmd::Post { seq, text }) => self.queue(seq, text),
            Some(SessionCmd::Rename(name)) => self.config.name = name,
            Some(SessionCmd::Redial(addrs)) => {
                self.config.addrs = addrs;
                return Offline::Redialled;
            }
            Some(SessionCmd::Leave) | None => return Offline::Leave,
        }
        Offline::Stay
    }

    fn state(&self, state: SessionState) {
        self.events.send(Event::Session {
            room: self.config.room.clone(),
            state,
        });
    }

    fn queue(&mut self, seq: u64, text: String) {
        match check_text(&text) {
            Ok(()) => self.outbox.push_back((seq, text)),
            Err(reason) => self.events.send(Event::Rejected {
                room: self.config.room.clone(),
                seq,
                reason,
            }),
        }
    }

    /// Counts a history message off; after the last, says the history is complete.
    fn history_read(&mut self, room: RoomId) {
        if self.history_left > 0 {
            self.history_left -= 1;
            if self.history_left == 0 {
                self.events.send(Event::HistoryDone { room });
            }
        }
    }

    fn welcomed(&mut self, welcome: Welcome) {
        self.history_left = welcome.history;
        self.history_is_news = self.last_id.is_some();
        self.events.send(Event::Joined {
            room: self.config.room.clone(),
            room_name: welcome.room_name,
            host_name: welcome.host_name,
            you: welcome.you,
            members: welcome.members,
            history: welcome.history,
        });
        if welcome.history == 0 {
            self.events.send(Event::HistoryDone {
                room: self.config.room.clone(),
            });
        }
        self.state(SessionState::Connected);
    }

    /// Runs a joined session until it ends.
    async fn connected(
        &mut self,
        mut conn: Conn,
        cmds: &mut mpsc::UnboundedReceiver<SessionCmd>,
    ) -> Ended {
        let lost = |e: ProtocolError| Ended::Lost(e.to_string());
        let replay = async {
            for (seq, text) in self.outbox.clone() {
                conn.feed(Frame::Post { seq, text }).await?;
            }
            conn.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, replay).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return lost(e),
            Err(_) => return Ended::Lost("the host stopped reading".into()),
        }
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
        let idle = tokio::time::sleep(IDLE_TIMEOUT);
        tokio::pin!(idle);
        loop {
            tokio::select! {
                frame = conn.next() => {
                    let frame = match frame {
                        None => return Ended::Lost("the host hung up".into()),
                        Some(Err(e)) => return lost(e),
                        Some(Ok(frame)) => frame,
                    };
                    idle.as_mut().reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
                    if let Some(ended) = self.on_frame(frame) {
                        return ended;
                    }
                }
                cmd = cmds.recv() => match cmd {
                    Some(SessionCmd::Post { seq, text }) => {
                        let sendable = check_text(&text).is_ok();
                        self.queue(seq, text.clone());
                        if sendable && let Err(e) = send(&mut conn, Frame::Post { seq, text }).await {
                            return lost(e);
                        }
                    }
                    Some(SessionCmd::Rename(name)) => {
                        self.config.name = name.clone();
                        if let Err(e) = send(&mut conn, Frame::Rename { name }).await {
                            return lost(e);
                        }
                    }
                    Some(SessionCmd::Redial(_)) => {}
                    Some(SessionCmd::Leave) | None => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), conn.send(Frame::Bye)).await;
                        return Ended::Left;
                    }
                },
                _ = ping.tick() => {
                    if let Err(e) = send(&mut conn, Frame::Ping).await {
                        return lost(e);
                    }
                }
                _ = &mut idle => return Ended::Lost("the host stopped answering".into()),
            }
        }
    }

    /// Handles one frame from the host; `Some` when it ends the session.
    fn on_frame(&mut self, frame: Frame) -> Option<Ended> {
        let room = self.config.room.clone();
        match frame {
            // Only news: a rejoin asks for history after `last_id`, but be sure.
            Frame::Message(message) if self.last_id.is_none_or(|last| message.id > last) => {
                self.last_id = Some(message.id);
                // What was said while we were away counts as live: its files come by themselves.
                let live = self.history_left == 0 || self.history_is_news;
                self.events.send(Event::Message {
                    room: room.clone(),
                    message,
                    live,
                });
                self.history_read(room);
            }
            Frame::Message(_) => self.history_read(room),
            Frame::Accepted { seq, id } => {
                self.outbox.retain(|(s, _)| *s != seq);
                self.events.send(Event::Accepted { room, seq, id });
            }
            Frame::Rejected { seq, reason } => {
                self.outbox.retain(|(s, _)| *s != seq);
                self.events.send(Event::Rejected { room, seq, reason });
            }
            Frame::MemberJoined(member) => self.events.send(Event::MemberJoined { room, member }),
            Frame::MemberLeft(member) => self.events.send(Event::MemberLeft { room, member }),
            Frame::MemberRenamed(member) => self.events.send(Event::MemberRenamed { room, member }),
            Frame::Pong | Frame::Unknown => {}
            Frame::Closing { reason } => return Some(Ended::Closed(reason)),
            other => {
                let e = ProtocolError::OutOfOrder {
                    kind: other.kind(),
                    context: "from the host",
                };
                return Some(Ended::Lost(e.to_string()));
            }
        }
        None
    }
}
