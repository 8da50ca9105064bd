//! Two rules every front end keeps for now (they move to the bridge and the runtime): messages
//! in order, once, when this front end fell behind (see [`InOrder`]); and which files are
//! saved by themselves (see [`AutoSave`]).

use crate::bridge::{Command, Event, Transfer, TransferState};
use crate::protocol::{ChatMessage, FileHash, RoomId};
use std::collections::BTreeSet;

/// Live messages held per room while its missed ones are read back: more are not held (they
/// are read back too).
const HELD: usize = 1000;

/// Puts a room's messages back in order when this front end fell behind (its output was not
/// read): the ones the runtime stopped queueing are read back from the database a page at a
/// time, live ones that come meanwhile wait, and nothing is printed twice.
#[derive(Default)]
pub(super) struct InOrder {
    /// The newest message passed on, per room.
    last: std::collections::HashMap<RoomId, u64>,
    /// Rooms being caught up on.
    behind: std::collections::HashMap<RoomId, CatchingUp>,
    /// Events ready to be acted on, in order.
    pub(super) ready: std::collections::VecDeque<Event>,
}

/// One room being caught up on.
#[derive(Default)]
struct CatchingUp {
    /// Its events that came meanwhile (live messages, the end of its history).
    held: Vec<Event>,
    /// Fell behind again, or held too much: read on to the end once more.
    again: bool,
}

impl InOrder {
    /// Takes one event from the runtime; what can be acted on goes to `ready`, a request to
    /// catch up is returned.
    pub(super) fn sort(&mut self, event: Event) -> Option<Command> {
        match event {
            Event::Message { ref room, .. } | Event::HistoryDone { ref room }
                if self.behind.contains_key(room) =>
            {
                let catching = self.behind.get_mut(room).expect("checked");
                let held = catching
                    .held
                    .iter()
                    .filter(|e| matches!(e, Event::Message { .. }))
                    .count();
                if matches!(event, Event::Message { .. }) && held >= HELD {
                    // Too many: they are read back instead.
                    catching
                        .held
                        .retain(|e| !matches!(e, Event::Message { .. }));
                    catching.again = true;
                } else {
                    catching.held.push(event);
                }
            }
            Event::Message {
                ref room,
                ref message,
                ..
            } => {
                if self.last.get(room).is_some_and(|&last| message.id <= last) {
                    return None; // read back and printed already
                }
                self.last.insert(room.clone(), message.id);
                self.ready.push_back(event);
            }
            Event::HistoryReset { ref room } => {
                self.last.remove(room);
                if let Some(catching) = self.behind.get_mut(room) {
                    catching.held.clear();
                    catching.again = true;
                }
                self.ready.push_back(event);
            }
            Event::Behind { room } => {
                if let Some(catching) = self.behind.get_mut(&room) {
                    catching.again = true;
                    return None;
                }
                self.behind.insert(room.clone(), CatchingUp::default());
                let after = self.last.get(&room).copied();
                return Some(Command::CatchUp { room, after });
            }
            Event::CaughtUp {
                room,
                messages,
                more,
            } => {
                let catching = self.behind.remove(&room)?;
                for message in messages {
                    let room = room.clone();
                    self.sort(Event::Message {
                        room,
                        message,
                        live: false,
                    });
                }
                if more || catching.again {
                    let catching = CatchingUp {
                        held: catching.held,
                        again: false,
                    };
                    self.behind.insert(room.clone(), catching);
                    let after = self.last.get(&room).copied();
                    return Some(Command::CatchUp { room, after });
                }
                for event in catching.held {
                    self.sort(event);
                }
            }
            other => self.ready.push_back(other),
        }
        None
    }
}

/// The auto-save rule of `lanchat join --downloads`: every file shared in the room is saved,
/// and the command waits for the ones still coming.
pub(super) struct AutoSave {
    /// Whether files shared in the room are downloaded (`--downloads`).
    receives: bool,
    /// Downloads under way: the session keeps the end of stdin from ending the command.
    receiving: BTreeSet<FileHash>,
}

impl AutoSave {
    pub(super) fn new(receives: bool) -> Self {
        AutoSave {
            receives,
            receiving: BTreeSet::new(),
        }
    }

    /// A message of the room was shown: the download of its file, if files are saved.
    pub(super) fn message(&mut self, room: &RoomId, message: &ChatMessage) -> Option<Command> {
        let (true, Some(file)) = (self.receives, &message.file) else {
            return None;
        };
        self.receiving.insert(file.hash.clone());
        Some(Command::Download {
            room: room.clone(),
            file: file.clone(),
        })
    }

    /// A download's progress: one that ended is no longer waited for.
    pub(super) fn transfer(&mut self, t: &Transfer) {
        let finished = !matches!(t.state, TransferState::Preparing | TransferState::Running);
        if let (true, Some(hash)) = (finished, &t.hash) {
            self.receiving.remove(hash);
        }
    }

    /// Whether no download is under way.
    pub(super) fn idle(&self) -> bool {
        self.receiving.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::DeviceId;

    fn message(room: &RoomId, id: u64) -> Event {
        Event::Message {
            room: room.clone(),
            message: ChatMessage {
                id,
                ts: 0,
                from: "Bob".into(),
                device: DeviceId::parse("bob").unwrap(),
                text: format!("m{id}"),
                file: None,
            },
            live: true,
        }
    }

    fn stored(ids: std::ops::RangeInclusive<u64>) -> Vec<ChatMessage> {
        let room = RoomId::parse("r").unwrap();
        ids.map(|id| match message(&room, id) {
            Event::Message { message, .. } => message,
            _ => unreachable!(),
        })
        .collect()
    }

    #[test]
    fn output_that_fell_behind_prints_every_message_once_in_order() {
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
        feed(
            &mut order,
            Event::CaughtUp {
                room: room.clone(),
                messages: stored(2..=3),
                more: true,
            },
        );
        feed(
            &mut order,
            Event::CaughtUp {
                room: room.clone(),
                messages: stored(4..=4),
                more: false,
            },
        );
        feed(&mut order, message(&room, 6));
        assert_eq!(asked, vec![Some(1), Some(3)]);
        let mut ids = Vec::new();
        let mut done_after = None;
        for event in order.ready.drain(..) {
            match event {
                Event::Message { message, .. } => ids.push(message.id),
                Event::HistoryDone { .. } => done_after = ids.last().copied(),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(
            done_after,
            Some(5),
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
        let events: Vec<Event> = order.ready.drain(..).collect();
        assert_eq!(events.len(), last as usize + 1);
        assert!(matches!(events.last(), Some(Event::HistoryDone { .. })));
    }
}
