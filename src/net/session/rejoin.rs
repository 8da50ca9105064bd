//! The session task's life: join, stay connected, and when the host goes away wait
//! (backing off, or until discovery sees the room again) and join again.

use super::connected::Ended;
use super::join::{JoinError, join};
use super::{Event, EventSender, Failure, Run, SessionCmd, SessionConfig, SessionState, Waiting};
use crate::protocol::RefuseCode;
use std::collections::VecDeque;
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

pub(super) async fn run(
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
}
