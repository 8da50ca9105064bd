//! `lanchat join`: finding the room (by name or id, with discovery, or at an address), then
//! printing what happens in it and sending stdin's lines to it.

use super::input::{Input, Line};
use super::json::{direct_json, emit, fingerprints, message_json, print_room_event};
use super::saving::Receiving;
use super::{Headless, Setup, terminated};
use crate::bridge::{Command, Event, Rejection, SessionState, Transfer, TransferState, words};
use crate::discovery::{AdKey, RoomAd};
use crate::net::trust::KnownHosts;
use crate::protocol::{ChatMessage, DeviceId, Member, RoomId, new_post_seq};
use crate::store::Change;
use anyhow::bail;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

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
pub(super) async fn start_join(
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

/// Joins, then prints the room and sends stdin's lines until done (see [`Joining::end`]) or
/// interrupted.
async fn join_loop(
    app: &mut Headless,
    wanted: &str,
    addr: Option<String>,
    wait: Duration,
    to: Option<String>,
) -> anyhow::Result<()> {
    let room = start_join(app, wanted, addr, wait).await?;
    let mut joining = Joining::new(room, to);
    let mut input = Input::new();
    let term = terminated();
    tokio::pin!(term);
    loop {
        if let Some(end) = joining.end(&input) {
            return end;
        }
        tokio::select! {
            _ = &mut term => return Ok(()),
            // Lines wait until we are in; the session keeps them until the host confirms.
            line = input.next(), if joining.takes_lines(&app.me) => {
                if let Some(line) = line? {
                    joining.line(app, line);
                }
            }
            event = app.next() => joining.event(app, event?)?,
        }
    }
}

/// What `lanchat join` keeps track of while it runs.
struct Joining {
    /// The room: known now when found by discovery, at the welcome when joined by address.
    room: Option<RoomId>,
    /// `--to`: the member (by name) every line goes to directly.
    to: Option<String>,
    /// Lines sent so far, to number them in what is said about one.
    lines: usize,
    /// Our posts the host has not answered: their numbers, with their line numbers.
    unconfirmed: BTreeMap<u64, usize>,
    /// Lines the room refused: the command then ends in failure.
    refused: usize,
    /// Who is in the room, for `--to`: lines wait until the member named is.
    members: Vec<Member>,
    /// The files still coming (with `--downloads`, the runtime saves each one shared).
    saving: Receiving,
    /// The end of stdin ends the command only once we are in and have the history (and so
    /// know every file to receive).
    caught_up: bool,
}

impl Joining {
    fn new(room: Option<RoomId>, to: Option<String>) -> Self {
        Joining {
            room,
            to,
            lines: 0,
            unconfirmed: BTreeMap::new(),
            refused: 0,
            members: Vec::new(),
            saving: Receiving::default(),
            caught_up: false,
        }
    }

    /// How the command ends, once it is done: the runtime's shutdown says goodbye, and the
    /// profile keeps its record of the room (what was seen, anything unsent) for the next run.
    fn end(&self, input: &Input) -> Option<anyhow::Result<()>> {
        if input.open() || !self.unconfirmed.is_empty() || !self.caught_up || !self.saving.idle() {
            return None;
        }
        if self.refused > 0 {
            return Some(Err(anyhow::anyhow!(
                "{} line(s) were refused by the room",
                self.refused
            )));
        }
        Some(Ok(()))
    }

    /// Whether a line read now can go: we are in, and the member it is for (`--to`) too.
    fn takes_lines(&self, me: &DeviceId) -> bool {
        self.room.is_some() && (self.to.is_none() || self.recipient(me).is_some())
    }

    /// The member named with `--to`, if in the room (never ourselves).
    fn recipient(&self, me: &DeviceId) -> Option<Member> {
        let name = self.to.as_deref()?;
        self.members
            .iter()
            .find(|m| m.name == name && &m.device != me)
            .cloned()
    }

    /// Sends one line of stdin: a rename, or a message to the room or to `--to`.
    fn line(&mut self, app: &Headless, line: String) {
        let Some(room) = &self.room else { return };
        let text = match Line::of(line) {
            Line::Rename(name) => return app.front.send(Command::Settings(Change::Name(name))),
            Line::Post(text) => text,
        };
        let seq = new_post_seq();
        self.lines += 1;
        self.unconfirmed.insert(seq, self.lines);
        let room = room.clone();
        match self.recipient(&app.me) {
            Some(to) => app.front.send(Command::SendDirect {
                room,
                to,
                seq,
                text,
            }),
            None => app.front.send(Command::Send { room, seq, text }),
        }
    }

    /// Whether an event is about our room (or, joining by address before the welcome, may be).
    fn maybe_ours(&self, room: &RoomId) -> bool {
        self.room.as_ref().is_none_or(|id| id == room)
    }

    /// A message of our room: printed (with `--downloads`, the runtime is saving its file).
    fn message(&self, message: &ChatMessage) {
        emit(message_json(message));
    }

    /// Whether an event is about our room.
    fn ours(&self, room: &RoomId) -> bool {
        self.room.as_ref() == Some(room)
    }

    /// Acts on one event: prints it, keeps track, and ends the command on a hopeless one.
    fn event(&mut self, app: &Headless, event: Event) -> anyhow::Result<()> {
        match &event {
            Event::JoinFailed { error } => bail!("{error}"),
            Event::Joined { room: r, .. } if self.maybe_ours(r) => self.joined(app, &event),
            Event::Message {
                room: r, message, ..
            } if self.ours(r) => self.message(message),
            Event::Missed {
                room: r, messages, ..
            } if self.ours(r) => {
                for message in messages {
                    self.message(message);
                }
            }
            Event::Transfer(t) if !t.upload && self.ours(&t.room) => self.download(t),
            Event::HistoryDone { room: r } if self.ours(r) => self.caught_up = true,
            Event::MemberJoined { room: r, member } if self.ours(r) => {
                self.members.push(member.clone());
                print_room_event(&event, self.room.as_ref(), &app.me);
            }
            Event::MemberLeft { room: r, member } if self.ours(r) => {
                self.members.retain(|m| m.id != member.id);
                print_room_event(&event, self.room.as_ref(), &app.me);
            }
            Event::Direct(d) if !d.outgoing => emit(direct_json(d)),
            Event::DirectSent { seq, .. } => {
                self.unconfirmed.remove(seq);
            }
            Event::DirectFailed { seq, reason, .. } => self.refused(*seq, "delivered", reason),
            // A line of an earlier run, not yet answered: sent again now.
            Event::Pending { room: r, seq, .. } if self.maybe_ours(r) => {
                self.unconfirmed.insert(*seq, 0);
            }
            Event::Accepted { room: r, seq, .. } if self.ours(r) => {
                self.unconfirmed.remove(seq);
            }
            Event::Rejected {
                room: r,
                seq,
                reason,
            } if self.ours(r) => self.refused(*seq, "sent", reason),
            // Joining by address, the room is known at its welcome: whatever stops the
            // session before (a changed key, a password) is its.
            Event::Session { room: r, state } if self.maybe_ours(r) => {
                app.session_state(r, state)?;
                if let SessionState::Waiting(why) = state {
                    let reason = words::waiting_name(why);
                    emit(
                        json!({"event": "status", "state": "waiting", "reason": reason,
                                "detail": why.to_string()}),
                    );
                }
            }
            other => print_room_event(other, self.room.as_ref(), &app.me),
        }
        Ok(())
    }

    /// We are in (again): who is here, and the history is on its way.
    fn joined(&mut self, app: &Headless, event: &Event) {
        let Event::Joined {
            room,
            room_name,
            host_name,
            members,
            host_key,
            ..
        } = event
        else {
            return;
        };
        self.room = Some(room.clone());
        self.members = members.clone();
        self.caught_up = false; // until its history is all here
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        let mine = members
            .iter()
            .find(|m| m.device == app.me)
            .map(|m| m.name.as_str());
        emit(
            json!({"event": "joined", "name": mine, "room": room_name, "id": room,
                    "host": host_name, "members": names,
                    "host_fingerprint": host_key.fingerprint(),
                    "fingerprint": app.fingerprint(),
                    "member_fingerprints": fingerprints(members)}),
        );
    }

    /// A download's progress: a file saved is printed, one that failed said.
    fn download(&mut self, t: &Transfer) {
        self.saving.transfer(t);
        match &t.state {
            TransferState::Done {
                path: Some(path), ..
            } => {
                emit(
                    json!({"event": "file", "name": t.name, "path": path, "size": t.size, "blake3": t.hash}),
                );
            }
            TransferState::Failed(why) => eprintln!("lanchat: {} was not received: {why}", t.name),
            _ => {}
        }
    }

    /// A line the room did not take (`what`: "sent", or "delivered" for a direct one).
    fn refused(&mut self, seq: u64, what: &str, reason: &Rejection) {
        let line = self.unconfirmed.remove(&seq).unwrap_or_default();
        eprintln!("lanchat: line {line} was not {what}: {reason}");
        self.refused += 1;
    }
}
