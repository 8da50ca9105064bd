//! History as it arrives: the pages sent on joining (and asked for while catching up),
//! and older pages the user scrolled back to.

use super::{Event, Run};
use crate::protocol::{ChatMessage, RoomId};

/// A page of history before a message, as its messages arrive.
pub(super) struct EarlierPage {
    pub(super) before: u64,
    /// Messages of it still to come.
    pub(super) left: u32,
    /// Whether older ones are further back.
    pub(super) more: bool,
    pub(super) messages: Vec<ChatMessage>,
}

impl Run {
    /// Counts a history message off; after the last of the last page, says the history is
    /// complete, and after the last of another, asks for the next.
    pub(super) fn history_read(&mut self, room: RoomId) {
        if self.history_left > 0 {
            self.history_left -= 1;
            if self.history_left == 0 {
                self.page_read(room);
            }
        }
    }

    /// A page of history has all arrived.
    pub(super) fn page_read(&mut self, room: RoomId) {
        if self.more_history {
            self.ask_page = true;
        } else {
            self.events.send(Event::HistoryDone { room });
        }
    }

    /// Takes a message of an older page on its way; returns it if there is none.
    pub(super) fn earlier_message(&mut self, message: ChatMessage) -> Option<ChatMessage> {
        let Some(page) = self.earlier.as_mut().filter(|p| p.left > 0) else {
            return Some(message);
        };
        page.left -= 1;
        page.messages.push(message);
        if page.left == 0 {
            self.earlier_done();
        }
        None
    }

    /// An older page has all arrived: kept, and handed to the front end.
    pub(super) fn earlier_done(&mut self) {
        let Some(page) = self.earlier.take() else {
            return;
        };
        if let (Some(store), Some(epoch)) = (&self.store, self.epoch) {
            for message in &page.messages {
                store.seen(epoch, message);
            }
        }
        self.events.send(Event::Earlier {
            room: self.config.room.clone(),
            before: page.before,
            messages: page.messages,
            more: page.more,
        });
    }
}
