//! `lanchat join`: finding the room (by name or id, with discovery, or at an address), then
//! printing what happens in it and sending stdin's lines to it.

use super::input::{Input, Line};
use super::json::{emit, fingerprints, message_json, print_room_event};
use super::{Headless, Setup, terminated};
use crate::bridge::{Command, Event, SessionState, TransferState};
use crate::discovery::{AdKey, RoomAd};
use crate::net::trust::KnownHosts;
use crate::protocol::{DeviceId, FileHash, Member, RoomId, new_post_seq};
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
                            app.front.send(Command::SetName(name));
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
