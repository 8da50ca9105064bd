//! The left panel: the "Host a room" button, the rooms we are in (with their unread counts,
//! listed while their host is away too), the other rooms on the network, and rooms to host
//! again.

use super::dialogs::Dialogs;
use super::state::{AppState, HostTrust, MyRoom, RoomRow};
use super::text;
use crate::discovery::AdKey;
use crate::protocol::{DeviceId, RoomId};
use egui::{RichText, ScrollArea};

/// Draws the room list; what is picked in it is opened once it is drawn.
pub fn show(ui: &mut egui::Ui, state: &mut AppState, dialogs: &mut Dialogs) {
    ui.add_space(8.0);
    host_and_join(ui, state, dialogs);
    ui.add_space(8.0);

    let mine = state.my_rooms();
    // A room claiming another key than the one we know stays listed below, with its warning.
    let rows: Vec<_> = state
        .room_rows()
        .into_iter()
        .filter(|r| !r.joined || r.trust == HostTrust::Different)
        .collect();
    let mut open = None;
    let mut show = None;
    let mut write_to = None;
    ScrollArea::vertical()
        .id_salt("room_list")
        .auto_shrink([false, true])
        .show(ui, |ui| {
            if !mine.is_empty() {
                show = your_rooms(ui, state, &mine);
            }
            if !state.directs.conversations.is_empty() {
                write_to = direct_messages(ui, state);
            }
            open = network_rooms(ui, state, &rows, mine.is_empty(), dialogs);
            hosted_before(ui, state);
        });
    if let Some(key) = open {
        state.open_room(&key);
    }
    if let Some(room) = show {
        state.show_room(&room);
    }
    if let Some(peer) = write_to {
        state.open_direct(&peer, None);
    }
}

/// "Host a room" and "Join by address…", over the whole width.
fn host_and_join(ui: &mut egui::Ui, state: &AppState, dialogs: &mut Dialogs) {
    if ui
        .add_sized(
            [ui.available_width(), 32.0],
            egui::Button::new(RichText::new("Host a room").strong()),
        )
        .on_hover_text("Open a new room that everyone on this network can join")
        .clicked()
    {
        dialogs.open_host(state.default_room_name());
    }
    if ui
        .add_sized(
            [ui.available_width(), 24.0],
            egui::Button::new("Join by address…"),
        )
        .on_hover_text("Join a room the list does not show, by its host's address and port")
        .clicked()
    {
        dialogs.open_join();
    }
}

/// The rooms we are in (`mine`); returns the one clicked.
fn your_rooms(ui: &mut egui::Ui, state: &AppState, mine: &[MyRoom]) -> Option<RoomId> {
    let mut show = None;
    ui.strong("Your rooms");
    ui.separator();
    for room in mine {
        let selected = state.open_direct.is_none() && state.open.as_ref() == Some(&room.id);
        if my_room(ui, room, selected) {
            show = Some(room.id.clone());
        }
    }
    ui.add_space(12.0);
    show
}

/// Our conversations; returns the one clicked.
fn direct_messages(ui: &mut egui::Ui, state: &AppState) -> Option<DeviceId> {
    let mut write_to = None;
    ui.strong("Direct messages");
    ui.separator();
    for (peer, conversation) in &state.directs.conversations {
        let selected = state.open_direct.as_ref() == Some(peer);
        let name = if conversation.name.is_empty() {
            "someone"
        } else {
            &conversation.name
        };
        if entry(ui, name, conversation.unread, false, selected) {
            write_to = Some(peer.clone());
        }
        ui.add_space(4.0);
    }
    ui.add_space(12.0);
    write_to
}

/// The other rooms on the network (`rows`), or what to do when there are none (`none_mine`:
/// nor any of ours); returns the one clicked.
fn network_rooms(
    ui: &mut egui::Ui,
    state: &AppState,
    rows: &[RoomRow],
    none_mine: bool,
    dialogs: &mut Dialogs,
) -> Option<AdKey> {
    let mut open = None;
    ui.strong(if none_mine {
        "Rooms on this network"
    } else {
        "Other rooms on this network"
    });
    ui.separator();
    if rows.is_empty() && none_mine {
        ui.label("No rooms on this network yet — host one.");
        ui.add_space(6.0);
        ui.label(
            RichText::new(
                "Rooms hosted elsewhere appear here by themselves. If one is missing, the \
                 network or a firewall may keep devices from seeing each other: ask its host \
                 for its address, and use Join by address.",
            )
            .small()
            .weak(),
        );
    } else if rows.is_empty() {
        ui.label(RichText::new("No other rooms right now.").weak());
    }
    if rows.is_empty() {
        ui.add_space(4.0);
        if ui
            .small_button("Rooms don't appear? Network diagnostics…")
            .on_hover_text("Which interfaces lanchat uses, whether mDNS works, and what to try")
            .clicked()
        {
            dialogs.open_network();
        }
    }
    for row in rows {
        if network_room(ui, state, row) {
            open = Some(row.key.clone());
        }
    }
    open
}

/// A room on the network: its name (locked, or with a warning about its host's key), who
/// hosts it and how many are in it. Returns whether it was clicked.
fn network_room(ui: &mut egui::Ui, state: &AppState, row: &RoomRow) -> bool {
    let different = row.trust == HostTrust::Different;
    let warned = different || row.trust == HostTrust::Lookalike;
    let selected = state.open.as_ref() == Some(&row.id) && !different;
    let lock = if row.locked { "🔒 " } else { "" };
    let warn = if warned { "⚠ " } else { "" };
    let who = if row.hosted_by_me {
        "you".to_owned()
    } else {
        text::name(&row.host).into_owned()
    };
    let people = if row.members == 1 {
        "1 member".to_owned()
    } else {
        format!("{} members", row.members)
    };
    let label = format!("{warn}{lock}{}", text::name(&row.name));
    let button = egui::Button::selectable(selected, label).truncate();
    let response = ui
        .add_enabled_ui(row.unjoinable.is_none(), |ui| {
            ui.add_sized([ui.available_width(), 24.0], button)
        })
        .inner;
    let response = match &row.unjoinable {
        Some(why) => response.on_disabled_hover_text(why),
        None => response
            .on_hover_text(trust_hint(row))
            .on_hover_cursor(egui::CursorIcon::PointingHand),
    };
    let mut about = format!("hosted by {who} · {people}");
    match row.trust {
        HostTrust::Known => about.push_str(" · ✔ known host"),
        HostTrust::Different => about.push_str(" · ⚠ different key"),
        HostTrust::Lookalike => about.push_str(" · ⚠ not the room you joined"),
        HostTrust::Mine | HostTrust::New => {}
    }
    let about = RichText::new(about).small();
    let about = if warned {
        about.color(ui.visuals().warn_fg_color)
    } else {
        about.weak()
    };
    ui.add(egui::Label::new(about).truncate());
    ui.add_space(4.0);
    response.clicked()
}

/// What a room's button says about its host's key when the pointer rests on it.
fn trust_hint(row: &RoomRow) -> String {
    let key = row.fingerprint.as_deref().unwrap_or("not advertised");
    match row.trust {
        HostTrust::Mine => format!("Your room. Your fingerprint: {key}"),
        HostTrust::Known => format!("The host you joined before (fingerprint {key})"),
        HostTrust::New => format!(
            "Host fingerprint {key}: compare it with the host's before you share anything private"
        ),
        HostTrust::Different => format!(
            "Not the host this room had: it claims fingerprint {key}. It may be another machine pretending to be the room."
        ),
        HostTrust::Lookalike => format!(
            "Not the {} you joined before: another room with the same name (host fingerprint {key}). It may be another machine pretending to be it.",
            text::name(&row.name)
        ),
    }
}

/// Rooms we hosted and could host again, with their history.
fn hosted_before(ui: &mut egui::Ui, state: &mut AppState) {
    let again: Vec<_> = state.rooms.rehostable().cloned().collect();
    if !again.is_empty() {
        ui.add_space(12.0);
        ui.strong("Rooms you hosted");
        ui.separator();
        for room in again {
            ui.horizontal(|ui| {
                ui.label(text::name(&room.name));
                if ui
                    .small_button("Host again")
                    .on_hover_text("Reopen this room with its history")
                    .clicked()
                {
                    state.rehost(&room);
                }
            });
        }
    }
}

/// A conversation's row: its name, selectable, and its unread count (marked when we were
/// mentioned). Returns whether it was clicked.
fn entry(ui: &mut egui::Ui, name: &str, unread: usize, mentioned: bool, selected: bool) -> bool {
    let badge = match (unread, mentioned) {
        (0, _) => None,
        (n, true) => Some((format!("@ {n}"), format!("{n} unread; you were mentioned"))),
        (n, false) => Some((n.to_string(), format!("{n} unread"))),
    };
    ui.horizontal(|ui| {
        let badge_width = if badge.is_some() { 40.0 } else { 0.0 };
        let name = RichText::new(text::name(name));
        let name = if unread > 0 { name.strong() } else { name };
        // A long name is cut short: the list keeps its width.
        let clicked = ui
            .add_sized(
                [ui.available_width() - badge_width, 24.0],
                egui::Button::selectable(selected, name).truncate(),
            )
            .on_hover_cursor(egui::CursorIcon::PointingHand)
            .clicked();
        if let Some((count, hint)) = &badge {
            let color = if mentioned {
                ui.visuals().warn_fg_color
            } else {
                ui.visuals().hyperlink_color
            };
            ui.label(RichText::new(count).strong().color(color))
                .on_hover_text(hint);
        }
        clicked
    })
    .inner
}

/// A room we are in: its name, unread count (marked when we were mentioned) and, while we
/// are not in it, why. Returns whether it was clicked.
fn my_room(ui: &mut egui::Ui, room: &MyRoom, selected: bool) -> bool {
    let clicked = entry(ui, &room.name, room.unread, room.mentioned, selected);
    let who = if room.hosted_by_me {
        "hosted by you".to_owned()
    } else {
        format!("hosted by {}", text::name(&room.host))
    };
    let about = match &room.away {
        Some(why) => RichText::new(format!("{who} · {why}"))
            .small()
            .color(ui.visuals().warn_fg_color),
        None => RichText::new(who).small().weak(),
    };
    ui.add(egui::Label::new(about).truncate());
    ui.add_space(4.0);
    clicked
}
