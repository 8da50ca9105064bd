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

use super::state::AppState;
use crate::protocol::RoomId;
use composer::composer;
use header::{Asked, header, members};
use list::MessageList;

/// Drawing state of the chat view: row heights and the composer's text.
#[derive(Default)]
pub struct ChatView {
    /// The message list's rows and where it stands.
    list: MessageList,
    /// Text being written, per room, so switching rooms keeps drafts.
    drafts: std::collections::HashMap<RoomId, String>,
    /// The room the composer last took the keyboard for: a room opened takes it at once
    /// (from the room list's button, say).
    focused_for: Option<RoomId>,
}

impl ChatView {
    /// Draws the open room. Header and composer are panels; the list fills the rest.
    pub fn show(&mut self, ui: &mut egui::Ui, state: &mut AppState, room: &RoomId) {
        if let Some(id) = state.search.take_seek(room) {
            self.list.seek(id);
        }
        let Some(chat) = state.chats.get(room) else {
            return;
        };
        let mut asked = Asked::new(state, room);
        // A narrow window keeps the messages and the composer: the member list moves into a
        // menu in the header, and the host's line under the room's name.
        let narrow = ui.available_width() < NARROW;
        egui::Panel::top("chat_header").show(ui, |ui| header(ui, state, chat, narrow, &mut asked));
        if !narrow {
            egui::Panel::right("members")
                .default_size(160.0)
                .resizable(true)
                .show(ui, |ui| {
                    asked.write_to = asked.write_to.take().or(members(ui, chat, &state.me));
                });
        }
        let opened = self.opened(room);
        let mut draft = self.drafts.remove(room).unwrap_or_default();
        let (sent, attach, typed) = egui::Panel::bottom("composer")
            .show(ui, |ui| composer(ui, chat, &state.me, &mut draft, opened))
            .inner;
        if typed && !draft.is_empty() {
            state.typed(room, std::time::Instant::now());
        }
        let (actions, earlier) = egui::CentralPanel::default()
            .show(ui, |ui| self.list.show(ui, state, room))
            .inner;
        for action in actions {
            action.apply(state);
        }
        if earlier {
            state.ask_earlier(room);
        }
        match attach {
            Some(composer::Attach::Files) => state.pick_files(),
            Some(composer::Attach::Folder) => state.pick_folder(),
            None => {}
        }

        if let Some(text) = sent
            && state.send(&text).is_ok()
        {
            draft.clear();
            // Wherever the list was, sending brings it to the line sent.
            self.list.follow();
        }
        self.drafts.insert(room.clone(), draft);
        asked.apply(state, room);
    }

    /// Whether `room` is drawn for the first time since another was: the composer then
    /// takes the keyboard.
    fn opened(&mut self, room: &RoomId) -> bool {
        let opened = self.focused_for.as_ref() != Some(room);
        if opened {
            self.focused_for = Some(room.clone());
        }
        opened
    }
}

/// Below this width (points) a room's view puts its member list in a menu: the message
/// field keeps 400 points or so before the list takes any.
const NARROW: f32 = 600.0;
