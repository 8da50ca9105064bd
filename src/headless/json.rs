//! The JSON lines printed on stdout (one object per line, each with an `"event"` key), and
//! the problems said on stderr.

use crate::bridge::{Event, NetStatus};
use crate::discovery::RoomAd;
use crate::protocol::{ChatMessage, DeviceId, Member, RoomId};
use crate::store::Direct;
use serde_json::json;

pub(super) fn emit(value: serde_json::Value) {
    println!("{value}");
}

pub(super) fn room_json(ad: &RoomAd) -> serde_json::Value {
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
pub(super) fn fingerprints(members: &[Member]) -> serde_json::Value {
    members
        .iter()
        .map(|m| json!({"name": m.name, "fingerprint": m.device.fingerprint(), "host": m.host}))
        .collect()
}

pub(super) fn message_json(m: &ChatMessage) -> serde_json::Value {
    let mut value = json!({"event": "message", "from": m.from, "text": m.text, "id": m.id,
                           "ts": m.ts, "fingerprint": m.device.fingerprint()});
    if let Some(file) = &m.file {
        value["file"] = json!({"name": file.name, "size": file.size, "blake3": file.hash});
    }
    value
}

/// Says the network side's problem on stderr; when it is that no interface is in use, how to
/// choose one.
pub(super) fn warn_problem(status: &NetStatus) {
    if let Some(problem) = &status.problem {
        if status.report.trouble().as_ref() == Some(problem) {
            eprintln!("lanchat: {problem} (choose an interface with --interface NAME)");
        } else {
            eprintln!("lanchat: {problem}");
        }
    }
}

/// Prints what happens in a room: members coming and going, messages, problems.
pub(super) fn print_room_event(event: &Event, room: Option<&RoomId>, me: &DeviceId) {
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
        Event::Missed {
            room: r, messages, ..
        } if Some(r) == room => messages.iter().for_each(|m| emit(message_json(m))),
        Event::Rejected { reason, .. } => eprintln!("lanchat: a message was not sent: {reason}"),
        Event::Network(status) => warn_problem(status),
        Event::Alert(text) => eprintln!("lanchat: {text}"),
        _ => {}
    }
}

/// A direct message to us.
pub(super) fn direct_json(d: &Direct) -> serde_json::Value {
    let mut direct = json!({"event": "direct", "from": d.peer_name, "text": d.text,
                "id": d.seq, "ts": d.ts, "fingerprint": d.peer.fingerprint()});
    // The name the sender gave itself, where its key has another here.
    if let Some(claimed) = &d.claimed {
        direct["claimed"] = json!(claimed);
    }
    direct
}
