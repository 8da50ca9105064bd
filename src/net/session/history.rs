//! Messages as they arrive: live ones, the pages of history sent on joining (and asked for
//! while catching up), and older pages the user scrolled back to.

use super::{Run, SessionEvent};
use crate::protocol::ChatMessage;

/// A page of history before a message, as its messages arrive.
pub(super) struct EarlierPage {
    before: u64,
    /// Messages of it still to come.
    left: u32,
    /// Whether older ones are further back.
    more: bool,
    messages: Vec<ChatMessage>,
}

impl Run {
    /// A message from the host: part of an older page, history, or live.
    pub(super) fn message_in(&mut self, message: ChatMessage) {
        let Some(message) = self.earlier_message(message) else {
            return;
        };
        // While catching up, a live message is left for the page that will bring it in order.
        if self.history_left == 0 && self.more_history {
            return;
        }
        // Only news: a rejoin asks for history after `last_id`, but be sure.
        if self.last_id.is_none_or(|last| message.id > last) {
            self.last_id = Some(message.id);
            if let (Some(store), Some(epoch)) = (&self.store, self.epoch) {
                store.seen(epoch, &message);
            }
            // What was said while we were away counts as live: its files come by themselves.
            let live = self.history_left == 0 || self.history_is_news;
            self.tell(SessionEvent::Message { message, live });
        }
        self.history_read();
    }

    /// The next page of history we asked for while catching up: `count` messages follow.
    pub(super) fn page_begins(&mut self, count: u32, more: bool) {
        self.history_left = count;
        self.more_history = more;
        if count == 0 {
            self.page_read();
        }
    }

    /// An older page the user scrolled back to: `count` messages follow.
    pub(super) fn earlier_begins(&mut self, before: u64, count: u32, more: bool) {
        self.earlier = Some(EarlierPage {
            before,
            left: count,
            more,
            messages: Vec::with_capacity(count as usize),
        });
        if count == 0 {
            self.earlier_done();
        }
    }

    /// Counts a history message off; after the last of the last page, says the history is
    /// complete, and after the last of another, asks for the next.
    fn history_read(&mut self) {
        if self.history_left > 0 {
            self.history_left -= 1;
            if self.history_left == 0 {
                self.page_read();
            }
        }
    }

    /// A page of history has all arrived.
    pub(super) fn page_read(&mut self) {
        if self.more_history {
            self.ask_page = true;
        } else {
            self.tell(SessionEvent::HistoryDone);
        }
    }

    /// Takes a message of an older page on its way; returns it if there is none.
    fn earlier_message(&mut self, message: ChatMessage) -> Option<ChatMessage> {
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
    fn earlier_done(&mut self) {
        let Some(page) = self.earlier.take() else {
            return;
        };
        if let (Some(store), Some(epoch)) = (&self.store, self.epoch) {
            for message in &page.messages {
                store.seen(epoch, message);
            }
        }
        self.tell(SessionEvent::Earlier {
            before: page.before,
            messages: page.messages,
            more: page.more,
        });
    }
}
