//! The runtime without a window: `rooms`, `host` and `join` print one JSON object per line on
//! stdout, each with an `"event"` key, and read chat lines from stdin. Errors go to stderr and
//! give a non-zero exit status.

use crate::bridge::{self, Command, Event, FrontEnd, SessionState};
use crate::discovery::{DiscoveryConfig, RoomAd};
use crate::net::session::ask_who;
use crate::protocol::{ChatMessage, DeviceId, RoomId};
use crate::runtime::{self, RuntimeOptions};
use crate::store::{Paths, Settings};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

/// What every headless command starts from.
pub struct Setup {
    pub paths: Paths,
    pub settings: Settings,
    /// Interfaces picked with `--interface`.
    pub interfaces: Vec<String>,
    /// `--name`: a display name for this run only.
    pub name: Option<String>,
}

/// A failure that ends a headless command with a message on stderr.
pub type Failure = anyhow::Error;

fn emit(value: serde_json::Value) {
    println!("{value}");
}

fn start(setup: Setup, discovery: bool) -> (FrontEnd, DeviceId, tokio::task::JoinHandle<()>) {
    let (front, back) = bridge::channel();
    let mut settings = setup.settings;
    if let Some(name) = setup.name {
        settings.name = Some(name);
    }
    let device = settings.device.clone();
    let options = RuntimeOptions {
        paths: setup.paths,
        settings,
        discovery: discovery.then_some(DiscoveryConfig {
            interfaces: setup.interfaces,
        }),
    };
    let task = tokio::spawn(runtime::run(back, options));
    (front, device, task)
}

/// Asks the runtime to stop and waits for it.
async fn stop(mut front: FrontEnd, task: tokio::task::JoinHandle<()>) {
    front.send(Command::Shutdown);
    let drain = async { while front.events.recv().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs(8), async {
        drain.await;
        let _ = task.await;
    })
    .await;
}

fn room_json(ad: &RoomAd) -> serde_json::Value {
    let mut ips: Vec<String> = ad.addrs.iter().map(|a| a.ip().to_string()).collect();
    ips.dedup();
    json!({
        "event": "room",
        "id": ad.id,
        "name": ad.name,
        "host": ad.host,
        "members": ad.members,
        "locked": ad.locked,
        "addrs": ips,
        "port": ad.addrs.first().map(SocketAddr::port),
    })
}

fn message_json(m: &ChatMessage) -> serde_json::Value {
    json!({"event": "message", "from": m.from, "text": m.text, "id": m.id, "ts": m.ts})
}

/// `lanchat rooms`: lists the rooms found within `wait`.
pub async fn rooms(setup: Setup, wait: Duration) -> Result<(), Failure> {
    let (mut front, _, task) = start(setup, true);
    let mut rooms: BTreeMap<RoomId, RoomAd> = BTreeMap::new();
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            event = front.events.recv() => match event {
                Some(Event::RoomFound(ad)) => { rooms.insert(ad.id.clone(), ad); }
                Some(Event::RoomLost(id)) => { rooms.remove(&id); }
                Some(Event::Network(status)) => {
                    if let Some(problem) = status.problem { eprintln!("lanchat: {problem}"); }
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    for ad in rooms.values() {
        emit(room_json(ad));
    }
    stop(front, task).await;
    Ok(())
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Stdin lines as a stream that ends at end of input.
fn stdin_lines() -> tokio::io::Lines<BufReader<tokio::io::Stdin>> {
    BufReader::new(tokio::io::stdin()).lines()
}

/// `lanchat host`: hosts a room (the same one, with its history, if this data dir hosted a
/// room of that name before) until SIGINT or SIGTERM.
pub async fn host(setup: Setup, room_name: String) -> Result<(), Failure> {
    let id = setup
        .settings
        .hosted_named(&room_name)
        .map(|r| r.id.clone());
    let (mut front, me, task) = start(setup, true);
    front.send(Command::Host {
        name: room_name,
        id,
    });
    let mut room: Option<RoomId> = None;
    let mut stdin = Some(stdin_lines());
    let mut seq = 0u64;
    let term = terminated();
    tokio::pin!(term);
    let result = loop {
        tokio::select! {
            _ = &mut term => break Ok(()),
            line = async { stdin.as_mut()?.next_line().await.ok().flatten() }, if stdin.is_some() => {
                match (line, &room) {
                    (None, _) => stdin = None, // a host keeps running without input
                    (Some(text), Some(room)) if !text.trim().is_empty() => {
                        seq += 1;
                        front.send(Command::Send { room: room.clone(), seq, text });
                    }
                    (Some(_), _) => {}
                }
            }
            event = front.events.recv() => match event {
                None => break Err(anyhow::anyhow!("the runtime stopped")),
                Some(Event::Hosting { room: id, name, port }) => {
                    emit(json!({"event": "hosting", "id": id, "name": name, "port": port}));
                    room = Some(id);
                }
                Some(Event::HostFailed { name, error }) => {
                    break Err(anyhow::anyhow!("could not host {name}: {error}"));
                }
                Some(event) => print_room_event(&event, room.as_ref(), &me),
            },
        }
    };
    stop(front, task).await;
    result
}

/// Prints what happens in a room: members coming and going, messages, refusals.
fn print_room_event(event: &Event, room: Option<&RoomId>, me: &DeviceId) {
    match event {
        Event::MemberJoined { room: r, member } if Some(r) == room && &member.device != me => {
            emit(json!({"event": "joined", "name": member.name}));
        }
        Event::MemberLeft { room: r, member } if Some(r) == room && &member.device != me => {
            emit(json!({"event": "left", "name": member.name}));
        }
        Event::Message { room: r, message } if Some(r) == room => emit(message_json(message)),
        Event::Rejected { reason, .. } => eprintln!("lanchat: a message was not sent: {reason}"),
        Event::Network(status) => {
            if let Some(problem) = &status.problem {
                eprintln!("lanchat: {problem}");
            }
        }
        _ => {}
    }
}

/// Finds a room by name or id with discovery, within `wait`.
async fn find_room(front: &mut FrontEnd, wanted: &str, wait: Duration) -> Result<RoomAd, Failure> {
    let deadline = Instant::now() + wait;
    let mut seen: BTreeMap<RoomId, RoomAd> = BTreeMap::new();
    loop {
        let matching: Vec<&RoomAd> = seen
            .values()
            .filter(|ad| ad.id.as_str() == wanted || ad.name == wanted)
            .collect();
        if let Some(by_id) = matching.iter().find(|ad| ad.id.as_str() == wanted) {
            return Ok((*by_id).clone());
        }
        match matching.as_slice() {
            [one] => return Ok((*one).clone()),
            [] => {}
            many => {
                let ids: Vec<&str> = many.iter().map(|ad| ad.id.as_str()).collect();
                anyhow::bail!(
                    "several rooms are named {wanted:?}; join one by id: {}",
                    ids.join(", ")
                );
            }
        }
        match tokio::time::timeout_at(deadline, front.events.recv()).await {
            Err(_) | Ok(None) => anyhow::bail!(
                "no room named {wanted:?} found on the network within {}s; check that the host is on this network, or use --addr HOST:PORT",
                wait.as_secs()
            ),
            Ok(Some(Event::RoomFound(ad))) => {
                seen.insert(ad.id.clone(), ad);
            }
            Ok(Some(Event::RoomLost(id))) => {
                seen.remove(&id);
            }
            Ok(Some(_)) => {}
        }
    }
}

/// `lanchat join`: joins a room, prints its history and new messages, and sends stdin lines;
/// at the end of stdin, exits once the host has accepted every line.
pub async fn join(
    setup: Setup,
    wanted: String,
    addr: Option<String>,
    wait: Duration,
) -> Result<(), Failure> {
    let (mut front, me, task) = start(setup, addr.is_none());
    let result = join_inner(&mut front, &me, &wanted, addr, wait).await;
    stop(front, task).await;
    result
}

async fn join_inner(
    front: &mut FrontEnd,
    me: &DeviceId,
    wanted: &str,
    addr: Option<String>,
    wait: Duration,
) -> Result<(), Failure> {
    let (room, addrs) = match addr {
        Some(addr) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot resolve {addr}: {e}"))?
                .collect();
            let about = ask_who(&addrs)
                .await
                .map_err(|e| anyhow::anyhow!("no room at {addr}: {e}"))?;
            if about.room.as_str() != wanted && about.room_name != wanted {
                anyhow::bail!(
                    "{addr} runs the room {:?} ({}), not {wanted:?}",
                    about.room_name,
                    about.room
                );
            }
            (about.room, addrs)
        }
        None => {
            let ad = find_room(front, wanted, wait).await?;
            (ad.id, ad.addrs)
        }
    };
    front.send(Command::Join {
        room: room.clone(),
        addrs,
    });

    let mut stdin = Some(stdin_lines());
    let mut seq = 0u64;
    let mut unconfirmed: BTreeSet<u64> = BTreeSet::new();
    let mut refused = 0usize;
    let mut shown: Option<u64> = None;
    let term = terminated();
    tokio::pin!(term);
    loop {
        if stdin.is_none() && unconfirmed.is_empty() {
            front.send(Command::Leave(room.clone()));
            if refused > 0 {
                anyhow::bail!("{refused} line(s) were refused by the room");
            }
            return Ok(());
        }
        tokio::select! {
            _ = &mut term => return Ok(()),
            line = async { stdin.as_mut()?.next_line().await.ok().flatten() }, if stdin.is_some() => {
                match line {
                    None => stdin = None,
                    Some(text) if text.trim().is_empty() => {}
                    Some(text) => {
                        seq += 1;
                        unconfirmed.insert(seq);
                        front.send(Command::Send { room: room.clone(), seq, text });
                    }
                }
            }
            event = front.events.recv() => {
                let Some(event) = event else { anyhow::bail!("the runtime stopped") };
                match &event {
                    Event::Joined { room: r, room_name, host_name, members, .. } if *r == room => {
                        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
                        let mine = members.iter().find(|m| &m.device == me).map(|m| m.name.as_str());
                        emit(json!({"event": "joined", "name": mine, "room": room_name, "id": r,
                                    "host": host_name, "members": names}));
                    }
                    Event::Message { room: r, message } if *r == room => {
                        // A rejoin replays nothing already shown, but be sure.
                        if shown.is_none_or(|s| message.id > s) {
                            shown = Some(message.id);
                            emit(message_json(message));
                        }
                    }
                    Event::Accepted { room: r, seq, .. } if *r == room => {
                        unconfirmed.remove(seq);
                    }
                    Event::Rejected { room: r, seq, reason } if *r == room => {
                        eprintln!("lanchat: line {seq} was not sent: {reason}");
                        unconfirmed.remove(seq);
                        refused += 1;
                    }
                    Event::Session { room: r, state } if *r == room => match state {
                        SessionState::Failed(why) => anyhow::bail!("{why}"),
                        SessionState::Waiting(why) => {
                            emit(json!({"event": "status", "state": "waiting", "detail": why}));
                        }
                        _ => {}
                    },
                    other => print_room_event(other, Some(&room), me),
                }
            }
        }
    }
}
