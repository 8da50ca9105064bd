//! The session task's life: join, stay connected, and when the host goes away wait
//! (backing off, or until discovery sees the room again) and join again.

use super::connected::Ended;
use super::join::{Admitted, JoinError, join};
use super::{
    Failure, Rejection, Report, Run, SessionCmd, SessionConfig, SessionEvent, SessionState, Waiting,
};
use crate::protocol::RefuseCode;
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

/// What the loop keeps between attempts: how long the next wait is, and what we wait for.
struct Retry {
    /// The waits between attempts to reach a host that is gone; started afresh once in.
    waits: backon::ExponentialBackoff,
    /// The reason we are waiting for the host, while we are: retries keep saying it.
    waiting: Option<Waiting>,
}

impl Retry {
    fn new() -> Retry {
        Retry {
            waits: rejoin_waits(),
            waiting: None,
        }
    }

    /// The next wait for a host that is gone.
    fn next_wait(&mut self) -> Duration {
        self.waits.next().unwrap_or(MAX_BACKOFF)
    }

    /// Tells the front end how the session stands, but a wait for the reason it was already
    /// told only once.
    fn say(&mut self, run: &Run, state: SessionState) {
        match &state {
            SessionState::Waiting(text) if self.waiting.as_ref() == Some(text) => {}
            SessionState::Waiting(text) => {
                self.waiting = Some(text.clone());
                run.state(state);
            }
            _ => run.state(state),
        }
    }
}

/// What the user or discovery said while we dialled: a failed attempt is then tried again
/// at once (a password or a trusted key came), or soon (discovery saw the room meanwhile).
#[derive(Default)]
struct Meanwhile {
    /// A password or a trusted key came.
    news: bool,
    /// Discovery saw the room.
    seen: bool,
}

impl Meanwhile {
    /// The wait before the next attempt, shortened by what was said meanwhile.
    fn shorten(&self, wait: Duration) -> Duration {
        if self.news {
            Duration::ZERO
        } else if self.seen {
            wait.min(SEEN_SPREAD.mul_f64(rand::random::<f64>()))
        } else {
            wait
        }
    }
}

pub(super) async fn run(
    config: SessionConfig,
    report: Box<dyn Report>,
    mut cmds: mpsc::UnboundedReceiver<SessionCmd>,
) {
    let mut run = Run::new(config, report);
    run.restore().await;
    let mut retry = Retry::new();
    loop {
        if retry.waiting.is_none() {
            run.state(SessionState::Connecting);
        }
        let Some((joined, meanwhile)) = run.attempt(&mut cmds).await else {
            return run.state(SessionState::Left);
        };
        let (wait, why) = match joined {
            Ok(Admitted {
                link: conn,
                welcome,
                proven,
            }) => {
                retry = Retry::new();
                let host = welcome.host_name.clone();
                run.welcomed(welcome, conn.remote, proven).await;
                let ended = run.connected(conn, &mut cmds).await;
                run.link_ended();
                match run.spell_ended(ended, host, &mut retry) {
                    Some(next) => next,
                    None => return run.state(SessionState::Left),
                }
            }
            Err(e) => run.join_failed(e, &mut retry),
        };
        retry.say(&run, why);
        if !run.wait_to_retry(meanwhile.shorten(wait), &mut cmds).await {
            return run.state(SessionState::Left);
        }
    }
}

impl Run {
    /// One attempt to join, hearing commands meanwhile; `None` when the user left.
    async fn attempt(
        &mut self,
        cmds: &mut mpsc::UnboundedReceiver<SessionCmd>,
    ) -> Option<(Result<Admitted, JoinError>, Meanwhile)> {
        let joining = join(self.config.clone(), self.last_id, self.epoch);
        tokio::pin!(joining);
        let mut meanwhile = Meanwhile::default();
        loop {
            tokio::select! {
                joined = &mut joining => return Some((joined, meanwhile)),
                // Discovery often adds addresses while we dial: they are used next time, and
                // an attempt that may already be in is not cut short.
                cmd = cmds.recv() => match self.offline(cmd) {
                    Offline::Leave => return None,
                    Offline::Redialled => meanwhile.news = true,
                    Offline::Seen => meanwhile.seen = true,
                    Offline::Stay => {}
                },
            }
        }
    }

    /// After a connected spell: how long until the next attempt, and what to say meanwhile;
    /// `None` when the user left. `host` is the host's name.
    fn spell_ended(
        &self,
        ended: Ended,
        host: String,
        retry: &mut Retry,
    ) -> Option<(Duration, SessionState)> {
        match ended {
            Ended::Left => None,
            // Discovery usually announces the room's return first; the backoff covers
            // a return it misses (a restart within the goodbye's grace second).
            Ended::Closed(code) => Some((
                retry.next_wait(),
                SessionState::Waiting(Waiting::Closed { code, host }),
            )),
            Ended::Lost(why) => {
                tracing::info!("room {}: {why}", self.config.room);
                if let Some(gone) = &self.config.host_gone {
                    let _ = gone.send(self.config.room.clone());
                }
                let state = SessionState::Waiting(Waiting::HostLeft { host });
                Some((retry.next_wait(), state))
            }
        }
    }

    /// After a failed join: how long until the next attempt (`Duration::MAX`: none until
    /// the user does something), and what to say meanwhile.
    fn join_failed(&self, e: JoinError, retry: &mut Retry) -> (Duration, SessionState) {
        match e {
            JoinError::Refused(refusal) => {
                let retrying = matches!(refusal.code, RefuseCode::Full | RefuseCode::WrongRoom);
                let state = if retrying {
                    SessionState::Waiting(Waiting::TurnedAway { refusal })
                } else {
                    SessionState::Failed(Failure::TurnedAway { refusal })
                };
                (
                    if retrying {
                        REFUSED_RETRY
                    } else {
                        Duration::MAX
                    },
                    state,
                )
            }
            JoinError::KeyChanged { presented, .. } if self.distrusted.contains(&presented) => {
                (retry.next_wait(), SessionState::Waiting(Waiting::OtherKey))
            }
            JoinError::KeyChanged { pinned, presented } => {
                tracing::warn!(
                    "room {}: the host presented key {} instead of {}",
                    self.config.room,
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
            JoinError::Password(reason) => (Duration::MAX, SessionState::NeedsPassword(reason)),
            JoinError::Later(wait, code) => {
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                (wait, SessionState::Waiting(Waiting::Slowed { code, secs }))
            }
            JoinError::Hopeless(failure) => (Duration::MAX, SessionState::Failed(failure)),
            JoinError::Unreachable(why) => {
                tracing::info!("room {}: cannot reach the host: {why}", self.config.room);
                let wait = retry.next_wait();
                // Still waiting for the same reason: keep saying it.
                let why = retry.waiting.clone().unwrap_or(Waiting::Unreachable);
                (wait, SessionState::Waiting(why))
            }
        }
    }

    /// Waits `wait`, or less once discovery sees the room again or the user gives what was
    /// missing; `false` when the user left.
    async fn wait_to_retry(
        &mut self,
        wait: Duration,
        cmds: &mut mpsc::UnboundedReceiver<SessionCmd>,
    ) -> bool {
        let retry = tokio::time::sleep(wait.min(Duration::from_secs(24 * 3600)));
        tokio::pin!(retry);
        loop {
            tokio::select! {
                _ = &mut retry => return true,
                cmd = cmds.recv() => match self.offline(cmd) {
                    Offline::Stay => {}
                    Offline::Redialled => return true,
                    Offline::Seen => {
                        let soon = tokio::time::Instant::now()
                            + SEEN_SPREAD.mul_f64(rand::random::<f64>());
                        if soon < retry.deadline() {
                            retry.as_mut().reset(soon);
                        }
                    }
                    Offline::Leave => return false,
                },
            }
        }
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
            Some(SessionCmd::Distrust(key)) => {
                if !self.distrusted.contains(&key) {
                    self.distrusted.push(key);
                }
                return Offline::Redialled;
            }
            // Nobody to ask: the front end hears nothing came, and may ask again.
            Some(SessionCmd::Before(before)) => self.tell(SessionEvent::Earlier {
                before,
                messages: Vec::new(),
                more: true,
            }),
            Some(SessionCmd::Presence(away)) => self.away = away,
            Some(SessionCmd::Typing) => {}
            Some(SessionCmd::Direct { to, seq, text }) => {
                if let Some(d) = self.direct_out(&to, seq, text) {
                    self.direct_failed(&d.peer, seq, Rejection::NotConnected);
                }
            }
            Some(SessionCmd::Leave) | None => return Offline::Leave,
        }
        Offline::Stay
    }
}
