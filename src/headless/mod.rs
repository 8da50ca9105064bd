//! The runtime without a window: `rooms`, `host` and `join` print one JSON object per line on
//! stdout, each with an `"event"` key, and read chat lines from stdin. Errors go to stderr and
//! give a non-zero exit status. Like the window, this is only a front end: everything on the
//! network is done by the runtime, through the bridge.
//!
//! Where things live: `commands` holds `whoami`, `rooms`, `host` and `send`; `join` finds a
//! room and runs `lanchat join`; `json` is what each line printed says; `input` reads chat
//! lines from stdin; `saving` counts the downloads under way, which `join` waits for (with
//! `--downloads` the runtime saves every file of the room by itself). (Messages come in
//! order, once, even when output fell behind: the bridge sees to that.)

mod commands;
mod input;
mod join;
mod json;
mod saving;

pub use commands::{host, rooms, send, watch_rooms, whoami};
pub use join::join;

use crate::bridge::{self, Command, Event, FrontEnd, SessionState};
use crate::discovery::DiscoveryConfig;
use crate::net::identity::Identity;
use crate::net::limits::Limits;
use crate::net::link::Timeouts;
use crate::protocol::{DeviceId, RoomId, check_name};
use crate::runtime::{self, RuntimeOptions};
use crate::store::{Paths, Settings};
use anyhow::{Context, bail};
use json::emit;
use serde_json::json;
use std::time::Duration;

/// What every headless command starts from.
pub struct Setup {
    pub paths: Paths,
    pub settings: Settings,
    /// Interfaces picked with `--interface`.
    pub interfaces: Vec<String>,
    /// `--name`: a display name for this run only.
    pub name: Option<String>,
    /// `--downloads`: receive every file shared in the room into this folder.
    pub downloads: Option<std::path::PathBuf>,
    /// This device's key.
    pub identity: Identity,
    /// `--password`: the room's password (to host a locked room, or to join one).
    pub password: Option<String>,
    /// `--accept-new-key`: join even if the room's host presents another key than before.
    pub accept_new_key: bool,
}

/// A running runtime and the front end's half of its bridge.
pub(super) struct Headless {
    pub(super) front: FrontEnd,
    /// Our device, to leave our own joins and leaves unprinted.
    pub(super) me: DeviceId,
    /// The room's password, if given.
    pub(super) password: Option<String>,
    /// Whether a changed host key is trusted without asking.
    pub(super) accept_new_key: bool,
    /// The data dir's pinned host keys, to pick the room we know among look-alikes.
    pub(super) known: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Headless {
    /// `passing`: the rooms are only passed through (see [`RuntimeOptions::passing`]).
    pub(super) fn start(setup: Setup, discovery: bool, passing: bool) -> anyhow::Result<Headless> {
        if let Some(name) = &setup.name {
            check_name("--name", name).map_err(anyhow::Error::msg)?;
        }
        if let Some(password) = &setup.password
            && password.is_empty()
        {
            bail!("--password is empty");
        }
        let (front, back) = bridge::channel();
        let me = setup.identity.device();
        let receives = setup.downloads.is_some();
        let known = setup.paths.data.join("known_hosts.json");
        let options = RuntimeOptions {
            paths: setup.paths,
            settings: setup.settings,
            name: setup.name,
            discovery: discovery.then_some(DiscoveryConfig {
                interfaces: setup.interfaces,
            }),
            bind: None,
            downloads: setup.downloads,
            identity: setup.identity,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            restore: false,
            passing,
            auto_save: if receives {
                runtime::AutoSave::Every
            } else {
                runtime::AutoSave::Off
            },
        };
        let task = tokio::spawn(runtime::run(back, options));
        Ok(Headless {
            front,
            me,
            password: setup.password,
            accept_new_key: setup.accept_new_key,
            known,
            task,
        })
    }

    /// This device's fingerprint.
    pub(super) fn fingerprint(&self) -> String {
        self.me.fingerprint().unwrap_or_default()
    }

    /// Acts on how a joined room's session stands: a changed host key is trusted only with
    /// `--accept-new-key`; a password problem or a hopeless failure ends the command.
    pub(super) fn session_state(&self, room: &RoomId, state: &SessionState) -> anyhow::Result<()> {
        match state {
            SessionState::KeyChanged { known, presented } if self.accept_new_key => {
                emit(json!({"event": "status", "state": "trusting_new_key",
                            "was": known, "fingerprint": presented.fingerprint()}));
                self.front.send(Command::TrustHostKey {
                    room: room.clone(),
                    key: *presented,
                });
                Ok(())
            }
            SessionState::KeyChanged { known, presented } => bail!(
                "the host of this room now presents the key {} instead of {known}: it may be a different machine pretending to be the room, so nothing was sent to it. If the host confirms the new fingerprint, run again with --accept-new-key",
                presented.fingerprint()
            ),
            SessionState::NeedsPassword(reason) if self.password.is_none() => {
                bail!("{reason}; give it with --password or LANCHAT_PASSWORD")
            }
            SessionState::NeedsPassword(reason) => bail!("{reason}"),
            SessionState::Failed(why) => bail!("{why}"),
            _ => Ok(()),
        }
    }

    /// The next event to act on.
    pub(super) async fn next(&mut self) -> anyhow::Result<Event> {
        self.front
            .events
            .recv()
            .await
            .context("the runtime stopped")
    }

    /// Asks the runtime to say its goodbyes, and waits until it has.
    pub(super) async fn stop(mut self) {
        self.front.send(Command::Shutdown);
        let stopped = async {
            while let Some(event) = self.front.events.recv().await {
                if let Event::Stopped = event {
                    break;
                }
            }
            let _ = self.task.await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(8), stopped).await;
    }
}

/// Resolves when the command is asked to stop: Ctrl+C or SIGTERM on Unix; Ctrl+C, Ctrl+Break,
/// the console window closing, or the system shutting down on Windows.
pub(super) async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows::{ctrl_break, ctrl_close, ctrl_shutdown};
        let (Ok(mut brk), Ok(mut close), Ok(mut shutdown)) =
            (ctrl_break(), ctrl_close(), ctrl_shutdown())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = brk.recv() => {}
            _ = close.recv() => {}
            _ = shutdown.recv() => {}
        }
    }
    #[cfg(not(any(unix, windows)))]
    let _ = tokio::signal::ctrl_c().await;
}
