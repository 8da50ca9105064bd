//! Joining: dial the host, greet it (and prove the password, in a locked room), and take
//! its welcome.

use super::{Failure, PasswordNeed, Run, SessionConfig, SessionEvent, SessionState};
use crate::net::identity::PublicKey;
use crate::net::link::{self, Expect, Link, LinkError};
use crate::net::password::MemberExchange;
use crate::protocol::{APP_VERSION, Frame, Hello, Refusal, RefuseCode, WaitCode, Welcome};
use std::time::Duration;

/// Why joining failed.
pub(super) enum JoinError {
    /// The host refused; retrying will not help until something changes.
    Refused(Refusal),
    /// Nobody answered, or the answer was not a welcome.
    Unreachable(String),
    /// The host presented another key than the one pinned for the room: nothing of ours
    /// reached it.
    KeyChanged {
        pinned: PublicKey,
        presented: PublicKey,
    },
    /// The room wants a (right) password; the code says which.
    Password(PasswordNeed),
    /// The host asks us to try again after a while (password tries are slowed down).
    Later(Duration, WaitCode),
    /// Retrying cannot help (another protocol version), and why.
    Hopeless(Failure),
}

/// Let in: the link, the host's welcome, and whether the host checked our password (a
/// locked room), which is then worth remembering.
pub(super) struct Admitted {
    pub link: Link,
    pub welcome: Welcome,
    pub proven: bool,
}

/// Dials the room, proves who we are (and, in a locked room, that we know the password),
/// and gets the welcome.
pub(super) async fn join(
    config: SessionConfig,
    since: Option<u64>,
    epoch: Option<u64>,
) -> Result<Admitted, JoinError> {
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
    let exchange = hello(&config, &mut link, since, epoch).await?;
    welcome(&config, link, exchange, expect).await
}

/// Says who we are and which room we mean (with the first password message, in a locked
/// room); the password exchange continues when the host answers.
async fn hello(
    config: &SessionConfig,
    link: &mut Link,
    since: Option<u64>,
    epoch: Option<u64>,
) -> Result<Option<MemberExchange>, JoinError> {
    let (exchange, password) = match &config.password {
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
    link.writer.send(hello).await.map_err(link_broke)?;
    Ok(exchange)
}

/// Reads the host's answers to our hello until it lets us in or says why not, answering
/// its password challenge on the way.
// A match over what a host may answer a hello with: clearest as one list.
async fn welcome(
    config: &SessionConfig,
    mut link: Link,
    mut exchange: Option<MemberExchange>,
    expect: Expect,
) -> Result<Admitted, JoinError> {
    let deadline = config.timeouts.handshake;
    let mut proven = false;
    loop {
        match link.reader.next_within(deadline).await {
            // A host seen for the first time that lets us in without checking the password we
            // brought has not shown it knows it: it may not be the room we mean.
            Ok(Frame::Welcome(_)) if exchange.is_some() && expect == Expect::Anyone => {
                return Err(JoinError::Hopeless(Failure::PasswordNotChecked));
            }
            Ok(Frame::Welcome(welcome)) if welcome.room == config.room => {
                return Ok(Admitted {
                    link,
                    welcome,
                    proven,
                });
            }
            Ok(Frame::Welcome(_)) => {
                return Err(JoinError::Refused(RefuseCode::WrongRoom.into()));
            }
            Ok(Frame::Spake { msg, proof }) => {
                prove(&mut link, exchange.take(), &msg, &proof).await?;
                proven = true;
            }
            Ok(Frame::TryLater { after_ms, code }) => {
                // A little past the wait, and never less than a moment.
                let wait = Duration::from_millis(after_ms.clamp(500, 3_600_000) + 100);
                return Err(JoinError::Later(wait, code));
            }
            Ok(Frame::Refused(refusal)) => return Err(refused(refusal)),
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
            Err(e) => return Err(link_broke(e)),
        }
    }
}

/// Answers the host's password challenge; a host whose own proof fails has another
/// password, and we say nothing more to it.
async fn prove(
    link: &mut Link,
    exchange: Option<MemberExchange>,
    msg: &[u8],
    proof: &[u8],
) -> Result<(), JoinError> {
    let Some(exchange) = exchange else {
        return Err(JoinError::Unreachable(
            "the host sent spake out of turn".into(),
        ));
    };
    let proof = exchange
        .finish(msg, proof)
        .map_err(|_| JoinError::Password(PasswordNeed::Wrong))?;
    link.writer
        .send(Frame::Proof { proof })
        .await
        .map_err(link_broke)
}

/// What a refusal means for the session: a password to ask for, no hope (another
/// version), or a refusal that may pass.
fn refused(refusal: Refusal) -> JoinError {
    match refusal.code {
        RefuseCode::Password => JoinError::Password(PasswordNeed::Missing),
        RefuseCode::WrongPassword => JoinError::Password(PasswordNeed::Wrong),
        RefuseCode::PasswordUnfinished => JoinError::Password(PasswordNeed::Unfinished),
        RefuseCode::Version => JoinError::Hopeless(Failure::TurnedAway { refusal }),
        _ => JoinError::Refused(refusal),
    }
}

/// A link that broke while joining.
fn link_broke(e: LinkError) -> JoinError {
    JoinError::Unreachable(e.to_string())
}

impl Run {
    /// In: the host's key is pinned for the room (trust on first use), the password that let
    /// us in (if the host checked one) is told to be remembered, and the front end hears who
    /// is here.
    pub(super) async fn welcomed(&mut self, welcome: Welcome, host: PublicKey, proven: bool) {
        let (trust, room, name) = (
            self.config.trust.clone(),
            self.config.room.clone(),
            welcome.room_name.clone(),
        );
        let pinned = tokio::task::spawn_blocking(move || trust.trust(&room, host, &name)).await;
        if let Ok(Err(e)) = pinned {
            tracing::warn!("could not save the host key of {}: {e}", self.config.room);
        }
        if proven && let Some(secret) = &self.config.password {
            self.tell(SessionEvent::LetIn {
                secret: secret.clone(),
                host,
            });
        }
        // Coming back to the history we knew: what it brings was said while we were away.
        self.history_is_news = self.epoch == Some(welcome.epoch);
        if self.epoch.is_some_and(|known| known != welcome.epoch) {
            // The host's history started over: its ids are new.
            tracing::info!("room {}: the host's history started over", self.config.room);
            self.last_id = None;
            self.tell(SessionEvent::HistoryReset);
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
            self.name(member);
        }
        let history = welcome.history;
        self.tell(SessionEvent::Joined {
            welcome: Box::new(welcome),
            host_key: host,
        });
        if history == 0 {
            self.page_read();
        }
        self.state(SessionState::Connected);
    }
}
