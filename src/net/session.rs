//! The member side of a room: dial the host (racing its addresses), greet, then carry posts
//! out and the room's frames in as bridge events. When the host goes away the session waits
//! and rejoins by itself, resending posts the host never confirmed.

use crate::bridge::{Event, EventSender, Failure, SessionState, Waiting};
use crate::net::identity::{Identity, PublicKey};
use crate::net::link::{self, Expect, Link, LinkError, Timeouts};
use crate::net::password::{MemberExchange, RoomSecret};
use crate::net::sealed;
use crate::net::trust::{Known, KnownHosts, KnownPeople};
use crate::protocol::{
    APP_VERSION, ChatMessage, Frame, Hello, ProtocolError, RefuseCode, RoomId, Welcome, check_text,
};
use crate::protocol::{DeviceId, DirectBody, Member};
use crate::store::{Direct, DirectStore, MemberStore, Sent};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Longest wait between rejoin attempts after the host vanished (before its random part).
const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// The waits between attempts to rejoin a room whose host cannot be reached: from half a
/// second, doubling up to [`MAX_BACKOFF`], each with a random part as long again at most, so
/// that the members of a restarted room do not all dial it in the same moment.
fn rejoin_waits() -> backon::ExponentialBackoff {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::new()
        .with_jitter()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(MAX_BACKOFF)
        .without_max_times()
        .build()
}
/// Wait between attempts when the host turned us away for a reason that may pass (the room
/// was full, or its address now runs another room).
const REFUSED_RETRY: Duration = Duration::from_secs(30);
/// Most posts sent and not yet answered: the rest wait in the outbox, so a long outbox is
/// paced by the host's answers instead of running into the room's flood limit.
const WINDOW: usize = 32;

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

/// What a command that arrived while not connected means for the loop that got it.
enum Offline {
    Stay,
    /// Something changed that the user did (a password, a trusted key): try at once.
    Redialled,
    /// Discovery sees the room (again): try soon, at a random moment within
    /// [`SEEN_SPREAD`], since every member of the room sees it at the same moment.
    Seen,
    Leave,
}

/// How far apart the members of a room that came back dial it, once discovery sees it.
const SEEN_SPREAD: Duration = Duration::from_secs(1);

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

    /// Tries joining again with this password (after the host asked for one).
    pub fn password(&self, secret: RoomSecret) {
        let _ = self.tx.send(SessionCmd::Password(secret));
    }

    /// Tries joining again now (after the user trusted the host's new key).
    pub fn retry(&self) {
        let _ = self.tx.send(SessionCmd::Retry);
    }

    /// Asks the host for the page of history before message `before` (the user scrolled
    /// back); the front end hears [`Event::Earlier`].
    pub fn before(&self, before: u64) {
        let _ = self.tx.send(SessionCmd::Before(before));
    }

    /// Says whether the user is away from the keyboard (now, and after each rejoin).
    pub fn presence(&self, away: bool) {
        let _ = self.tx.send(SessionCmd::Presence(away));
    }

    /// Sends a direct message to member `to` through this room's host, sealed for its key;
    /// the front end hears [`Event::Direct`], then [`Event::DirectSent`] or
    /// [`Event::DirectFailed`].
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
    /// The host presented another key than the one pinned for the room: nothing of ours
    /// reached it.
    KeyChanged {
        pinned: PublicKey,
        presented: PublicKey,
    },
    /// The room wants a (right) password; the text says which.
    Password(String),
    /// The host asks us to try again after a while (password tries are slowed down).
    Later(Duration, String),
    /// Retrying cannot help (another protocol version), and why.
    Hopeless(Failure),
}

/// The session task's state.
struct Run {
    /// Who joins where; the addresses and name change as discovery and the user say.
    config: SessionConfig,
    /// To the front end.
    events: EventSender,
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
    earlier: Option<EarlierPage>,
    /// Whether the user is away from the keyboard: said to the host after each join.
    away: bool,
    /// Our direct messages sent on this connection and not yet answered: their recipient.
    directs_out: std::collections::HashMap<u64, DeviceId>,
    /// Who is in the room by device, as its host lists them: what a direct message's sender is
    /// called (its key's name here, never what the message says).
    names: std::collections::HashMap<DeviceId, String>,
}

/// A page of history before a message, as its messages arrive.
struct EarlierPage {
    before: u64,
    /// Messages of it still to come.
    left: u32,
    /// Whether older ones are further back.
    more: bool,
    messages: Vec<ChatMessage>,
}

async fn run(
    config: SessionConfig,
    events: EventSender,
    mut cmds: mpsc::UnboundedReceiver<SessionCmd>,
) {
    let store = config.store.clone();
    let mut run = Run {
        config,
        events,
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
    };
    run.restore().await;
    let mut waits = rejoin_waits();
    // The reason we are waiting for the host, while we are: retries keep saying it.
    let mut waiting: Option<Waiting> = None;
    loop {
        if waiting.is_none() {
            run.state(SessionState::Connecting);
        }
        let joining = join(run.config.clone(), run.last_id, run.epoch);
        tokio::pin!(joining);
        // Set when a password or a trusted key came while dialling: a failed attempt is then
        // tried again at once, with them; when discovery saw the room meanwhile, soon.
        let (mut news, mut seen) = (false, false);
        let joined = loop {
            tokio::select! {
                joined = &mut joining => break joined,
                // Discovery often adds addresses while we dial: they are used next time, and
                // an attempt that may already be in is not cut short.
                cmd = cmds.recv() => match run.offline(cmd) {
                    Offline::Leave => return run.state(SessionState::Left),
                    Offline::Redialled => news = true,
                    Offline::Seen => seen = true,
                    Offline::Stay => {}
                },
            }
        };
        let (wait, why) = match joined {
            Ok((conn, welcome)) => {
                waits = rejoin_waits();
                waiting = None;
                let host = welcome.host_name.clone();
                run.welcomed(welcome, conn.remote).await;
                let ended = run.connected(conn, &mut cmds).await;
                run.link_ended();
                match ended {
                    Ended::Left => return run.state(SessionState::Left),
                    // Discovery usually announces the room's return first; the backoff covers
                    // a return it misses (a restart within the goodbye's grace second).
                    Ended::Closed(reason) => {
                        let wait = waits.next().unwrap_or(MAX_BACKOFF);
                        (wait, SessionState::Waiting(Waiting::Closed { reason }))
                    }
                    Ended::Lost(why) => {
                        tracing::info!("room {}: {why}", run.config.room);
                        if let Some(gone) = &run.config.host_gone {
                            let _ = gone.send(run.config.room.clone());
                        }
                        let wait = waits.next().unwrap_or(MAX_BACKOFF);
                        (wait, SessionState::Waiting(Waiting::HostLeft { host }))
                    }
                }
            }
            Err(JoinError::Refused(code, reason)) => {
                let retry = matches!(code, RefuseCode::Full | RefuseCode::WrongRoom);
                let state = if retry {
                    SessionState::Waiting(Waiting::TurnedAway { reason })
                } else {
                    SessionState::Failed(Failure::TurnedAway { reason })
                };
                (if retry { REFUSED_RETRY } else { Duration::MAX }, state)
            }
            Err(JoinError::KeyChanged { pinned, presented }) => {
                tracing::warn!(
                    "room {}: the host presented key {} instead of {}",
                    run.config.room,
                    presented.fingerprint(),
                    pinned.fingerprint()
                );
                let state = SessionState::KeyChanged {
                    known: pinned.fingerprint(),
                    presented,
                };
                // Nothing more until the user decides (trust it, or leave).
                (Duration::MAX, state)
            }
            Err(JoinError::Password(reason)) => {
                (Duration::MAX, SessionState::NeedsPassword(reason))
            }
            Err(JoinError::Later(wait, reason)) => {
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                (
                    wait,
                    SessionState::Waiting(Waiting::Slowed { reason, secs }),
                )
            }
            Err(JoinError::Hopeless(failure)) => (Duration::MAX, SessionState::Failed(failure)),
            Err(JoinError::Unreachable(why)) => {
                tracing::info!("room {}: cannot reach the host: {why}", run.config.room);
                let wait = waits.next().unwrap_or(MAX_BACKOFF);
                // Still waiting for the same reason: keep saying it.
                let why = waiting.clone().unwrap_or(Waiting::Unreachable);
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
        let wait = if news {
            Duration::ZERO
        } else if seen {
            wait.min(SEEN_SPREAD.mul_f64(rand::random::<f64>()))
        } else {
            wait
        };
        let retry = tokio::time::sleep(wait.min(Duration::from_secs(24 * 3600)));
        tokio::pin!(retry);
        loop {
            tokio::select! {
                _ = &mut retry => break,
                cmd = cmds.recv() => match run.offline(cmd) {
                    Offline::Stay => {}
                    Offline::Redialled => break,
                    Offline::Seen => {
                        let soon = tokio::time::Instant::now()
                            + SEEN_SPREAD.mul_f64(rand::random::<f64>());
                        if soon < retry.deadline() {
                            retry.as_mut().reset(soon);
                        }
                    }
                    Offline::Leave => return run.state(SessionState::Left),
                },
            }
        }
    }
}

/// Dials the room, proves who we are (and, in a locked room, that we know the password),
/// and gets the welcome.
async fn join(
    config: SessionConfig,
    since: Option<u64>,
    epoch: Option<u64>,
) -> Result<(Link, Welcome), JoinError> {
    let expect = config.trust.expect(&config.room);
    let mut link = link::dial(&config.addrs, &config.identity, expect, &config.timeouts)
        .await
        .map_err(|e| match e {
            LinkError::KeyChanged { pinned, presented } => {
                JoinError::KeyChanged { pinned, presented }
            }
            LinkError::Version { theirs } => JoinError::Hopeless(Failure::Version { theirs }),
            e => JoinError::Unreachable(e.to_string()),
        })?;
    let (mut exchange, password) = match &config.password {
        Some(secret) => {
            let (exchange, message) = MemberExchange::start(secret, link.handshake_hash);
            (Some(exchange), Some(message))
        }
        None => (None, None),
    };
    let hello = Frame::Hello(Hello {
        app: APP_VERSION.to_owned(),
        name: config.name.clone(),
        room: config.room.clone(),
        since,
        epoch,
        resume: config.resume,
        password,
        passing: config.passing,
    });
    let unreachable = |e: LinkError| JoinError::Unreachable(e.to_string());
    link.writer.send(hello).await.map_err(unreachable)?;
    let deadline = config.timeouts.handshake;
    loop {
        match link.reader.next_within(deadline).await {
            // A host seen for the first time that lets us in without checking the password we
            // brought has not shown it knows it: it may not be the room we mean.
            Ok(Frame::Welcome(_)) if exchange.is_some() && expect == Expect::Anyone => {
                return Err(JoinError::Hopeless(Failure::PasswordNotChecked));
            }
            Ok(Frame::Welcome(welcome)) if welcome.room == config.room => {
                return Ok((link, welcome));
            }
            Ok(Frame::Welcome(_)) => {
                return Err(JoinError::Refused(
                    RefuseCode::WrongRoom,
                    "that address now runs another room".into(),
                ));
            }
            Ok(Frame::Spake { msg, proof }) => {
                let Some(exchange) = exchange.take() else {
                    return Err(JoinError::Unreachable(
                        "the host sent spake out of turn".into(),
                    ));
                };
                // A host whose proof fails has another password: we say nothing more to it.
                let proof = exchange
                    .finish(&msg, &proof)
                    .map_err(|_| JoinError::Password("wrong password".into()))?;
                link.writer
                    .send(Frame::Proof { proof })
                    .await
                    .map_err(unreachable)?;
            }
            Ok(Frame::Refused {
                code: RefuseCode::Password,
                reason,
            }) => return Err(JoinError::Password(reason)),
            Ok(Frame::TryLater { after_ms, reason }) => {
                // A little past the wait, and never less than a moment.
                let wait = Duration::from_millis(after_ms.clamp(500, 3_600_000) + 100);
                return Err(JoinError::Later(wait, reason));
            }
            Ok(Frame::Refused {
                code: RefuseCode::Version,
                reason,
            }) => return Err(JoinError::Hopeless(Failure::TurnedAway { reason })),
            Ok(Frame::Refused { code, reason }) => return Err(JoinError::Refused(code, reason)),
            Ok(other) => {
                return Err(JoinError::Unreachable(format!(
                    "the host sent {} before welcome",
                    other.kind()
                )));
            }
            Err(LinkError::Ended) => return Err(JoinError::Unreachable("the host hung up".into())),
            Err(LinkError::TimedOut(_)) => {
                return Err(JoinError::Unreachable("the host did not answer".into()));
            }
            Err(e) => return Err(unreachable(e)),
        }
    }
}

/// What a host says about the room it runs at an address given by hand.
#[derive(Debug, Clone)]
pub struct About {
    pub room: RoomId,
    pub room_name: String,
    pub host_name: String,
    pub members: u32,
    /// Whether joining needs the password.
    pub locked: bool,
    /// The host's key, as its handshake proved it.
    pub key: PublicKey,
}

/// Why asking an address which room it runs failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WhoError {
    /// Nobody answered, or the connection broke: it may pass (the host is restarting).
    #[error("{0}")]
    Unreachable(String),
    /// The host answered, and the answer will not change by asking again.
    #[error("{0}")]
    Answered(String),
}

/// Asks the host at these addresses which room it runs, without joining it. `expect`: the
/// key of the room the person means, where it was pinned; another machine is then left
/// before it learns anything of ours (our key included).
pub async fn ask_who(
    addrs: &[SocketAddr],
    identity: &Identity,
    expect: Expect,
    timeouts: &Timeouts,
) -> Result<About, WhoError> {
    let mut link = link::dial(addrs, identity, expect, timeouts)
        .await
        .map_err(|e| match e {
            LinkError::KeyChanged { pinned, presented } => WhoError::Answered(format!(
                "the machine there presents the key {} instead of {}: it may be pretending to be the room, so nothing was sent to it",
                presented.fingerprint(),
                pinned.fingerprint()
            )),
            LinkError::Version { .. } => WhoError::Answered(e.to_string()),
            e => WhoError::Unreachable(e.to_string()),
        })?;
    let unreachable = |e: LinkError| WhoError::Unreachable(e.to_string());
    link.writer.send(Frame::Who).await.map_err(unreachable)?;
    match link.reader.next_within(timeouts.handshake).await {
        Ok(Frame::About {
            room,
            room_name,
            host_name,
            members,
            locked,
        }) => Ok(About {
            room,
            room_name,
            host_name,
            members,
            locked,
            key: link.remote,
        }),
        Ok(other) => Err(WhoError::Answered(format!(
            "the host answered with {}",
            other.kind()
        ))),
        Err(LinkError::Ended) => Err(WhoError::Unreachable(
            "the host hung up without answering".into(),
        )),
        Err(LinkError::TimedOut(_)) => Err(WhoError::Unreachable("the host did not answer".into())),
        Err(e) => Err(unreachable(e)),
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
                return Offline::Seen;
            }
            Some(SessionCmd::Password(secret)) => {
                self.config.password = Some(secret);
                return Offline::Redialled;
            }
            Some(SessionCmd::Retry) => return Offline::Redialled,
            // Nobody to ask: the front end hears nothing came, and may ask again.
            Some(SessionCmd::Before(before)) => self.events.send(Event::Earlier {
                room: self.config.room.clone(),
                before,
                messages: Vec::new(),
                more: true,
            }),
            Some(SessionCmd::Presence(away)) => self.away = away,
            Some(SessionCmd::Typing) => {}
            Some(SessionCmd::Direct { to, seq, text }) => {
                if let Some(d) = self.direct_out(&to, seq, text) {
                    let reason = "not connected to the room".to_owned();
                    self.direct_failed(&d.peer, seq, reason);
                }
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

    /// Takes up what was kept of the room: the messages seen are shown, and the posts not
    /// yet answered wait in the outbox again (and are shown as pending).
    async fn restore(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        let kept = match store.load().await {
            Ok(kept) => kept,
            Err(e) => {
                return tracing::warn!(
                    "room {}: nothing kept could be read: {e}",
                    self.config.room
                );
            }
        };
        let room = self.config.room.clone();
        self.epoch = kept.epoch;
        self.last_id = kept.last_id;
        for message in kept.recent {
            let room = room.clone();
            let live = false;
            self.events.send(Event::Message {
                room,
                message,
                live,
            });
        }
        for (seq, text) in kept.outbox {
            let (room, pending) = (room.clone(), text.clone());
            self.events.send(Event::Pending {
                room,
                seq,
                text: pending,
            });
            self.outbox.push_back((seq, text));
        }
    }

    fn queue(&mut self, seq: u64, text: String) {
        match check_text(&text) {
            Ok(()) => {
                if let Some(store) = &self.store {
                    store.queue(seq, &text);
                }
                self.outbox.push_back((seq, text));
            }
            Err(reason) => self.events.send(Event::Rejected {
                room: self.config.room.clone(),
                seq,
                reason,
            }),
        }
    }

    /// Counts a history message off; after the last of the last page, says the history is
    /// complete, and after the last of another, asks for the next.
    fn history_read(&mut self, room: RoomId) {
        if self.history_left > 0 {
            self.history_left -= 1;
            if self.history_left == 0 {
                self.page_read(room);
            }
        }
    }

    /// A page of history has all arrived.
    fn page_read(&mut self, room: RoomId) {
        if self.more_history {
            self.ask_page = true;
        } else {
            self.events.send(Event::HistoryDone { room });
        }
    }

    /// In: the host's key is pinned for the room (trust on first use), and the front end hears
    /// who is here.
    async fn welcomed(&mut self, welcome: Welcome, host: PublicKey) {
        let (trust, room, name) = (
            self.config.trust.clone(),
            self.config.room.clone(),
            welcome.room_name.clone(),
        );
        let pinned = tokio::task::spawn_blocking(move || trust.trust(&room, host, &name)).await;
        if let Ok(Err(e)) = pinned {
            tracing::warn!("could not save the host key of {}: {e}", self.config.room);
        }
        // Coming back to the history we knew: what it brings was said while we were away.
        self.history_is_news = self.epoch == Some(welcome.epoch);
        if self.epoch.is_some_and(|known| known != welcome.epoch) {
            // The host's history started over: its ids are new.
            tracing::info!("room {}: the host's history started over", self.config.room);
            self.last_id = None;
            self.events.send(Event::HistoryReset {
                room: self.config.room.clone(),
            });
        }
        self.epoch = Some(welcome.epoch);
        if let Some(store) = &self.store {
            store.joined(&welcome.room_name, &welcome.host_name, &self.config.addrs);
        }
        self.history_left = welcome.history;
        self.more_history = welcome.more;
        self.ask_page = false;
        self.in_flight = 0;
        for member in &welcome.members {
            self.names
                .insert(member.device.clone(), member.name.clone());
        }
        self.events.send(Event::Joined {
            room: self.config.room.clone(),
            room_name: welcome.room_name,
            host_name: welcome.host_name,
            you: welcome.you,
            members: welcome.members,
            history: welcome.history,
            host_key: host,
        });
        if welcome.history == 0 {
            self.page_read(self.config.room.clone());
        }
        self.state(SessionState::Connected);
    }

    /// Runs a joined session until it ends.
    async fn connected(
        &mut self,
        link: Link,
        cmds: &mut mpsc::UnboundedReceiver<SessionCmd>,
    ) -> Ended {
        let Link {
            mut reader,
            mut writer,
            ..
        } = link;
        let lost = |e: LinkError| Ended::Lost(e.to_string());
        if self.away
            && let Err(e) = writer.send(Frame::Presence { away: true }).await
        {
            return lost(e);
        }
        if let Err(e) = self.top_up(&mut writer).await {
            return lost(e);
        }
        let timeouts = self.config.timeouts;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + timeouts.ping, timeouts.ping);
        let idle = tokio::time::sleep(timeouts.idle);
        tokio::pin!(idle);
        loop {
            tokio::select! {
                frame = reader.recv() => {
                    let frame = match frame {
                        None => return Ended::Lost("the host hung up".into()),
                        Some(Err(e)) => return Ended::Lost(e.to_string()),
                        Some(Ok(frame)) => frame,
                    };
                    idle.as_mut().reset(tokio::time::Instant::now() + timeouts.idle);
                    if let Some(ended) = self.on_frame(frame) {
                        return ended;
                    }
                    if let Err(e) = self.top_up(&mut writer).await {
                        return lost(e);
                    }
                }
                cmd = cmds.recv() => match cmd {
                    Some(SessionCmd::Post { seq, text }) => {
                        self.queue(seq, text);
                        if let Err(e) = self.top_up(&mut writer).await {
                            return lost(e);
                        }
                    }
                    Some(SessionCmd::Rename(name)) => {
                        self.config.name = name.clone();
                        if let Err(e) = writer.send(Frame::Rename { name }).await {
                            return lost(e);
                        }
                    }
                    // In already: the new password, key or addresses are for the next join.
                    // (A host that moved is often seen at its new address before its old
                    // connection is given up for lost.)
                    Some(SessionCmd::Password(secret)) => self.config.password = Some(secret),
                    Some(SessionCmd::Redial(addrs)) => self.config.addrs = addrs,
                    Some(SessionCmd::Retry) => {}
                    Some(SessionCmd::Before(before)) => {
                        if let Err(e) = writer.send(Frame::Before { before }).await {
                            return lost(e);
                        }
                    }
                    Some(SessionCmd::Presence(away)) => {
                        self.away = away;
                        if let Err(e) = writer.send(Frame::Presence { away }).await {
                            return lost(e);
                        }
                    }
                    Some(SessionCmd::Typing) => {
                        if let Err(e) = writer.send(Frame::Typing).await {
                            return lost(e);
                        }
                    }
                    Some(SessionCmd::Direct { to, seq, text }) => {
                        let Some(d) = self.direct_out(&to, seq, text) else {
                            continue;
                        };
                        match self.seal(&to, &d) {
                            Ok(sealed) => {
                                self.directs_out.insert(seq, d.peer.clone());
                                let frame = Frame::Direct { to: to.id, seq, sealed };
                                if let Err(e) = writer.send(frame).await {
                                    return lost(e);
                                }
                            }
                            Err(reason) => self.direct_failed(&d.peer, seq, reason),
                        }
                    }
                    Some(SessionCmd::Leave) | None => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), writer.send(Frame::Bye)).await;
                        writer.close().await;
                        return Ended::Left;
                    }
                },
                _ = ping.tick() => {
                    if let Err(e) = writer.send(Frame::Ping).await {
                        return lost(e);
                    }
                }
                _ = &mut idle => return Ended::Lost("the host stopped answering".into()),
            }
        }
    }

    /// Sends what is due: the next page of history if asked for, and posts from the outbox
    /// up to the window.
    async fn top_up(&mut self, writer: &mut link::LinkWriter) -> Result<(), LinkError> {
        let mut fed = false;
        if std::mem::take(&mut self.ask_page) {
            let after = self.last_id;
            writer.feed(Frame::History { after }).await?;
            fed = true;
        }
        while self.in_flight < WINDOW.min(self.outbox.len()) {
            let (seq, text) = self.outbox[self.in_flight].clone();
            writer.feed(Frame::Post { seq, text }).await?;
            self.in_flight += 1;
            fed = true;
        }
        if fed {
            writer.flush().await?;
        }
        Ok(())
    }

    /// A post was answered: it leaves the outbox.
    fn answered(&mut self, seq: u64) {
        if let Some(store) = &self.store {
            store.answered(seq);
        }
        if let Some(at) = self.outbox.iter().position(|(s, _)| *s == seq) {
            self.outbox.remove(at);
            if at < self.in_flight {
                self.in_flight -= 1;
            }
        }
    }

    /// The connection ended: what was on its way on it will not be answered. Our direct
    /// messages not yet confirmed are not delivered (the host keeps none); a page of older
    /// history half received is dropped (the front end asks again).
    fn link_ended(&mut self) {
        for (seq, peer) in std::mem::take(&mut self.directs_out) {
            self.direct_failed(&peer, seq, "the connection to the room was lost".into());
        }
        self.earlier = None;
    }

    /// A direct message of ours, written: kept and shown as sending. `None` if it cannot
    /// be sent at all (it was said why).
    fn direct_out(&mut self, to: &Member, seq: u64, text: String) -> Option<Direct> {
        let d = Direct {
            peer: to.device.clone(),
            peer_name: to.name.clone(),
            claimed: None,
            outgoing: true,
            seq,
            ts: crate::protocol::now_ms(),
            text,
            room: self.config.room.clone(),
            state: Sent::Sending,
        };
        if let Some(store) = &self.config.directs {
            store.keep(&d);
        }
        self.events.send(Event::Direct(d.clone()));
        Some(d)
    }

    /// Seals a direct message for `to`, whose key must be the one its device id is made of,
    /// and the one its name had when we first wrote to or heard from them.
    fn seal(&self, to: &Member, d: &Direct) -> Result<Vec<u8>, String> {
        let key = to
            .key
            .filter(|key| key.device() == to.device)
            .ok_or("their key is not known")?;
        match self.meet(&to.name, key) {
            Known::Changed { pinned } => {
                return Err(format!(
                    "{}'s key is not the one you wrote to before ({} then, {} now): nothing is sent to it until you accept it",
                    to.name,
                    pinned.fingerprint(),
                    key.fingerprint()
                ));
            }
            Known::New | Known::Same { .. } | Known::Renamed { .. } => {}
        }
        let body = DirectBody {
            seq: d.seq,
            ts: d.ts,
            name: self.config.name.clone(),
            text: d.text.clone(),
        };
        let payload = rmp_serde::to_vec_named(&body).map_err(|e| e.to_string())?;
        sealed::seal(&self.config.identity, &key, &self.config.room, &payload)
            .map_err(|e| e.to_string())
    }

    /// What is known of `name` having `key` as we write to them (see [`KnownPeople::meet`]);
    /// a first meeting is kept, and the front end hears of it.
    fn meet(&self, name: &str, key: PublicKey) -> Known {
        let known = self.config.people.meet(name, key);
        if known == Known::New {
            let people = self.config.people.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = people.save() {
                    tracing::warn!("could not save the people met: {e}");
                }
            });
            self.events.send(Event::People(self.config.people.all()));
        }
        known
    }

    fn direct_failed(&mut self, peer: &DeviceId, seq: u64, reason: String) {
        if let Some(store) = &self.config.directs {
            store.sent(peer, seq, Sent::Failed(reason.clone()));
        }
        self.events.send(Event::DirectFailed {
            peer: peer.clone(),
            seq,
            reason,
        });
    }

    /// A direct message relayed to us: opened, checked, kept and shown. One that cannot be
    /// opened or read costs nothing else.
    fn direct_in(&mut self, sealed: &[u8]) {
        let opened = sealed::open(&self.config.identity, &self.config.room, sealed)
            .map_err(|e| e.to_string())
            .and_then(|(key, payload)| {
                let body: DirectBody =
                    rmp_serde::from_slice(&payload).map_err(|e| e.to_string())?;
                body.validate()?;
                Ok((key, body))
            });
        let (key, body) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                return tracing::warn!("a direct message in {} was dropped: {e}", self.config.room);
            }
        };
        // Named by its key: as the room lists that key, or as we first met it. Nothing is
        // pinned by a message received (see `KnownPeople::check`).
        let listed = self.names.get(&key.device()).cloned();
        let name = listed
            .or_else(|| self.config.people.name_of(&key))
            .unwrap_or_else(|| format!("someone outside {}", self.config.room));
        let claimed = (body.name != name).then_some(body.name);
        if let Some(claimed) = &claimed {
            tracing::warn!("a direct message from {name} gave the name {claimed:?}");
        }
        let d = Direct {
            peer: key.device(),
            peer_name: name,
            claimed,
            outgoing: false,
            seq: body.seq,
            ts: body.ts,
            text: body.text,
            room: self.config.room.clone(),
            state: Sent::Delivered,
        };
        if let Some(store) = &self.config.directs {
            store.keep(&d);
        }
        self.events.send(Event::Direct(d));
    }

    /// Takes a message of an older page on its way; returns it if there is none.
    fn earlier_message(&mut self, message: ChatMessage) -> Option<ChatMessage> {
        let Some(page) = self.earlier.as_mut().filter(|p| p.left > 0) else {
            return Some(message);
        };
        page.left -= 1;
        page.messages.push(message);
        if page.left == 0 {
            self.earlier_done();
        }
        None
    }

    /// An older page has all arrived: kept, and handed to the front end.
    fn earlier_done(&mut self) {
        let Some(page) = self.earlier.take() else {
            return;
        };
        if let (Some(store), Some(epoch)) = (&self.store, self.epoch) {
            for message in &page.messages {
                store.seen(epoch, message);
            }
        }
        self.events.send(Event::Earlier {
            room: self.config.room.clone(),
            before: page.before,
            messages: page.messages,
            more: page.more,
        });
    }

    /// Handles one frame from the host; `Some` when it ends the session.
    fn on_frame(&mut self, frame: Frame) -> Option<Ended> {
        let room = self.config.room.clone();
        let frame = match frame {
            Frame::Message(message) => Frame::Message(self.earlier_message(message)?),
            Frame::Earlier {
                before,
                count,
                more,
            } => {
                self.earlier = Some(EarlierPage {
                    before,
                    left: count,
                    more,
                    messages: Vec::with_capacity(count as usize),
                });
                if count == 0 {
                    self.earlier_done();
                }
                return None;
            }
            other => other,
        };
        // While catching up, a live message is left for the page that will bring it in order.
        let live_too_soon = self.history_left == 0 && self.more_history;
        match frame {
            Frame::Message(_) if live_too_soon => {}
            // Only news: a rejoin asks for history after `last_id`, but be sure.
            Frame::Message(message) if self.last_id.is_none_or(|last| message.id > last) => {
                self.last_id = Some(message.id);
                if let (Some(store), Some(epoch)) = (&self.store, self.epoch) {
                    store.seen(epoch, &message);
                }
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
            Frame::Page { count, more } if self.history_left == 0 && self.more_history => {
                self.history_left = count;
                self.more_history = more;
                if count == 0 {
                    self.page_read(room);
                }
            }
            Frame::Accepted { seq, id } => {
                self.answered(seq);
                self.events.send(Event::Accepted { room, seq, id });
            }
            Frame::Rejected { seq, reason } => match self.directs_out.remove(&seq) {
                Some(peer) => self.direct_failed(&peer, seq, reason),
                None => {
                    self.answered(seq);
                    self.events.send(Event::Rejected { room, seq, reason });
                }
            },
            Frame::DirectSent { seq } => {
                if let Some(peer) = self.directs_out.remove(&seq) {
                    if let Some(store) = &self.config.directs {
                        store.sent(&peer, seq, Sent::Delivered);
                    }
                    self.events.send(Event::DirectSent { peer, seq });
                }
            }
            Frame::DirectFrom { sealed, .. } => self.direct_in(&sealed),
            Frame::MemberJoined(member) => {
                self.names
                    .insert(member.device.clone(), member.name.clone());
                self.events.send(Event::MemberJoined { room, member })
            }
            // Gone: still named as it was, for a direct message on its way.
            Frame::MemberLeft(member) => self.events.send(Event::MemberLeft { room, member }),
            Frame::MemberRenamed(member) => {
                self.names
                    .insert(member.device.clone(), member.name.clone());
                self.events.send(Event::MemberRenamed { room, member })
            }
            Frame::MemberAway { member, away } => {
                self.events.send(Event::MemberAway { room, member, away })
            }
            Frame::MemberTyping { member } => self.events.send(Event::Typing { room, member }),
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
