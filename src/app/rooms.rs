//! The left panel: rooms on the network, the "Host a room" button, and rooms to host again.

use super::dialogs::Dialogs;
use super::state::AppState;
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
    ui.add_space(8.0);
    ui.strong("Rooms on this network");
    ui.separator();

    let rows = state.room_rows();
    let mut open = None;
    ScrollArea::vertical().id_salt("room_list").auto_shrink([false, true]).show(ui, |ui| {
        if rows.is_empty() {
            ui.label("No rooms on this network yet — host one.");
            ui.add_space(6.0);
            ui.label(
                RichText::new(
                    "Rooms hosted elsewhere appear here by themselves. If one is missing, a firewall \
                     may be blocking mDNS (UDP port 5353), or the network (often guest Wi-Fi) may \
                     keep devices from seeing each other.",
                )
                .small()
                .weak(),
            );
        }
        for row in &rows {
            let selected = state.open.as_ref() == Some(&row.id);
            let lock = if row.locked { "🔒 " } else { "" };
            let who = if row.hosted_by_me { "you".to_owned() } else { row.host.clone() };
            let people = if row.members == 1 { "1 member".to_owned() } else { format!("{} members", row.members) };
            let button = egui::Button::selectable(selected, format!("{lock}{}", row.name));
            let response = ui
                .add_enabled_ui(row.unjoinable.is_none(), |ui| ui.add_sized([ui.available_width(), 24.0], button))
                .inner;
            let response = match &row.unjoinable {
                Some(why) => response.on_disabled_hover_text(why),
                None => response.on_hover_text(if row.joined { "Open this room" } else { "Join this room" }),
            };
            let mut about = format!("hosted by {who} · {people}");
            if row.joined {
                about.push_str(" · joined");
            }
            ui.label(RichText::new(about).small().weak());
            ui.add_space(4.0);
            if response.clicked() {
                open = Some(row.id.clone());
            }
        }

        let again: Vec<_> = state.rehostable().cloned().collect();
        if !again.is_empty() {
            ui.add_space(12.0);
            ui.strong("Your rooms");
            ui.separator();
            for room in again {
                ui.horizontal(|ui| {
                    ui.label(&room.name);
                    if ui.small_button("Host again").on_hover_text("Reopen this room with its history").clicked() {
                        state.rehost(&room);
                    }
                });
            }
        }
    });
    if let Some(id) = open {
        state.open_room(&id);
    }
}
