//! Asks before sending people out of rooms we host (closing one, or quitting), and says
//! what a warned list entry of a room we are in is.

use super::AppState;
use crate::app::state::Ask;
use crate::app::text;
use crate::protocol::RoomId;
use egui::{Modal, RichText};

/// Asks before sending people out of rooms we host (closing one, or quitting), or says
/// what a warned list entry is.
pub(super) fn ask_dialog(ctx: &egui::Context, state: &mut AppState, ask: &Ask) {
    let modal = Modal::new(egui::Id::unique("ask_dialog")).show(ctx, |ui| {
        ui.set_width(400.0);
        match ask {
            Ask::CloseRoom(room) => close_room(ui, state, room),
            Ask::OtherKey {
                room,
                room_name,
                host,
                fingerprint,
                ours,
            } => other_key(ui, state, (room, room_name, host, fingerprint), *ours),
            Ask::Quit { people } => quit(ui, state, *people),
        }
    });
    if modal.should_close() {
        state.asking = None;
    }
}

/// "Close room" on a room we host with people in it.
fn close_room(ui: &mut egui::Ui, state: &mut AppState, room: &RoomId) {
    let name = state
        .rooms
        .hosting
        .get(room)
        .map(|(name, ..)| text::name(name).into_owned())
        .unwrap_or_default();
    let people = state.guests(Some(room));
    ui.heading(format!("Close {name}?"));
    ui.label(format!(
        "{} in it. Closing the room sends everyone out; you can open it again later, \
             with its history.",
        people_are(people)
    ));
    ui.add_space(8.0);
    ui.horizontal(|ui| {
        if ui.button("Close the room").clicked() {
            state.asking = None;
            state.leave(room);
        }
        if ui.button("Keep it open").clicked() {
            state.asking = None;
        }
    });
}

/// A ⚠ entry of a room we are in (or host), advertised by a machine with another key.
fn other_key(
    ui: &mut egui::Ui,
    state: &mut AppState,
    (room, room_name, host, fingerprint): (&RoomId, &str, &str, &str),
    ours: bool,
) {
    let room_name = text::name(room_name);
    ui.heading(format!("⚠ Another machine presents {room_name}"));
    let whose = if ours {
        "your room".to_owned()
    } else {
        format!("{room_name}, which you are in")
    };
    ui.label(format!(
        "A machine calling its host {} advertises {whose}, but with another key \
             than the room's host. It may be pretending to be the room. lanchat sends \
             it nothing: members who joined before are warned and stay with the host \
             they know.",
        text::name(host)
    ));
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.label("Its fingerprint:");
        ui.label(RichText::new(fingerprint).monospace().strong());
    });
    ui.add_space(8.0);
    // The machine the user stayed out of may be the host, moved: trusted only
    // here, on purpose, after comparing.
    let stayed_out = state
        .chats
        .get(room)
        .and_then(|c| c.stayed_out)
        .filter(|key| key.fingerprint() == fingerprint);
    ui.horizontal(|ui| {
        if ui.button("OK").clicked() {
            state.asking = None;
        }
        if let Some(key) = stayed_out
            && ui
                .button("Trust this key instead")
                .on_hover_text("Only if the host read you this fingerprint")
                .clicked()
        {
            state.asking = None;
            state.trust_new_key(room, key);
        }
    });
}

/// Quitting while people are in rooms we host.
fn quit(ui: &mut egui::Ui, state: &mut AppState, people: usize) {
    ui.heading("Quit lanchat?");
    ui.label(format!(
        "{} in your rooms. If lanchat quits, your rooms close for them.",
        people_are(people)
    ));
    ui.add_space(8.0);
    ui.vertical(|ui| {
        if ui
            .button("Keep hosting in the background")
            .on_hover_text(
                "The window goes away (to the tray, where there is one); your rooms stay open",
            )
            .clicked()
        {
            state.asking = None;
            state.to_background = true;
        }
        if ui.button("Close my rooms and quit").clicked() {
            state.asking = None;
            state.quitting = true;
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if ui.button("Cancel").clicked() {
            state.asking = None;
        }
    });
}

/// "1 person is", "3 people are".
fn people_are(n: usize) -> String {
    if n == 1 {
        "1 person is".to_owned()
    } else {
        format!("{n} people are")
    }
}
