//! The left panel: the "Host a room" button, the rooms we are in (with their unread counts,
//! listed while their host is away too), the other rooms on the network, and rooms to host
//! again.

use super::dialogs::Dialogs;
use super::state::{AppState, HostTrust, MyRoom};
use super::text;
use egui::{RichText, ScrollArea};

pub fn show(ui: &mut egui::Ui, state: &mut AppState, dialogs: &mut Dialogs) {
    ui.add_space(8.0);
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
    ScrollArea::vertical().id_salt("room_list").auto_shrink([false, true]).show(ui, |ui| {
        if !mine.is_empty() {
            ui.strong("Your rooms");
            ui.separator();
            for room in &mine {
                if my_room(ui, room, state.open_direct.is_none() && state.open.as_ref() == Some(&room.id)) {
                    show = Some(room.id.clone());
                }
            }
            ui.add_space(12.0);
        }
        if !state.directs.conversations.is_empty() {
            ui.strong("Direct messages");
            ui.separator();
            for (peer, conversation) in &state.directs.conversations {
                let selected = state.open_direct.as_ref() == Some(peer);
                let name = if conversation.name.is_empty() { "someone" } else { &conversation.name };
                if entry(ui, name, conversation.unread, false, selected) {
                    write_to = Some(peer.clone());
                }
                ui.add_space(4.0);
            }
            ui.add_space(12.0);
        }
        ui.strong(if mine.is_empty() { "Rooms on this network" } else { "Other rooms on this network" });
        ui.separator();
        if rows.is_empty() && mine.is_empty() {
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
        for row in &rows {
            let different = row.trust == HostTrust::Different;
            let warned = different || row.trust == HostTrust::Lookalike;
            let selected = state.open.as_ref() == Some(&row.id) && !different;
            let lock = if row.locked { "🔒 " } else { "" };
            let warn = if warned { "⚠ " } else { "" };
            let who = if row.hosted_by_me { "you".to_owned() } else { text::name(&row.host).into_owned() };
            let people = if row.members == 1 { "1 member".to_owned() } else { format!("{} members", row.members) };
            let label = format!("{warn}{lock}{}", text::name(&row.name));
            let button = egui::Button::selectable(selected, label);
            let response = ui
                .add_enabled_ui(row.unjoinable.is_none(), |ui| ui.add_sized([ui.available_width(), 24.0], button))
                .inner;
            let key = row.fingerprint.as_deref().unwrap_or("not advertised");
            let hint = match row.trust {
                HostTrust::Mine => format!("Your room. Your fingerprint: {key}"),
                HostTrust::Known => format!("The host you joined before (fingerprint {key})"),
                HostTrust::New => format!("Host fingerprint {key}: compare it with the host's before you share anything private"),
                HostTrust::Different => format!(
                    "Not the host this room had: it claims fingerprint {key}. It may be another machine pretending to be the room."
                ),
                HostTrust::Lookalike => format!(
                    "Not the {} you joined before: another room with the same name (host fingerprint {key}). It may be another machine pretending to be it.",
                    text::name(&row.name)
                ),
            };
            let response = match &row.unjoinable {
                Some(why) => response.on_disabled_hover_text(why),
                None => response.on_hover_text(hint),
            };
            let mut about = format!("hosted by {who} · {people}");
            match row.trust {
                HostTrust::Known => about.push_str(" · ✔ known host"),
                HostTrust::Different => about.push_str(" · ⚠ different key"),
                HostTrust::Lookalike => about.push_str(" · ⚠ not the room you joined"),
                HostTrust::Mine | HostTrust::New => {}
            }
            let about = RichText::new(about).small();
            ui.label(if warned { about.color(ui.visuals().warn_fg_color) } else { about.weak() });
            ui.add_space(4.0);
            if response.clicked() {
                open = Some(row.key.clone());
            }
        }

        let again: Vec<_> = state.rooms.rehostable().cloned().collect();
        if !again.is_empty() {
            ui.add_space(12.0);
            ui.strong("Rooms you hosted");
            ui.separator();
            for room in again {
                ui.horizontal(|ui| {
                    ui.label(text::name(&room.name));
                    if ui.small_button("Host again").on_hover_text("Reopen this room with its history").clicked() {
                        state.rehost(&room);
                    }
                });
            }
        }
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
        let clicked = ui
            .add_sized(
                [ui.available_width() - badge_width, 24.0],
                egui::Button::selectable(selected, name),
            )
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
    match &room.away {
        Some(why) => ui.label(
            RichText::new(format!("{who} · {why}"))
                .small()
                .color(ui.visuals().warn_fg_color),
        ),
        None => ui.label(RichText::new(who).small().weak()),
    };
    ui.add_space(4.0);
    clicked
}
