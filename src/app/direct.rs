//! A direct-message conversation: the messages with one other person, sealed between your
//! two devices, and a composer.

use super::look::{MARKED_FOR, mark_found};
use super::state::{AppState, Conversation, PeerKey, clock};
use super::text;
use crate::protocol::DeviceId;
use crate::store::{Direct, Sent};
use egui::{Key, RichText, ScrollArea};

/// Drawing state of the conversation view.
#[derive(Default)]
pub struct DirectView {
    /// Text being written, per conversation.
    drafts: std::collections::HashMap<DeviceId, String>,
    /// A search result's line (ours or theirs, and its number) to scroll to at the next
    /// frame, then marked until a time on egui's clock so the eye finds it.
    found: Option<Found>,
}

/// A direct message found by a search, in the conversation shown.
struct Found {
    peer: DeviceId,
    line: (bool, u64),
    /// Not scrolled to yet.
    scroll: bool,
    until: f64,
}

/// What the user asked for in the header, done once the conversation is drawn.
#[derive(Default)]
struct Asked {
    /// Close the conversation.
    close: bool,
    /// Mark verified (`true`) or accept a changed key (`false`).
    accept: Option<bool>,
}

impl DirectView {
    /// Draws the conversation with `peer`. Header and composer are panels; the messages fill
    /// the rest.
    pub fn show(&mut self, ui: &mut egui::Ui, state: &mut AppState, peer: &DeviceId) {
        if let Some(line) = state.search.take_seek_direct(peer) {
            let until = ui.input(|i| i.time) + MARKED_FOR;
            self.found = Some(Found {
                peer: peer.clone(),
                line,
                scroll: true,
                until,
            });
        }
        let Some(conversation) = state.directs.conversations.get(peer) else {
            return;
        };
        let name = text::name(&conversation.name).into_owned();
        let reachable = state.reach(peer).is_some();
        let key = state.peer_key(peer);
        let asked = egui::Panel::top("direct_header")
            .show(ui, |ui| header(ui, state, peer, &name, &key))
            .inner;
        let mut draft = self.drafts.remove(peer).unwrap_or_default();
        let send = egui::Panel::bottom("direct_composer")
            .show(ui, |ui| {
                composer(ui, conversation, (&name, &key), reachable, &mut draft)
            })
            .inner;
        let found = self.found.as_mut().filter(|f| &f.peer == peer);
        egui::CentralPanel::default().show(ui, |ui| lines(ui, peer, conversation, &name, found));
        if let Some(verified) = asked.accept {
            state.accept_peer(peer, verified);
        }
        if send && !draft.trim().is_empty() && state.send_direct(peer, &draft).is_ok() {
            draft.clear();
        }
        self.drafts.insert(peer.clone(), draft);
        if asked.close {
            state.open_direct = None;
        }
    }
}

/// Whom the conversation is with, Close, how far their key is trusted, and whether it is a
/// key we knew under another name.
fn header(
    ui: &mut egui::Ui,
    state: &AppState,
    peer: &DeviceId,
    name: &str,
    key: &PeerKey,
) -> Asked {
    let mut asked = Asked::default();
    ui.horizontal_wrapped(|ui| {
        ui.heading(name);
        ui.label(RichText::new("direct messages").weak());
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            asked.close = ui.button("Close").clicked();
        });
    });
    // A key is taken from a room we share with them now (or a pin): offline, not at all.
    let can_accept = state.can_accept(peer);
    let fingerprint = peer.fingerprint().unwrap_or_default();
    asked.accept = trust(
        ui,
        key,
        name,
        (&fingerprint, &state.fingerprint),
        can_accept,
    );
    if let Some(known_as) = &state.known_as(peer) {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!(
                "This device's key is the one you knew as “{}”: they renamed themselves, or the room lists them under another's name.",
                text::name(known_as)
            ),
        );
    }
    asked
}

/// How far `name`'s key is trusted, in words, with the button that trusts it more (enabled
/// while it `can_accept`). `fingerprints` are theirs and ours. Returns `Some(true)` to mark
/// the key verified, `Some(false)` to accept a changed one.
fn trust(
    ui: &mut egui::Ui,
    key: &PeerKey,
    name: &str,
    (fingerprint, ours): (&str, &str),
    can_accept: bool,
) -> Option<bool> {
    let not_now = format!("Once {name} is in a room with you");
    match key {
        PeerKey::Verified => {
            ui.label(
                RichText::new(format!(
                    "🔒 ✔ Only you and {name} can read these: each is sealed for the other's device, whose key ({fingerprint}) you compared with {name}; a room's host only passes them on."
                ))
                .small()
                .weak(),
            );
            None
        }
        PeerKey::Unverified => {
            ui.label(
                RichText::new(format!(
                    "🔒 Sealed for the key the room's host gave as {name}'s ({fingerprint}). Not verified — compare fingerprints with {name} (yours: {ours}): if they match, only you and {name} can read these."
                ))
                .small()
                .weak(),
            );
            let mark = ui.add_enabled(can_accept, egui::Button::new("Mark as verified"));
            mark.on_disabled_hover_text(&not_now)
                .clicked()
                .then_some(true)
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
            take.on_disabled_hover_text(&not_now)
                .clicked()
                .then_some(false)
        }
    }
}

/// Why nothing can be sent (an error, or they are in no room with us), the message field
/// and Send; Enter sends. `name` and `key` are theirs. Returns whether the user asked to
/// send.
fn composer(
    ui: &mut egui::Ui,
    conversation: &Conversation,
    (name, key): (&str, &PeerKey),
    reachable: bool,
    draft: &mut String,
) -> bool {
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
    let enter = focused && ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, Key::Enter));
    let mut send = false;
    ui.horizontal(|ui| {
        let label = ui.label("Direct message");
        let edit = egui::TextEdit::multiline(draft)
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
        send = ui
            .add_sized([62.0, 28.0], egui::Button::new("Send"))
            .clicked()
            || enter;
    });
    ui.add_space(6.0);
    send
}

/// The conversation's messages, kept scrolled to the newest; or to a search result's line,
/// which is marked for a moment.
fn lines(
    ui: &mut egui::Ui,
    peer: &DeviceId,
    conversation: &Conversation,
    name: &str,
    mut found: Option<&mut Found>,
) {
    let now = ui.input(|i| i.time);
    if let Some(f) = &found
        && f.until > now
    {
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_secs_f64(f.until - now));
    }
    ScrollArea::vertical()
        .id_salt(("direct", peer))
        .auto_shrink(false)
        .stick_to_bottom(true)
        .show(ui, |ui| {
            if conversation.lines.is_empty() {
                ui.label(RichText::new(format!("Say hello to {name}.")).weak());
            }
            for line in &conversation.lines {
                let before = ui.cursor().top();
                direct_line(ui, line, name);
                let Some(f) = found.as_deref_mut() else {
                    continue;
                };
                if f.line != (line.outgoing, line.seq) || f.until <= now {
                    continue;
                }
                mark_found(ui, before);
                if std::mem::take(&mut f.scroll) {
                    let row = egui::Rect::from_x_y_ranges(
                        ui.max_rect().x_range(),
                        before..=ui.cursor().top(),
                    );
                    ui.scroll_to_rect(row, Some(egui::Align::Center));
                }
            }
        });
}

/// One message: who wrote it and when (and whether it is on its way or failed), a warning
/// when it claims another sender than its key's, and its text.
fn direct_line(ui: &mut egui::Ui, line: &Direct, name: &str) {
    let who = if line.outgoing { "You" } else { name };
    ui.horizontal(|ui| {
        ui.label(RichText::new(who).strong());
        ui.label(RichText::new(clock(line.ts)).small().weak());
        let (what, color) = match &line.state {
            Sent::Sending if line.outgoing => ("sending…", ui.visuals().weak_text_color()),
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
