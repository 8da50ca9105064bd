//! The open room: header, member list, messages and composer. The message list draws only
//! the rows in view, so a room with 100,000 messages scrolls like an empty one.
//!
//! - [`list`]: the message list, drawing only the rows in view.
//! - [`message`]: one line of the list (a message, a notice, the "new messages" rule).
//! - [`header`]: the room's name, state and menu above, and who is in the room.
//! - [`composer`]: the message field, mention suggestions and who is typing.

mod composer;
mod header;
mod list;
mod message;

use super::files::Thumbnails;
use super::state::AppState;
use super::text;
use crate::protocol::RoomId;
use composer::composer;
use egui::{Align, Layout, RichText};
use header::{host_line, members, room_menu, state_badge};
use list::{Rows, Shape};

/// Drawing state of the chat view: row heights and the composer's text.
#[derive(Default)]
pub struct ChatView {
    /// The room the cached rows belong to.
    room: Option<RoomId>,
    /// That room's [`Chat::reshaped`](crate::app::state::Chat::reshaped) count when the rows
    /// were cached.
    reshaped: u64,
    /// Each line's text shape, worked out once when the line arrives.
    shapes: Vec<Shape>,
    /// The wrap width `heights` were worked out for, in whole points.
    width: u32,
    /// Height of each line at that width: estimated until the row has been drawn, then
    /// measured.
    heights: Vec<f32>,
    /// Text being written, per room, so switching rooms keeps drafts.
    drafts: std::collections::HashMap<RoomId, String>,
    /// Thumbnails of received images, as textures.
    thumbnails: Thumbnails,
    /// Messages that came in below while the list was scrolled up, for "jump to latest".
    below: usize,
    /// Whether the list showed its end at the last frame.
    at_end: bool,
    /// Set by "jump to latest": scroll to the end at the next frame.
    jump: bool,
    /// The list's scroll offset at the last frame.
    offset: f32,
    /// The id of the first message drawn from, to keep the view still when older ones are
    /// put in above it.
    first_id: Option<u64>,
    /// How far to move the view down at the next frame: the height of older messages put in
    /// above.
    shift: f32,
    /// The rows of the rooms not drawn now, as last measured.
    parked: std::collections::HashMap<RoomId, Rows>,
    /// The room the composer last took the keyboard for: a room opened takes it at once
    /// (from the room list's button, say).
    focused_for: Option<RoomId>,
    /// A search result's message to scroll to at the next pass (the first one from it on,
    /// if it is not there).
    seek: Option<u64>,
    /// The message scrolled to, marked until this time (egui's clock) so the eye finds it.
    marked: Option<(u64, f64)>,
}

impl ChatView {
    /// Draws the open room. Header and composer are panels; the list fills the rest.
    pub fn show(&mut self, ui: &mut egui::Ui, state: &mut AppState, room: &RoomId) {
        if let Some(id) = state.search.take_seek(room) {
            self.seek = Some(id);
        }
        let Some(chat) = state.chats.get(room) else {
            return;
        };
        let hosting = state.rooms.hosting.contains_key(room);
        let mut leave = false;
        let alerts_now = state.preferences.alerts_of(room);
        let mut write_to = None;
        let mut alerts = alerts_now;
        let auto_save_now = !state.preferences.no_auto_save.contains(room);
        let mut auto_save = auto_save_now;
        // A narrow window keeps the messages and the composer: the member list moves into a
        // menu in the header, and the host's line under the room's name.
        let narrow = ui.available_width() < NARROW;
        egui::Panel::top("chat_header").show(ui, |ui| {
            // The controls are placed first, from the right; the room's name takes what is
            // left and is cut short with "…" rather than drawn under them.
            ui.horizontal(|ui| {
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    let label = if hosting { "Close room" } else { "Leave" };
                    let hint = if hosting {
                        "Close this room for everyone"
                    } else {
                        "Leave this room"
                    };
                    leave = ui.button(label).on_hover_text(hint).clicked();
                    room_menu(ui, &mut alerts, &mut auto_save, state.preferences.auto_save);
                    if narrow {
                        ui.menu_button(format!("👥 {}", chat.members.len()), |ui| {
                            write_to = write_to.take().or(members(ui, chat, &state.me));
                        })
                        .response
                        .on_hover_text("Who is in the room");
                    }
                    state_badge(ui, chat);
                    if chat.catching_up.is_some() {
                        ui.label(RichText::new("catching up…").weak()).on_hover_text(
                            "Messages came faster than they were shown; the rest are being read back",
                        );
                    }
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
        });
        if !narrow {
            egui::Panel::right("members")
                .default_size(160.0)
                .resizable(true)
                .show(ui, |ui| {
                    write_to = write_to.take().or(members(ui, chat, &state.me));
                });
        }
        let opened = self.focused_for.as_ref() != Some(room);
        if opened {
            self.focused_for = Some(room.clone());
        }
        let mut draft = self.drafts.remove(room).unwrap_or_default();
        let (sent, attach, typed) = egui::Panel::bottom("composer")
            .show(ui, |ui| composer(ui, chat, &state.me, &mut draft, opened))
            .inner;
        if typed && !draft.is_empty() {
            state.typed(room, std::time::Instant::now());
        }
        let (actions, earlier) = egui::CentralPanel::default()
            .show(ui, |ui| self.lines(ui, state, room))
            .inner;
        for action in actions {
            action.apply(state);
        }
        if earlier {
            state.ask_earlier(room);
        }
        if attach {
            state.pick_files();
        }

        if let Some(text) = sent
            && state.send(&text).is_ok()
        {
            draft.clear();
        }
        self.drafts.insert(room.clone(), draft);
        if alerts != alerts_now {
            state
                .preferences
                .set_alerts(room, alerts, &mut state.outbox);
        }
        if auto_save != auto_save_now {
            state
                .preferences
                .set_room_auto_save(room, auto_save, &mut state.outbox);
        }
        if let Some((peer, name)) = write_to {
            state.open_direct(&peer, Some(&name));
        }
        if leave {
            state.leave_or_ask(room);
        }
    }
}

/// Below this width (points) a room's view puts its member list in a menu: the message
/// field keeps 400 points or so before the list takes any.
const NARROW: f32 = 600.0;
