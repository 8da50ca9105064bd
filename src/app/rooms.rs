//! The left panel: rooms on the network, the "Host a room" button, and rooms to host again.

use super::dialogs::Dialogs;
use super::state::{AppState, HostTrust};
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
            let different = row.trust == HostTrust::Different;
            let selected = state.open.as_ref() == Some(&row.id) && !different;
            let lock = if row.locked { "🔒 " } else { "" };
            let warn = if different { "⚠ " } else { "" };
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
            };
            let response = match &row.unjoinable {
                Some(why) => response.on_disabled_hover_text(why),
                None => response.on_hover_text(hint),
            };
            let mut about = format!("hosted by {who} · {people}");
            match row.trust {
                HostTrust::Known => about.push_str(" · ✔ known host"),
                HostTrust::Different => about.push_str(" · ⚠ different key"),
                HostTrust::Mine | HostTrust::New => {}
            }
            if row.joined && !different {
                about.push_str(" · joined");
            }
            let about = RichText::new(about).small();
            ui.label(if different { about.color(ui.visuals().warn_fg_color) } else { about.weak() });
            ui.add_space(4.0);
            if response.clicked() {
                open = Some(row.key.clone());
            }
        }

        let again: Vec<_> = state.rehostable().cloned().collect();
        if !again.is_empty() {
            ui.add_space(12.0);
            ui.strong("Your rooms");
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
}
