//! A room's history beyond what arrives live: paging back when the user scrolls to the top
//! (and giving up on a host that never answers), catching up when the window fell behind
//! (a window left minimized through a flood), and a history the host started over.

use super::AppState;
use super::chat::Chat;
use crate::bridge::Command;
use crate::protocol::{ChatMessage, DeviceId, RoomId};
use std::time::{Duration, Instant};

/// How long an asked-for page of older history may take before a button asks again.
const EARLIER_PATIENCE: Duration = Duration::from_secs(15);

/// The room's history before the oldest message shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Older {
    /// There may be more: scrolling to the top asks for it.
    Maybe,
    /// The page before this message id is on its way.
    Asking(u64),
    /// The host could not be asked (it is away): a button asks again.
    Unavailable,
    /// The oldest message shown is the room's first.
    Complete,
}

impl Chat {
    /// Asks for the page before the oldest message shown (the user scrolled to the top),
    /// unless one is on its way or there is none.
    pub(super) fn ask_earlier(&mut self, room: &RoomId, outbox: &mut Vec<Command>) {
        if matches!(self.older, Older::Asking(_) | Older::Complete) {
            return;
        }
        let oldest = self.message_ids().next();
        match oldest {
            // Ids start at 0 in each history: nothing is before the first.
            Some(0) => self.older = Older::Complete,
            Some(oldest) => {
                self.older = Older::Asking(oldest);
                self.older_asked = Some(Instant::now());
                outbox.push(Command::Earlier {
                    room: room.clone(),
                    before: oldest,
                });
            }
            None => {}
        }
    }

    /// The page before message `before` came (empty if the host could not be asked), and
    /// whether more is further back; one not asked for (any more) is let go.
    pub(super) fn earlier(
        &mut self,
        before: u64,
        messages: Vec<ChatMessage>,
        more: bool,
        me: &DeviceId,
    ) {
        if self.older != Older::Asking(before) {
            return;
        }
        self.older = match (messages.is_empty(), more) {
            (_, false) => Older::Complete,
            (true, true) => Older::Unavailable,
            (false, true) => Older::Maybe,
        };
        self.merge(messages, me);
    }

    /// A page asked for at `now` and not come after [`EARLIER_PATIENCE`] is given up on (an
    /// older host never answers); returns when the one on its way will be.
    pub(super) fn give_up_on_earlier(&mut self, now: Instant) -> Option<Instant> {
        let (Older::Asking(_), Some(asked)) = (self.older, self.older_asked) else {
            return None;
        };
        let given_up = asked + EARLIER_PATIENCE;
        if now >= given_up {
            self.older = Older::Unavailable;
            return None;
        }
        Some(given_up)
    }

    /// The host's history started over (it was lost or damaged): what is shown is not in
    /// it, and the new one is shown afresh.
    pub(super) fn history_reset(&mut self) {
        self.lines.clear();
        self.files.clear();
        self.divider = None;
        self.older = Older::Maybe;
        self.notice(
            "The host's history of this room started over (it was lost or damaged); it is shown afresh"
                .into(),
        );
    }
}

impl AppState {
    /// Asks for the page of `room`'s history before the oldest message shown (the user
    /// scrolled to the top), unless one is on its way or there is none.
    pub fn ask_earlier(&mut self, room: &RoomId) {
        if let Some(chat) = self.chats.rooms.get_mut(room) {
            chat.ask_earlier(room, &mut self.outbox);
        }
    }

    /// A page of what came while the window was behind (the bridge read it back, in
    /// order): merged, counted unread, and `done` on the last.
    pub(super) fn missed(&mut self, room: RoomId, messages: Vec<ChatMessage>, done: bool) {
        let Some(chat) = self.chats.rooms.get_mut(&room) else {
            return;
        };
        // Their files saved themselves, if they do, when they came: the runtime saw them.
        // Missed while the window was behind: counted, not each one announced.
        let theirs = chat.unseen(&messages, &self.me);
        self.arrived(&room, &theirs, false);
        let Some(chat) = self.chats.rooms.get_mut(&room) else {
            return;
        };
        chat.merge(messages, &self.me);
        chat.catching_up = !done;
    }
}
