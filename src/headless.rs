//! The runtime without a window: `rooms`, `host` and `join` print one JSON object per line on
//! stdout, each with an `"event"` key, and read chat lines from stdin. Errors go to stderr and
//! give a non-zero exit status. Like the window, this is only a front end: everything on the
//! network is done by the runtime, through the bridge.

use crate::bridge::{self, Command, Event, FrontEnd, SessionState, TransferState};
use crate::discovery::{AdKey, DiscoveryConfig, RoomAd};
use crate::net::identity::Identity;
use crate::net::limits::Limits;
use crate::net::link::Timeouts;
use crate::net::trust::KnownHosts;
use crate::protocol::{ChatMessage, DeviceId, FileHash, Member, RoomId, check_name, new_post_seq};
use crate::runtime::{self, RuntimeOptions};
use crate::store::{Change, Paths, Settings};
use anyhow::{Context, bail};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
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
struct Headless {
    front: FrontEnd,
    /// Whether files shared in the room are downloaded (`--downloads`).
    receives: bool,
    /// Our device, to leave our own joins and leaves unprinted.
    me: DeviceId,
    /// The room's password, if given.
    password: Option<String>,
    /// Whether a changed host key is trusted without asking.
    accept_new_key: bool,
    /// The data dir's pinned host keys, to pick the room we know among look-alikes.
    known: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
    /// Keeps the messages printed in order, once, when output fell behind.
    order: InOrder,
}

/// Live messages held per room while its missed ones are read back: more are not held (they
/// are read back too).
const HELD: usize = 1000;

/// Puts a room's messages back in order when this front end fell behind (its output was not
/// read): the ones the runtime stopped queueing are read back from the database a page at a
/// time, live ones that come meanwhile wait, and nothing is printed twice.
#[derive(Default)]
struct InOrder {
    /// The newest message passed on, per room.
    last: std::collections::HashMap<RoomId, u64>,
    /// Rooms being caught up on.
    behind: std::collections::HashMap<RoomId, CatchingUp>,
    /// Events ready to be acted on, in order.
    ready: std::collections::VecDeque<Event>,
}

/// One room being caught up on.
#[derive(Default)]
struct CatchingUp {
    /// Its events that came meanwhile (live messages, the end of its history).
    held: Vec<Event>,
    /// Fell behind again, or held too much: read on to the end once more.
    again: bool,
}

impl InOrder {
    /// Takes one event from the runtime; what can be acted on goes to `ready`, a request to
    /// catch up is returned.
    fn sort(&mut self, event: Event) -> Option<Command> {
        match event {
            Event::Message { ref room, .. } | Event::HistoryDone { ref room }
                if self.behind.contains_key(room) =>
            {
                let catching = self.behind.get_mut(room).expect("checked");
                let held = catching
                    .held
                    .iter()
                    .filter(|e| matches!(e, Event::Message { .. }))
                    .count();
                if matches!(event, Event::Message { .. }) && held >= HELD {
                    // Too many: they are read back instead.
                    catching
                        .held
                        .retain(|e| !matches!(e, Event::Message { .. }));
                    catching.again = true;
                } else {
                    catching.held.push(event);
                }
            }
            Event::Message {
                ref room,
                ref message,
                ..
            } => {
                if self.last.get(room).is_some_and(|&last| message.id <= last) {
                    return None; // read back and printed already
                }
                self.last.insert(room.clone(), message.id);
                self.ready.push_back(event);
            }
            Event::HistoryReset { ref room } => {
                self.last.remove(room);
                if let Some(catching) = self.behind.get_mut(room) {
                    catching.held.clear();
                    catching.again = true;
                }
                self.ready.push_back(event);
            }
            Event::Behind { room } => {
                if let Some(catching) = self.behind.get_mut(&room) {
                    catching.again = true;
                    return None;
                }
                self.behind.insert(room.clone(), CatchingUp::default());
                let after = self.last.get(&room).copied();
                return Some(Command::CatchUp { room, after });
            }
            Event::CaughtUp {
                room,
                messages,
                more,
            } => {
                let catching = self.behind.remove(&room)?;
                for message in messages {
                    let room = room.clone();
                    self.sort(Event::Message {
                        room,
                        message,
                        live: false,
                    });
                }
                if more || catching.again {
                    let catching = CatchingUp {
                        held: catching.held,
                        again: false,
                    };
                    self.behind.insert(room.clone(), catching);
                    let after = self.last.get(&room).copied();
                    return Some(Command::CatchUp { room, after });
                }
                for event in catching.held {
                    self.sort(event);
                }
            }
            other => self.ready.push_back(other),
        }
        None
    }
}

fn emit(value: serde_json::Value) {
    println!("{value}");
}

impl Headless {
    /// `passing`: the rooms are only passed through (see [`RuntimeOptions::passing`]).
    fn start(setup: Setup, discovery: bool, passing: bool) -> anyhow::Result<Headless> {
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
        };
        let task = tokio::spawn(runtime::run(back, options));
        Ok(Headless {
            front,
            receives,
            me,
            password: setup.password,
            accept_new_key: setup.accept_new_key,
            known,
            task,
            order: InOrder::default(),
        })
    }

    /// This device's fingerprint.
    fn fingerprint(&self) -> String {
        self.me.fingerprint().unwrap_or_default()
    }

    /// Acts on how a joined room's session stands: a changed host key is trusted only with
    /// `--accept-new-key`; a password problem or a hopeless failure ends the command.
    fn session_state(&self, room: &RoomId, state: &SessionState) -> anyhow::Result<()> {
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

    /// The next event to act on, messages in order (see [`InOrder`]).
    async fn next(&mut self) -> anyhow::Result<Event> {
        loop {
            if let Some(event) = self.order.ready.pop_front() {
                return Ok(event);
            }
            let event = self
                .front
                .events
                .recv()
                .await
                .context("the runtime stopped")?;
            if let Some(catch_up) = self.order.sort(event) {
                self.front.send(catch_up);
            }
        }
    }

    /// Asks the runtime to say its goodbyes, and waits until it has.
    async fn stop(mut self) {
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
        "fingerprint": ad.fingerprint,
        "addrs": ips,
        "port": ad.addrs.first().map(|a| a.port()),
    })
}

/// Each member's name and fingerprint.
fn fingerprints(members: &[Member]) -> serde_json::Value {
    members
        .iter()
        .map(|m| json!({"name": m.name, "fingerprint": m.device.fingerprint(), "host": m.host}))
        .collect()
}

/// `lanchat whoami`: this profile's name, device id and fingerprint.
pub fn whoami(setup: Setup) {
    emit(json!({
        "event": "whoami",
        "name": setup.name.unwrap_or_else(|| setup.settings.display_name()),
        "device": setup.identity.device(),
        "fingerprint": setup.identity.fingerprint(),
    }));
}

fn message_json(m: &ChatMessage) -> serde_json::Value {
    let mut value = json!({"event": "message", "from": m.from, "text": m.text, "id": m.id,
                           "ts": m.ts, "fingerprint": m.device.fingerprint()});
    if let Some(file) = &m.file {
        value["file"] = json!({"name": file.name, "size": file.size, "blake3": file.hash});
    }
    value
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

/// Says the network side's problem on stderr; when it is that no interface is in use, how to
/// choose one.
fn warn_problem(status: &crate::bridge::NetStatus) {
    if let Some(problem) = &status.problem {
        if status.report.trouble().as_ref() == Some(problem) {
            eprintln!("lanchat: {problem} (choose an interface with --interface NAME)");
        } else {
            eprintln!("lanchat: {problem}");
        }
    }
}

/// Resolves when the command is asked to stop: Ctrl+C or SIGTERM on Unix; Ctrl+C, Ctrl+Break,
/// the console window closing, or the system shutting down on Windows.
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

/// Chat lines from stdin: `Ok(None)` at its end; a read error ends the command.
struct Input {
    /// `None` once stdin has ended.
    lines: Option<tokio::io::Lines<BufReader<tokio::io::Stdin>>>,
}

/// What a line of stdin asks for.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// `/name NICK`: to be called NICK from now on (for this run, with `--name`).
    Rename(String),
    /// Anything else: a message.
    Post(String),
}

impl Line {
    fn of(line: String) -> Line {
        match line.strip_prefix("/name ").map(str::trim) {
            Some(name) if !name.is_empty() => Line::Rename(name.to_owned()),
            _ => Line::Post(line),
        }
    }
}

impl Input {
    fn new() -> Self {
        Input {
            lines: Some(BufReader::new(tokio::io::stdin()).lines()),
        }
    }

    fn open(&self) -> bool {
        self.lines.is_some()
    }

    /// The next non-blank line; pends forever once stdin has ended.
    async fn next(&mut self) -> anyhow::Result<Option<String>> {
        let Some(lines) = &mut self.lines else {
            return std::future::pending().await;
        };
        loop {
            match lines.next_line().await.context("reading stdin")? {
                Some(line) if line.trim().is_empty() => continue,
                Some(line) => return Ok(Some(line)),
                None => {
                    self.lines = None;
                    return Ok(None);
                }
            }
        }
    }
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

/// Prints what happens in a room: members coming and going, messages, problems.
fn print_room_event(event: &Event, room: Option<&RoomId>, me: &DeviceId) {
    match event {
        Event::MemberJoined { room: r, member } if Some(r) == room && &member.device != me => {
            emit(
                json!({"event": "joined", "name": member.name, "fingerprint": member.device.fingerprint()}),
            );
        }
        Event::MemberLeft { room: r, member } if Some(r) == room && &member.device != me => {
            emit(json!({"event": "left", "name": member.name}));
        }
        Event::MemberRenamed { room: r, member } if Some(r) == room => {
            emit(json!({"event": "renamed", "name": member.name}));
        }
        Event::Message {
            room: r, message, ..
        } if Some(r) == room => emit(message_json(message)),
        Event::Rejected { reason, .. } => eprintln!("lanchat: a message was not sent: {reason}"),
        Event::Network(status) => warn_problem(status),
        Event::Alert(text) => eprintln!("lanchat: {text}"),
        _ => {}
    }
}

/// Finds a room by name or id with discovery, within `wait`. Of adverts claiming one room
/// id, the one with the host key pinned for it wins; one that contradicts the pin is taken
/// only if nothing else shows up (the join then stops at the key check).
async fn find_room(app: &mut Headless, wanted: &str, wait: Duration) -> anyhow::Result<RoomAd> {
    let known = app.known.clone();
    let (pins, _) = tokio::task::spawn_blocking(move || KnownHosts::load(known)).await?;
    let deadline = Instant::now() + wait;
    let mut seen: BTreeMap<AdKey, RoomAd> = BTreeMap::new();
    loop {
        let by_id: Vec<&RoomAd> = seen
            .values()
            .filter(|ad| ad.id.as_str() == wanted)
            .collect();
        let matching: Vec<&RoomAd> = if by_id.is_empty() {
            seen.values().filter(|ad| ad.name == wanted).collect()
        } else {
            by_id
        };
        let ids: BTreeSet<&str> = matching.iter().map(|ad| ad.id.as_str()).collect();
        if ids.len() > 1 {
            bail!(
                "several rooms are named {wanted:?}; join one by id: {}",
                ids.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        let expired = Instant::now() >= deadline;
        if let Some(first) = matching.first() {
            match pins.pin(&first.id) {
                Some(pin) => {
                    let fingerprint = Some(pin.key.fingerprint());
                    if let Some(ad) = matching.iter().find(|ad| ad.fingerprint == fingerprint) {
                        return Ok((*ad).clone());
                    }
                    if expired {
                        return Ok((*first).clone());
                    }
                }
                None if matching.len() == 1 => return Ok((*first).clone()),
                None => {
                    let fingerprints: Vec<&str> = matching
                        .iter()
                        .map(|ad| ad.fingerprint.as_deref().unwrap_or("none"))
                        .collect();
                    bail!(
                        "several hosts claim to be room {} (fingerprints {}); one may be pretending — ask the host which fingerprint is theirs",
                        first.id,
                        fingerprints.join(", ")
                    );
                }
            }
        } else if expired {
            bail!(
                "no room named {wanted:?} found on the network within {}s; check that the host is on this network, or use --addr HOST:PORT",
                wait.as_secs()
            );
        }
        let Ok(event) = tokio::time::timeout_at(deadline, app.next()).await else {
            continue; // the deadline: decide with what was seen
        };
        match event? {
            Event::RoomFound(ad) => {
                seen.insert(ad.key(), ad);
            }
            Event::RoomLost(key) => {
                seen.remove(&key);
            }
            _ => {}
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
    to: Option<String>,
) -> anyhow::Result<()> {
    let mut app = Headless::start(setup, addr.is_none(), false)?;
    let result = join_loop(&mut app, &wanted, addr, wait, to).await;
    app.stop().await;
    result
}

/// Asks the runtime to join the room, by address or by discovery; returns its id when
/// known now (found by discovery) or `None` (by address: the welcome will tell).
async fn start_join(
    app: &mut Headless,
    wanted: &str,
    addr: Option<String>,
    wait: Duration,
) -> anyhow::Result<Option<RoomId>> {
    match addr {
        Some(addr) => {
            app.front.send(Command::JoinAddress {
                addr,
                expect: Some(wanted.to_owned()),
                password: app.password.clone(),
                trust_new_key: app.accept_new_key,
            });
            Ok(None)
        }
        None => {
            let ad = find_room(app, wanted, wait).await?;
            app.front.send(Command::Join {
                room: ad.id.clone(),
                addrs: ad.addrs,
                password: app.password.clone(),
            });
            Ok(Some(ad.id))
        }
    }
}

async fn join_loop(
    app: &mut Headless,
    wanted: &str,
    addr: Option<String>,
    wait: Duration,
    to: Option<String>,
) -> anyhow::Result<()> {
    // The room: known now when found by discovery, at the welcome when joined by address.
    let mut room = start_join(app, wanted, addr, wait).await?;
    let mut input = Input::new();
    // Our posts the host has not answered: their numbers, with their line numbers.
    let mut lines = 0usize;
    let mut unconfirmed: BTreeMap<u64, usize> = BTreeMap::new();
    let mut refused = 0usize;
    // Who is in the room, for `--to`: lines wait until the member named is.
    let mut members: Vec<Member> = Vec::new();
    let recipient = |members: &[Member], me: &DeviceId| -> Option<Member> {
        let name = to.as_deref()?;
        members
            .iter()
            .find(|m| m.name == name && &m.device != me)
            .cloned()
    };
    // Downloads under way: the session keeps the end of stdin from ending the command.
    let mut receiving: BTreeSet<FileHash> = BTreeSet::new();
    let receive = app.receives;
    // The end of stdin ends the command only once we are in and have the history (and so
    // know every file to receive).
    let mut caught_up = false;
    let term = terminated();
    tokio::pin!(term);
    loop {
        // Done: the runtime's shutdown says goodbye, and the profile keeps its record of
        // the room (what was seen, anything unsent) for the next run.
        if !input.open() && unconfirmed.is_empty() && caught_up && receiving.is_empty() {
            if refused > 0 {
                bail!("{refused} line(s) were refused by the room");
            }
            return Ok(());
        }
        tokio::select! {
            _ = &mut term => return Ok(()),
            // Lines wait until we are in; the session keeps them until the host confirms.
            line = input.next(), if room.is_some() && (to.is_none() || recipient(&members, &app.me).is_some()) => {
                if let (Some(line), Some(room)) = (line?, &room) {
                    let text = match Line::of(line) {
                        Line::Rename(name) => {
                            app.front.send(Command::Settings(Change::Name(name)));
                            continue;
                        }
                        Line::Post(text) => text,
                    };
                    let seq = new_post_seq();
                    lines += 1;
                    unconfirmed.insert(seq, lines);
                    match recipient(&members, &app.me) {
                        Some(member) => app.front.send(Command::SendDirect { room: room.clone(), to: member, seq, text }),
                        None => app.front.send(Command::Send { room: room.clone(), seq, text }),
                    }
                }
            }
            event = app.next() => {
                let event = event?;
                match &event {
                    Event::JoinFailed { error } => bail!("{error}"),
                    Event::Joined { room: r, room_name, host_name, members: members_now, host_key, .. } if room.as_ref().is_none_or(|id| id == r) => {
                        room = Some(r.clone());
                        members = members_now.clone();
                        caught_up = false; // until its history is all here
                        let names: Vec<&str> = members_now.iter().map(|m| m.name.as_str()).collect();
                        let mine = members_now.iter().find(|m| m.device == app.me).map(|m| m.name.as_str());
                        emit(json!({"event": "joined", "name": mine, "room": room_name, "id": r,
                                    "host": host_name, "members": names,
                                    "host_fingerprint": host_key.fingerprint(),
                                    "fingerprint": app.fingerprint(),
                                    "member_fingerprints": fingerprints(members_now)}));
                    }
                    Event::Message { room: r, message, .. } if Some(r) == room.as_ref() => {
                        emit(message_json(message));
                        if let (true, Some(file)) = (receive, &message.file) {
                            receiving.insert(file.hash.clone());
                            app.front.send(Command::Download { room: r.clone(), file: file.clone() });
                        }
                    }
                    Event::Transfer(t) if !t.upload && Some(&t.room) == room.as_ref() => {
                        let finished = !matches!(t.state, TransferState::Preparing | TransferState::Running);
                        if let (true, Some(hash)) = (finished, &t.hash) {
                            receiving.remove(hash);
                        }
                        match &t.state {
                            TransferState::Done { path: Some(path), .. } => {
                                emit(json!({"event": "file", "name": t.name, "path": path, "size": t.size, "blake3": t.hash}));
                            }
                            TransferState::Failed(why) => eprintln!("lanchat: {} was not received: {why}", t.name),
                            _ => {}
                        }
                    }
                    Event::HistoryDone { room: r } if Some(r) == room.as_ref() => caught_up = true,
                    Event::MemberJoined { room: r, member } if Some(r) == room.as_ref() => {
                        members.push(member.clone());
                        print_room_event(&event, room.as_ref(), &app.me);
                    }
                    Event::MemberLeft { room: r, member } if Some(r) == room.as_ref() => {
                        members.retain(|m| m.id != member.id);
                        print_room_event(&event, room.as_ref(), &app.me);
                    }
                    Event::Direct(d) if !d.outgoing => {
                        let mut direct = json!({"event": "direct", "from": d.peer_name, "text": d.text,
                                    "id": d.seq, "ts": d.ts, "fingerprint": d.peer.fingerprint()});
                        // The name the sender gave itself, where its key has another here.
                        if let Some(claimed) = &d.claimed {
                            direct["claimed"] = json!(claimed);
                        }
                        emit(direct);
                    }
                    Event::DirectSent { seq, .. } => {
                        unconfirmed.remove(seq);
                    }
                    Event::DirectFailed { seq, reason, .. } => {
                        let line = unconfirmed.remove(seq).unwrap_or_default();
                        eprintln!("lanchat: line {line} was not delivered: {reason}");
                        refused += 1;
                    }
                    // A line of an earlier run, not yet answered: sent again now.
                    Event::Pending { room: r, seq, .. } if room.as_ref().is_none_or(|id| id == r) => {
                        unconfirmed.insert(*seq, 0);
                    }
                    Event::Accepted { room: r, seq, .. } if Some(r) == room.as_ref() => {
                        unconfirmed.remove(seq);
                    }
                    Event::Rejected { room: r, seq, reason } if Some(r) == room.as_ref() => {
                        let line = unconfirmed.remove(seq).unwrap_or_default();
                        eprintln!("lanchat: line {line} was not sent: {reason}");
                        refused += 1;
                    }
                    // Joining by address, the room is known at its welcome: whatever stops
                    // the session before (a changed key, a password) is its.
                    Event::Session { room: r, state } if room.as_ref().is_none_or(|id| id == r) => {
                        app.session_state(r, state)?;
                        if let SessionState::Waiting(why) = state {
                            emit(json!({"event": "status", "state": "waiting", "detail": why.to_string()}));
                        }
                    }
                    other => print_room_event(other, room.as_ref(), &app.me),
                }
            }
        }
    }
}

/// `lanchat send`: sends files to a room; exits once the host holds a verified copy of each.
pub async fn send(
    setup: Setup,
    wanted: String,
    paths: Vec<std::path::PathBuf>,
    addr: Option<String>,
    wait: Duration,
) -> anyhow::Result<()> {
    for path in &paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot send {}", path.display()))?;
        if !meta.is_file() {
            bail!("cannot send {}: not a file", path.display());
        }
    }
    let mut app = Headless::start(setup, addr.is_none(), true)?;
    let result = send_loop(&mut app, &wanted, paths, addr, wait).await;
    app.stop().await;
    result
}

async fn send_loop(
    app: &mut Headless,
    wanted: &str,
    paths: Vec<std::path::PathBuf>,
    addr: Option<String>,
    wait: Duration,
) -> anyhow::Result<()> {
    let mut room = start_join(app, wanted, addr, wait).await?;
    let mut to_send = Some(paths.clone());
    let (mut finished, mut failed) = (0, 0);
    let term = terminated();
    tokio::pin!(term);
    while finished < paths.len() {
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
        bail!("{failed} of {} file(s) were not sent", paths.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_line_renames_and_every_other_line_is_a_message() {
        assert_eq!(
            Line::of("/name  Ada B ".into()),
            Line::Rename("Ada B".into())
        );
        for post in [
            "/name",
            "/name   ",
            "/names are fun",
            "hello /name x",
            " /name x",
        ] {
            assert_eq!(Line::of(post.into()), Line::Post(post.into()), "{post:?}");
        }
    }

    fn message(room: &RoomId, id: u64) -> Event {
        Event::Message {
            room: room.clone(),
            message: ChatMessage {
                id,
                ts: 0,
                from: "Bob".into(),
                device: DeviceId::parse("bob").unwrap(),
                text: format!("m{id}"),
                file: None,
            },
            live: true,
        }
    }

    fn stored(ids: std::ops::RangeInclusive<u64>) -> Vec<ChatMessage> {
        let room = RoomId::parse("r").unwrap();
        ids.map(|id| match message(&room, id) {
            Event::Message { message, .. } => message,
            _ => unreachable!(),
        })
        .collect()
    }

    #[test]
    fn output_that_fell_behind_prints_every_message_once_in_order() {
        let room = RoomId::parse("r").unwrap();
        let mut order = InOrder::default();
        let mut asked = Vec::new();
        let mut feed = |order: &mut InOrder, event| {
            if let Some(Command::CatchUp { after, .. }) = order.sort(event) {
                asked.push(after);
            }
        };
        feed(&mut order, message(&room, 1));
        feed(&mut order, Event::Behind { room: room.clone() });
        // Live ones while the page is read, some of them in it too; the history's end.
        feed(&mut order, message(&room, 4));
        feed(&mut order, message(&room, 5));
        feed(&mut order, Event::HistoryDone { room: room.clone() });
        feed(
            &mut order,
            Event::CaughtUp {
                room: room.clone(),
                messages: stored(2..=3),
                more: true,
            },
        );
        feed(
            &mut order,
            Event::CaughtUp {
                room: room.clone(),
                messages: stored(4..=4),
                more: false,
            },
        );
        feed(&mut order, message(&room, 6));
        assert_eq!(asked, vec![Some(1), Some(3)]);
        let mut ids = Vec::new();
        let mut done_after = None;
        for event in order.ready.drain(..) {
            match event {
                Event::Message { message, .. } => ids.push(message.id),
                Event::HistoryDone { .. } => done_after = ids.last().copied(),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(
            done_after,
            Some(5),
            "the history's end stays after its messages"
        );
    }

    #[test]
    fn the_history_end_is_kept_however_many_live_messages_were_held() {
        let room = RoomId::parse("r").unwrap();
        let mut order = InOrder::default();
        order.sort(message(&room, 1));
        assert!(order.sort(Event::Behind { room: room.clone() }).is_some());
        for id in 2..(HELD as u64 + 50) {
            order.sort(message(&room, id));
        }
        order.sort(Event::HistoryDone { room: room.clone() });
        // Too many were held: they are read back (one page here), then the end comes.
        let last = HELD as u64 + 49;
        let again = order.sort(Event::CaughtUp {
            room: room.clone(),
            messages: stored(2..=last),
            more: false,
        });
        assert!(again.is_some(), "asked again after dropping held messages");
        let done = order.sort(Event::CaughtUp {
            room: room.clone(),
            messages: Vec::new(),
            more: false,
        });
        assert!(done.is_none());
        let events: Vec<Event> = order.ready.drain(..).collect();
        assert_eq!(events.len(), last as usize + 1);
        assert!(matches!(events.last(), Some(Event::HistoryDone { .. })));
    }
}
