//! A direct-message conversation: the messages with one other person, sealed between your
//! two devices, and a composer.

use super::state::{AppState, PeerKey, clock};
use super::text;
use crate::protocol::DeviceId;
use crate::store::Sent;
use egui::{Key, RichText, ScrollArea};

/// Drawing state of the conversation view.
#[derive(Default)]
pub struct DirectView {
    /// Text being written, per conversation.
    drafts: std::collections::HashMap<DeviceId, String>,
}

impl DirectView {
    pub fn show(&mut self, ui: &mut egui::Ui, state: &mut AppState, peer: &DeviceId) {
        let Some(conversation) = state.directs.conversations.get(peer) else {
            return;
        };
        let name = text::name(&conversation.name).into_owned();
        let reachable = state.reach(peer).is_some();
        let mut close = false;
        // Mark verified (`true`) or accept a changed key (`false`), once drawn.
        let mut accept = None;
        let key = state.peer_key(peer);
        let known_as = state.known_as(peer);
        // A key is taken from a room we share with them now (or a pin): offline, not at all.
        let can_accept = state.can_accept(peer);
        let not_now = format!("Once {name} is in a room with you");
        egui::Panel::top("direct_header").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.heading(&name);
                ui.label(RichText::new("direct messages").weak());
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    close = ui.button("Close").clicked();
                });
            });
            let fingerprint = peer.fingerprint().unwrap_or_default();
            match &key {
                PeerKey::Verified => {
                    ui.label(
                        RichText::new(format!(
                            "🔒 ✔ Only you and {name} can read these: each is sealed for the other's device, whose key ({fingerprint}) you compared with {name}; a room's host only passes them on."
                        ))
                        .small()
                        .weak(),
                    );
                }
                PeerKey::Unverified => {
                    ui.label(
                        RichText::new(format!(
                            "🔒 Sealed for the key the room's host gave as {name}'s ({fingerprint}). Not verified — compare fingerprints with {name} (yours: {}): if they match, only you and {name} can read these.",
                            state.fingerprint
                        ))
                        .small()
                        .weak(),
                    );
                    let mark = ui.add_enabled(can_accept, egui::Button::new("Mark as verified"));
                    if mark.on_disabled_hover_text(&not_now).clicked() {
                        accept = Some(true);
                    }
                }
                PeerKey::Changed { pinned } => {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!(
                            "⚠ {name} had another key when you last wrote ({pinned}); this device's is {fingerprint}. Nothing is sent to it until you accept it: do so only if {name} tells you they changed computers or reinstalled lanchat."
                        ),
                    );
                    let take = egui::Button::new(format!("Accept {name}'s new key"));
                    let take = ui.add_enabled(can_accept, take);
                    if take.on_disabled_hover_text(&not_now).clicked() {
                        accept = Some(false);
                    }
                }
            }
            if let Some(known_as) = &known_as {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!(
                        "This device's key is the one you knew as “{}”: they renamed themselves, or the room lists them under another's name.",
                        text::name(known_as)
                    ),
                );
            }
        });
        let mut draft = self.drafts.remove(peer).unwrap_or_default();
        let mut send = false;
        egui::Panel::bottom("direct_composer").show(ui, |ui| {
            ui.add_space(6.0);
            if let Some(error) = &conversation.error {
                ui.colored_label(ui.visuals().error_fg_color, error);
            } else if !reachable {
                ui.label(
                    RichText::new(format!(
                        "{name} is not in a room you are in right now: you can write once you both are."
                    ))
                    .small()
                    .weak(),
                );
            }
            let id = ui.make_persistent_id("direct_composer");
            let focused = ui.ctx().memory(|m| m.has_focus(id));
            let enter = focused
                && ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, Key::Enter));
            ui.horizontal(|ui| {
                let label = ui.label("Direct message");
                let edit = egui::TextEdit::multiline(&mut draft)
                    .id(id)
                    .hint_text(match key {
                        PeerKey::Verified => format!("Only {name} can read it"),
                        _ => format!("Sealed for {name}'s key"),
                    })
                    .desired_rows(2)
                    .desired_width(ui.available_width() - 70.0);
                let response = ui.add(edit).labelled_by(label.id);
                if !focused && ui.ctx().memory(|m| m.focused().is_none()) {
                    response.request_focus();
                }
                send = ui.add_sized([62.0, 28.0], egui::Button::new("Send")).clicked() || enter;
            });
            ui.add_space(6.0);
        });
        egui::CentralPanel::default().show(ui, |ui| {
            ScrollArea::vertical()
                .id_salt(("direct", peer))
                .auto_shrink(false)
                .stick_to_bottom(true)
                .show(ui, |ui| {
                    if conversation.lines.is_empty() {
                        ui.label(RichText::new(format!("Say hello to {name}.")).weak());
                    }
                    for line in &conversation.lines {
                        let who = if line.outgoing { "You" } else { name.as_str() };
                        ui.horizontal(|ui| {
                            ui.label(RichText::new(who).strong());
                            ui.label(RichText::new(clock(line.ts)).small().weak());
                            let (what, color) = match &line.state {
                                Sent::Sending if line.outgoing => {
                                    ("sending…", ui.visuals().weak_text_color())
                                }
                                Sent::Failed(_) => ("not delivered", ui.visuals().error_fg_color),
                                _ => ("", ui.visuals().weak_text_color()),
                            };
                            if !what.is_empty() {
                                let said = ui.label(RichText::new(what).small().color(color));
                                if let Sent::Failed(why) = &line.state {
                                    said.on_hover_text(why);
                                }
                            }
                        });
                        if let Some(claimed) = &line.claimed {
                            ui.colored_label(
                                ui.visuals().warn_fg_color,
                                format!(
                                    "⚠ This message says it is from “{}”; its key is {name}'s.",
                                    text::name(claimed)
                                ),
                            );
                        }
                        ui.add(
                            egui::Label::new(text::message(&line.text))
                                .wrap()
                                .selectable(true),
                        );
                        ui.add_space(4.0);
                    }
                });
        });
        if let Some(verified) = accept {
            state.accept_peer(peer, verified);
        }
        if send && !draft.trim().is_empty() && state.send_direct(peer, &draft).is_ok() {
            draft.clear();
        }
        self.drafts.insert(peer.clone(), draft);
        if close {
            state.open_direct = None;
        }
    }
}
