//! Every front end receives a room's messages in order and once, even one that fell behind
//! (a window left minimized through a flood, a script whose output nobody read): the front
//! end's half of the bridge asks for the missed messages itself ([`Command::CatchUp`]), holds
//! the live ones that come meanwhile, and hands the missed ones over as one
//! [`Event::Missed`] page at a time. [`Event::Behind`] is passed on once (the window says it
//! is catching up); [`Event::CaughtUp`] stops here.

use super::{Command, Event};
use crate::protocol::{ChatMessage, RoomId};
use std::collections::{HashMap, VecDeque};

/// Live messages held per room while its missed ones are read back: more are not held (they
/// are read back too).
pub(super) const HELD: usize = 1000;

/// Puts a room's messages back in order when the front end fell behind: the ones the runtime
/// stopped queueing are read back from the database a page at a time, live ones that come
/// meanwhile wait, and nothing is handed over twice.
#[derive(Default)]
pub(super) struct InOrder {
    /// The newest message handed over, per room: what is read back after it.
    last: HashMap<RoomId, u64>,
    /// Rooms being caught up on.
    behind: HashMap<RoomId, CatchingUp>,
    /// Events ready for the front end, in order.
    pub(super) ready: VecDeque<Event>,
}

/// One room being caught up on.
#[derive(Default)]
struct CatchingUp {
    /// Its events that came meanwhile (live messages, the end of its history).
    held: Vec<Event>,
    /// Fell behind again, or held too much: read on once more.
    again: bool,
    /// The history started over meanwhile: the page on its way is of the old one, and is
    /// let go; the new one is read from its start.
    restart: bool,
}

impl InOrder {
    /// Takes one event from the runtime; what the front end can have goes to `ready`, a
    /// request to catch up is returned.
    pub(super) fn sort(&mut self, event: Event) -> Option<Command> {
        match event {
            Event::Message { ref room, .. } | Event::HistoryDone { ref room }
                if self.behind.contains_key(room) =>
            {
                let catching = self.behind.get_mut(room).expect("checked");
                catching.hold(event);
            }
            Event::Message {
                ref room,
                ref message,
                ..
            } => {
                if self.last.get(room).is_some_and(|&last| message.id <= last) {
                    return None; // read back and handed over already
                }
                self.last.insert(room.clone(), message.id);
                self.ready.push_back(event);
            }
            Event::HistoryReset { ref room } => {
                self.last.remove(room);
                if let Some(catching) = self.behind.get_mut(room) {
                    catching.held.clear();
                    catching.restart = true;
                }
                self.ready.push_back(event);
            }
            Event::Behind { room } => {
                if let Some(catching) = self.behind.get_mut(&room) {
                    catching.again = true;
                    return None;
                }
                self.behind.insert(room.clone(), CatchingUp::default());
                self.ready.push_back(Event::Behind { room: room.clone() });
                return Some(self.catch_up(room));
            }
            Event::CaughtUp {
                room,
                messages,
                more,
            } => return self.caught_up(room, messages, more),
            other => self.ready.push_back(other),
        }
        None
    }

    /// Asks for `room`'s messages after the last handed over.
    fn catch_up(&self, room: RoomId) -> Command {
        let after = self.last.get(&room).copied();
        Command::CatchUp { room, after }
    }

    /// A page of missed messages: handed over (those not handed over already), then either
    /// the next page is asked for or what was held meanwhile follows.
    fn caught_up(
        &mut self,
        room: RoomId,
        messages: Vec<ChatMessage>,
        more: bool,
    ) -> Option<Command> {
        let catching = self.behind.remove(&room)?;
        if catching.restart {
            let catching = CatchingUp {
                held: catching.held,
                ..CatchingUp::default()
            };
            self.behind.insert(room.clone(), catching);
            return Some(self.catch_up(room));
        }
        let last = self.last.get(&room).copied();
        let missed: Vec<ChatMessage> = messages
            .into_iter()
            .filter(|m| last.is_none_or(|last| m.id > last))
            .collect();
        if let Some(newest) = missed.last() {
            self.last.insert(room.clone(), newest.id);
        }
        let done = !more && !catching.again;
        if !missed.is_empty() || done {
            self.ready.push_back(Event::Missed {
                room: room.clone(),
                messages: missed,
                done,
            });
        }
        if !done {
            let catching = CatchingUp {
                held: catching.held,
                ..CatchingUp::default()
            };
            self.behind.insert(room.clone(), catching);
            return Some(self.catch_up(room));
        }
        for event in catching.held {
            self.sort(event);
        }
        None
    }
}

impl CatchingUp {
    /// Holds an event that came while catching up; past [`HELD`] live messages, they are
    /// let go and read back instead.
    fn hold(&mut self, event: Event) {
        let is_message = |e: &Event| matches!(e, Event::Message { .. });
        let held = self.held.iter().filter(|e| is_message(e)).count();
        if is_message(&event) && held >= HELD {
            self.held.retain(|e| !is_message(e));
            self.again = true;
        } else {
            self.held.push(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::DeviceId;

    fn stored(ids: std::ops::RangeInclusive<u64>) -> Vec<ChatMessage> {
        ids.map(|id| ChatMessage {
            id,
            ts: 0,
            from: "Bob".into(),
            device: DeviceId::parse("bob").unwrap(),
            text: format!("m{id}"),
            file: None,
        })
        .collect()
    }

    fn message(room: &RoomId, id: u64) -> Event {
        let message = stored(id..=id).remove(0);
        Event::Message {
            room: room.clone(),
            message,
            live: true,
        }
    }

    /// The message ids handed over, in order, a page of missed ones as its ids; and after
    /// which message the history's end came.
    fn handed_over(order: &mut InOrder) -> (Vec<u64>, Option<Option<u64>>) {
        let (mut ids, mut done_after) = (Vec::new(), None);
        for event in order.ready.drain(..) {
            match event {
                Event::Message { message, .. } => ids.push(message.id),
                Event::Missed { messages, .. } => ids.extend(messages.iter().map(|m| m.id)),
                Event::HistoryDone { .. } => done_after = Some(ids.last().copied()),
                Event::Behind { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        (ids, done_after)
    }

    #[test]
    fn a_front_end_that_fell_behind_gets_every_message_once_in_order() {
        let room = RoomId::parse("r").unwrap();
        let mut order = InOrder::default();
        let mut asked = Vec::new();
        let mut feed = |order: &mut InOrder, event| {
            if let Some(Command::CatchUp { after, .. }) = order.sort(event) {
                asked.push(after);
            }
        };
        feed(&mut order, message(&room, 1));
        feed(&mut order, Event::Behind { room: room.clone() });
        // Live ones while the page is read, some of them in it too; the history's end.
        feed(&mut order, message(&room, 4));
        feed(&mut order, message(&room, 5));
        feed(&mut order, Event::HistoryDone { room: room.clone() });
        let page = |messages, more| Event::CaughtUp {
            room: room.clone(),
            messages,
            more,
        };
        feed(&mut order, page(stored(2..=3), true));
        feed(&mut order, page(stored(4..=4), false));
        feed(&mut order, message(&room, 6));
        assert_eq!(asked, vec![Some(1), Some(3)]);
        let (ids, done_after) = handed_over(&mut order);
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(
            done_after,
            Some(Some(5)),
            "the history's end stays after its messages"
        );
    }

    #[test]
    fn the_history_end_is_kept_however_many_live_messages_were_held() {
        let room = RoomId::parse("r").unwrap();
        let mut order = InOrder::default();
        order.sort(message(&room, 1));
        assert!(order.sort(Event::Behind { room: room.clone() }).is_some());
        for id in 2..(HELD as u64 + 50) {
            order.sort(message(&room, id));
        }
        order.sort(Event::HistoryDone { room: room.clone() });
        // Too many were held: they are read back (one page here), then the end comes.
        let last = HELD as u64 + 49;
        let again = order.sort(Event::CaughtUp {
            room: room.clone(),
            messages: stored(2..=last),
            more: false,
        });
        assert!(again.is_some(), "asked again after dropping held messages");
        let done = order.sort(Event::CaughtUp {
            room: room.clone(),
            messages: Vec::new(),
            more: false,
        });
        assert!(done.is_none());
        let (ids, done_after) = handed_over(&mut order);
        assert_eq!(ids, (1..=last).collect::<Vec<_>>());
        assert_eq!(done_after, Some(Some(last)));
    }

    #[test]
    fn a_history_started_over_while_catching_up_is_read_from_its_start() {
        let room = RoomId::parse("r").unwrap();
        let mut order = InOrder::default();
        order.sort(message(&room, 7));
        order.sort(Event::Behind { room: room.clone() });
        order.sort(Event::HistoryReset { room: room.clone() });
        // The page asked before the reset is of the old history: let go, and the new one
        // read from its start.
        let again = order.sort(Event::CaughtUp {
            room: room.clone(),
            messages: stored(8..=9),
            more: false,
        });
        assert!(
            matches!(again, Some(Command::CatchUp { after: None, .. })),
            "{again:?}"
        );
        order.sort(Event::CaughtUp {
            room: room.clone(),
            messages: stored(0..=1),
            more: false,
        });
        order.sort(message(&room, 2));
        let handed: Vec<Event> = order.ready.drain(..).collect();
        assert!(
            matches!(handed[2], Event::HistoryReset { .. }),
            "{handed:?}"
        );
        let mut order = InOrder {
            ready: handed.into_iter().skip(3).collect(),
            ..InOrder::default()
        };
        assert_eq!(
            handed_over(&mut order).0,
            vec![0, 1, 2],
            "only the new history's"
        );
    }
}
