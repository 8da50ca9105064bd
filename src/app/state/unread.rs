//! What the user has not seen yet: others' messages that come into a room or a conversation
//! not in front of the user are counted unread (a room's behind a "new messages" divider)
//! and may be announced; what is in front of a focused window is read. How much each may
//! interrupt is decided in [`crate::app::attention`].

use super::AppState;
use crate::app::attention::{self, Notification};
use crate::protocol::{ChatMessage, DeviceId, RoomId};
use crate::store::Direct;

impl AppState {
    /// Others' messages that just came into `room`: unread unless the user is looking at
    /// the room; `announce` raises a notification (and the window's call for attention) for
    /// the newest, if the room's setting lets it.
    pub(super) fn arrived(&mut self, room: &RoomId, messages: &[ChatMessage], announce: bool) {
        if messages.is_empty() || self.looking_at(room) {
            return;
        }
        let Some(chat) = self.chats.rooms.get_mut(room) else {
            return;
        };
        let mention = messages
            .iter()
            .any(|m| attention::mentions(&m.text, &self.name));
        if chat.unread == 0 {
            // Where the user left off: the divider goes above the first one unread.
            chat.mark_new_messages();
        }
        chat.unread += messages.len();
        chat.mentioned |= mention;
        let alerts = self.preferences.alerts_of(room);
        if announce
            && attention::interrupts(alerts, mention)
            && let Some(newest) = messages.last()
        {
            let from = chat.who(&newest.from, &newest.device);
            self.notifications
                .push(Notification::of(room, &chat.room_name, &from, newest));
            self.wants_attention = true;
        }
    }

    /// A direct message, ours or theirs, just now: a new one of theirs is unread unless the
    /// user is reading the conversation, and is announced.
    pub(super) fn direct(&mut self, d: Direct) {
        let peer = d.peer.clone();
        let theirs = !d.outgoing;
        let (name, text) = (d.peer_name.clone(), d.text.clone());
        if self.directs.add(d) && theirs && !self.reading_direct(&peer) {
            if let Some(c) = self.directs.conversations.get_mut(&peer) {
                c.unread += 1;
            }
            self.notifications
                .push(Notification::direct(&peer, &name, &text));
            self.wants_attention = true;
        }
    }

    /// Whether the user sees `room` now: open in a focused window.
    fn looking_at(&self, room: &RoomId) -> bool {
        self.focused && self.on_screen(room)
    }

    /// Whether the user sees the conversation with `peer` now.
    fn reading_direct(&self, peer: &DeviceId) -> bool {
        self.focused && self.open_direct.as_ref() == Some(peer)
    }

    /// The window says whether it has the keyboard; the open room of a focused window is
    /// read.
    pub fn look(&mut self, focused: bool) {
        self.focused = focused;
        // Rooms not on screen let go of what is past their newest lines (one scrolled back in
        // and left keeps the place only until then).
        let on_screen = self.open.clone().filter(|_| self.open_direct.is_none());
        for (id, chat) in &mut self.chats.rooms {
            if Some(id) != on_screen.as_ref() {
                chat.trim();
            }
        }
        if let Some(peer) = self.open_direct.clone()
            && self.reading_direct(&peer)
            && let Some(c) = self.directs.conversations.get_mut(&peer)
        {
            c.unread = 0;
        }
        if let Some(room) = self.open.clone()
            && self.looking_at(&room)
            && let Some(chat) = self.chats.rooms.get_mut(&room)
        {
            chat.unread = 0;
            chat.mentioned = false;
        }
    }

    /// Unread messages in all rooms and conversations, for the title.
    pub fn unread_total(&self) -> usize {
        let rooms: usize = self.chats.rooms.values().map(|c| c.unread).sum();
        let directs: usize = self.directs.conversations.values().map(|c| c.unread).sum();
        rooms + directs
    }
}
