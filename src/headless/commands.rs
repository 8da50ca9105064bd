//! The headless commands but `join`: `whoami`, `rooms` (once, or `--watch`), `host` and
//! `send`.

use super::input::{Input, Line};
use super::join::start_join;
use super::json::{emit, print_room_event, room_json, warn_problem};
use super::{Headless, Setup, terminated};
use crate::bridge::{Command, Event, TransferState};
use crate::discovery::{AdKey, RoomAd};
use crate::protocol::{RoomId, new_post_seq};
use crate::store::Change;
use anyhow::{Context, bail};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// `lanchat whoami`: this profile's name, device id and fingerprint.
/// A profile with no name saved (used only with `--name`) has no name to tell: `name` is
/// then null, and `note` says what a run without `--name` would be called.
pub fn whoami(setup: Setup) {
    let name = setup.name.clone().or_else(|| setup.settings.name.clone());
    let mut said = json!({
        "event": "whoami",
        "name": name,
        "device": setup.identity.device(),
        "fingerprint": setup.identity.fingerprint(),
    });
    if name.is_none() {
        said["note"] = json!(format!(
            "no name saved in this profile: each run uses --name, or is called {}",
            setup.settings.display_name()
        ));
    }
    emit(said);
}

/// `lanchat rooms`: lists the rooms found within `wait`.
pub async fn rooms(setup: Setup, wait: Duration) -> anyhow::Result<()> {
    let mut app = Headless::start(setup, true, false)?;
    let mut rooms: BTreeMap<AdKey, RoomAd> = BTreeMap::new();
    let deadline = Instant::now() + wait;
    while let Ok(event) = tokio::time::timeout_at(deadline, app.next()).await {
        match event? {
            Event::RoomFound(ad) => {
                rooms.insert(ad.key(), ad);
            }
            Event::RoomLost(key) => {
                rooms.remove(&key);
            }
            Event::Network(status) => warn_problem(&status),
            _ => {}
        }
    }
    for ad in rooms.values() {
        emit(room_json(ad));
    }
    app.stop().await;
    Ok(())
}

/// `lanchat rooms --watch`: prints rooms as they appear, change and go, until interrupted.
pub async fn watch_rooms(setup: Setup) -> anyhow::Result<()> {
    let mut app = Headless::start(setup, true, false)?;
    let stop = terminated();
    tokio::pin!(stop);
    loop {
        let event = tokio::select! {
            _ = &mut stop => break,
            event = app.next() => event?,
        };
        match event {
            Event::RoomFound(ad) => emit(room_json(&ad)),
            Event::RoomLost(key) => emit(json!({
                "event": "room_gone",
                "id": key.id,
                "fingerprint": key.fingerprint,
            })),
            Event::Network(status) => warn_problem(&status),
            _ => {}
        }
    }
    app.stop().await;
    Ok(())
}

/// `lanchat host`: hosts a room (the same one, with its history, if this data dir hosted a
/// room of that name before) until SIGINT or SIGTERM.
pub async fn host(setup: Setup, room_name: String) -> anyhow::Result<()> {
    let id = setup
        .settings
        .hosted_named(&room_name)
        .map(|r| r.id.clone());
    let password = setup.password.clone();
    let mut app = Headless::start(setup, true, false)?;
    app.front.send(Command::Host {
        name: room_name,
        id,
        password,
    });
    let result = host_loop(&mut app).await;
    app.stop().await;
    result
}

async fn host_loop(app: &mut Headless) -> anyhow::Result<()> {
    let mut room: Option<RoomId> = None;
    let mut input = Input::new();
    let term = terminated();
    tokio::pin!(term);
    loop {
        tokio::select! {
            _ = &mut term => return Ok(()),
            // Lines wait until the room is open; at the end of input the host keeps going.
            line = input.next(), if room.is_some() => {
                if let (Some(line), Some(room)) = (line?, &room) {
                    match Line::of(line) {
                        Line::Rename(name) => app.front.send(Command::Settings(Change::Name(name))),
                        Line::Post(text) => {
                            let seq = new_post_seq();
                            app.front.send(Command::Send { room: room.clone(), seq, text });
                        }
                    }
                }
            }
            event = app.next() => match event? {
                Event::Hosting { room: id, name, port, locked } => {
                    emit(json!({"event": "hosting", "id": id, "name": name, "port": port,
                                "locked": locked, "fingerprint": app.fingerprint()}));
                    room = Some(id);
                }
                Event::HostFailed { name, error } => bail!("could not host {name}: {error}"),
                event => print_room_event(&event, room.as_ref(), &app.me),
            },
        }
    }
}

/// `lanchat send`: sends files (a folder: its files, named by their paths inside it) to a
/// room; exits once the host holds a verified copy of each.
pub async fn send(
    setup: Setup,
    wanted: String,
    paths: Vec<std::path::PathBuf>,
    addr: Option<String>,
    wait: Duration,
) -> anyhow::Result<()> {
    for path in &paths {
        std::fs::metadata(path).with_context(|| format!("cannot send {}", path.display()))?;
    }
    // As many files as the runtime will send for these paths.
    let listed = {
        let paths = paths.clone();
        tokio::task::spawn_blocking(move || crate::files::folder::expand(paths)).await?
    };
    if listed.files.is_empty() {
        bail!("nothing to send: the folders hold no file");
    }
    let mut app = Headless::start(setup, addr.is_none(), true)?;
    let result = send_loop(&mut app, &wanted, (paths, listed.files.len()), addr, wait).await;
    app.stop().await;
    result
}

/// Sends `paths`, which make `files` files, once in the room; returns once each is sent or
/// failed.
async fn send_loop(
    app: &mut Headless,
    wanted: &str,
    (paths, files): (Vec<std::path::PathBuf>, usize),
    addr: Option<String>,
    wait: Duration,
) -> anyhow::Result<()> {
    let mut room = start_join(app, wanted, addr, wait).await?;
    let mut to_send = Some(paths);
    let (mut finished, mut failed) = (0, 0);
    let term = terminated();
    tokio::pin!(term);
    while finished < files {
        let event = tokio::select! {
            _ = &mut term => bail!("interrupted"),
            event = app.next() => event?,
        };
        match event {
            Event::JoinFailed { error } => bail!("{error}"),
            Event::Joined { room: r, .. } if room.as_ref().is_none_or(|id| *id == r) => {
                // Once in: the files go (a rejoin does not send them again).
                if let Some(paths) = to_send.take() {
                    app.front.send(Command::SendFiles {
                        room: r.clone(),
                        paths,
                    });
                }
                room = Some(r);
            }
            Event::Session { room: r, state } if room.as_ref().is_none_or(|id| *id == r) => {
                app.session_state(&r, &state)?
            }
            Event::Transfer(t) if t.upload => match &t.state {
                TransferState::Running => emit(
                    json!({"event": "progress", "name": t.name, "sent": t.done, "size": t.size}),
                ),
                TransferState::Done { .. } => {
                    finished += 1;
                    emit(
                        json!({"event": "sent", "name": t.name, "size": t.size, "blake3": t.hash}),
                    );
                }
                TransferState::Failed(why) => {
                    finished += 1;
                    failed += 1;
                    eprintln!("lanchat: {} was not sent: {why}", t.name);
                }
                TransferState::Cancelled => {
                    finished += 1;
                    failed += 1;
                }
                TransferState::Preparing => {}
            },
            Event::Alert(text) => eprintln!("lanchat: {text}"),
            _ => {}
        }
    }
    if failed > 0 {
        bail!("{failed} of {files} file(s) were not sent");
    }
    Ok(())
}
