//! Above and beside the messages: the room's menu, its state, its host, and who is in it.

use crate::app::state::{AppState, Chat};
use crate::app::text;
use crate::bridge::SessionState;
use crate::protocol::{DeviceId, RoomId};
use crate::store::{Alerts, Change};
use egui::{Align, Layout, RichText, ScrollArea};

/// What the user asked for in the header and the member list, done once the room is drawn.
pub(super) struct Asked {
    /// Whether we host the room: "Close room" then, not "Leave".
    hosting: bool,
    /// Leave the room (or close it, when we host it).
    leave: bool,
    /// The member to write to privately, with their name.
    pub(super) write_to: Option<(DeviceId, String)>,
    /// What the room may notify about, before the menu was drawn…
    alerts_before: Alerts,
    /// …and as the menu says now.
    alerts: Alerts,
    /// Whether the room's files save themselves, before the menu was drawn…
    auto_save_before: bool,
    /// …and as the menu says now.
    auto_save: bool,
}

impl Asked {
    /// Nothing asked yet; the room's settings as they are.
    pub(super) fn new(state: &AppState, room: &RoomId) -> Self {
        let alerts = state.preferences.alerts_of(room);
        let auto_save = !state.preferences.no_auto_save.contains(room);
        Asked {
            hosting: state.rooms.hosting.contains_key(room),
            leave: false,
            write_to: None,
            alerts_before: alerts,
            alerts,
            auto_save_before: auto_save,
            auto_save,
        }
    }

    /// Does what was asked: a changed setting is kept, a conversation opened, the room left.
    pub(super) fn apply(self, state: &mut AppState, room: &RoomId) {
        if self.alerts != self.alerts_before {
            let change = Change::Alerts {
                room: room.clone(),
                alerts: self.alerts,
            };
            state.preferences.change(change, &mut state.outbox);
        }
        if self.auto_save != self.auto_save_before {
            let change = Change::RoomAutoSave {
                room: room.clone(),
                on: self.auto_save,
            };
            state.preferences.change(change, &mut state.outbox);
        }
        if let Some((peer, name)) = self.write_to {
            state.open_direct(&peer, Some(&name));
        }
        if self.leave {
            state.leave_or_ask(room);
        }
    }
}

/// The room's header: its name and host, its state, its menu and the Leave button; in a
/// `narrow` window also the member list, as a menu.
pub(super) fn header(
    ui: &mut egui::Ui,
    state: &AppState,
    chat: &Chat,
    narrow: bool,
    asked: &mut Asked,
) {
    // The controls are placed first, from the right; the room's name takes what is
    // left and is cut short with "…" rather than drawn under them.
    ui.horizontal(|ui| {
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            let label = if asked.hosting { "Close room" } else { "Leave" };
            let hint = if asked.hosting {
                "Close this room for everyone"
            } else {
                "Leave this room"
            };
            asked.leave = ui.button(label).on_hover_text(hint).clicked();
            let limit = state.preferences.auto_save;
            room_menu(ui, &mut asked.alerts, &mut asked.auto_save, limit);
            if narrow {
                ui.menu_button(format!("👥 {}", chat.members.len()), |ui| {
                    asked.write_to = asked.write_to.take().or(members(ui, chat, &state.me));
                })
                .response
                .on_hover_text("Who is in the room");
            }
            state_badge(ui, chat);
            if chat.catching_up {
                ui.label(RichText::new("catching up…").weak())
                    .on_hover_text(
                        "Messages came faster than they were shown; the rest are being read back",
                    );
            }
            // A gap, so that a name cut short does not run into the state.
            ui.add_space(12.0);
            ui.with_layout(Layout::left_to_right(Align::Center), |ui| {
                let name = text::name(&chat.room_name);
                ui.add(egui::Label::new(RichText::new(name.as_ref()).heading()).truncate());
                if !narrow {
                    host_line(ui, chat);
                }
            });
        });
    });
    if narrow {
        ui.horizontal(|ui| host_line(ui, chat));
    }
}

/// The room's own settings: what it may notify about, and whether its files save
/// themselves. The bell on the button says the first at a glance.
fn room_menu(ui: &mut egui::Ui, alerts: &mut Alerts, auto_save: &mut bool, limit: u64) {
    let (bell, now) = match alerts {
        Alerts::All => ("🔔", "every message"),
        Alerts::Mentions => ("🔔 @", "mentions only"),
        Alerts::Nothing => ("🔕", "nothing"),
    };
    ui.menu_button(bell, |ui| {
        ui.label(RichText::new("Notify me of").strong());
        for (choice, words) in [
            (Alerts::All, "Every message"),
            (Alerts::Mentions, "Only messages that mention me"),
            (Alerts::Nothing, "Nothing"),
        ] {
            if ui.radio_value(alerts, choice, words).clicked() {
                ui.close();
            }
        }
        ui.separator();
        ui.checkbox(
            auto_save,
            format!(
                "Save files shared here by themselves (up to {})",
                crate::bridge::human_size(limit)
            ),
        )
        .on_hover_text("Otherwise each file waits for its Download button");
    })
    .response
    .on_hover_text("Notifications and files for this room")
    // Read out by its purpose, not as "bell".
    .widget_info(|| {
        let name = format!("Room notifications and files (now: {now})");
        egui::WidgetInfo::labeled(egui::Role::Button, true, name)
    });
}

/// "hosted by Ada 🔑 K7QF-…": the host's name and its key's fingerprint, to compare.
fn host_line(ui: &mut egui::Ui, chat: &Chat) {
    let host = format!("hosted by {}", text::name(&chat.host_name));
    let host = ui.add(egui::Label::new(RichText::new(host).weak()).truncate());
    if let Some(fp) = &chat.host_fingerprint {
        let hint = "The fingerprint of the host's key: compare it with the one the host sees at the top of their window";
        host.on_hover_text(hint);
        let text = RichText::new(format!("🔑 {fp}")).small().monospace().weak();
        crate::app::look::fingerprint(ui, text, fp, hint);
    }
}

/// Where we stand with the room (joining, connected, waiting, …), with why on hover.
fn state_badge(ui: &mut egui::Ui, chat: &Chat) {
    let state = &chat.state;
    let (text, color) = match state {
        // Named like a room joined before: not joined until the user says so.
        _ if chat.lookalike => ("⚠ not joined", ui.visuals().warn_fg_color),
        SessionState::Connecting => ("joining…", ui.visuals().weak_text_color()),
        SessionState::Connected => ("• connected", crate::app::look::connected(ui.visuals())),
        SessionState::Waiting(_) => ("• waiting for the host", ui.visuals().warn_fg_color),
        SessionState::Failed(_) => ("✖ cannot join", ui.visuals().error_fg_color),
        SessionState::KeyChanged { .. } => ("⚠ host key changed", ui.visuals().error_fg_color),
        SessionState::NeedsPassword(_) => ("🔒 password needed", ui.visuals().warn_fg_color),
        SessionState::Left => ("left", ui.visuals().weak_text_color()),
    };
    let badge = ui.label(RichText::new(text).color(color));
    if let Some(why) = state.why() {
        badge.on_hover_text(why);
    }
}

/// Who is in the room. "(you)" and "(host)" follow from the keys we know (ours, and the one
/// the host proved), not from what anyone says. Returns the member the user chose to write
/// to privately, if any.
pub(super) fn members(ui: &mut egui::Ui, chat: &Chat, me: &DeviceId) -> Option<(DeviceId, String)> {
    let mut write_to = None;
    ui.add_space(4.0);
    ui.strong(format!("In the room ({})", chat.members.len()));
    ui.separator();
    let alike = text::look_alikes(&chat.members);
    ScrollArea::vertical()
        .id_salt("member_list")
        .show(ui, |ui| {
            for m in &chat.members {
                let host = chat.host_device.as_ref() == Some(&m.device);
                let me = &m.device == me;
                let fingerprint = m.device.fingerprint().unwrap_or_else(|| "unknown".into());
                let confusable = alike.confusable.contains(&m.id);
                let mut label = String::new();
                if confusable {
                    label.push_str("⚠ ");
                }
                label.push_str(&text::name(&m.name));
                // Two members of one name, or look-alike names, are told apart by their keys.
                if confusable || alike.same_name.contains(&m.id) {
                    label.push_str(&format!(" · {}", &fingerprint[..4]));
                }
                if host {
                    label.push_str("  (host)");
                }
                if me {
                    label.push_str("  (you)");
                }
                if m.away {
                    label.push_str(" · away");
                }
                let text = RichText::new(label);
                let text = if me { text.strong() } else { text };
                let text = if confusable { text.color(ui.visuals().warn_fg_color) } else { text };
                let mut hint = format!("Fingerprint {fingerprint}");
                if confusable {
                    hint.push_str(
                        "\nThis name looks like another member's: compare fingerprints to know who is who.",
                    );
                } else if !me {
                    hint.push_str("\nCompare it with theirs aloud to be sure who this is.");
                }
                ui.horizontal(|ui| {
                    let shown = ui.label(text).on_hover_text(hint);
                    crate::app::look::copy_menu(&shown, &fingerprint);
                    if !me
                        && m.key.is_some()
                        && ui
                            .small_button("✉")
                            .on_hover_text(format!(
                                "Write to {} privately",
                                text::name(&m.name)
                            ))
                            .clicked()
                    {
                        write_to = Some((m.device.clone(), m.name.clone()));
                    }
                });
            }
            if !chat.gone.is_empty() {
                ui.add_space(6.0);
                for m in chat.gone.iter().rev() {
                    ui.label(RichText::new(format!("{} · gone", text::name(&m.name))).weak());
                }
            }
        });
    write_to
}
