//! Searching the rooms' histories and the direct messages, apart from how it is drawn
//! ([`crate::app::search`] draws it): what is typed, the runtime's answer, and a result
//! chosen brought into its room or conversation.
//!
//! A result older than what its room shows is brought in from the database first: everything
//! from it up to the oldest message shown, merged like a page of earlier history, so the room
//! reads on without a gap. Then the view scrolls to it and marks it for a moment. A direct
//! message is always at hand (every conversation is read in at start).

use super::{AppState, Older};
use crate::app::text;
use crate::bridge::{Command, SearchFailure};
use crate::protocol::{ChatMessage, DeviceId, RoomId};
use crate::store::{Found, Hit, Place, Record, fts_query};

/// Messages read in before a result older than its room's lines, so it is seen after what
/// led to it.
const CONTEXT: u64 = 20;

/// What the search knows, apart from how it is drawn.
#[derive(Debug, Default)]
pub struct Search {
    /// What is typed in the search field.
    pub query: String,
    /// The newest answer, for the query it answers; the one before stays on screen until
    /// the current query's comes.
    pub answer: Option<Answer>,
    /// Whether the results are shown: typing shows them, Escape or their ✕ hides them.
    pub shown: bool,
    /// The message of the result chosen, until its room's view has scrolled to it.
    pub seek: Option<Seek>,
    /// The direct message of the result chosen, until its conversation has scrolled to it.
    pub seek_direct: Option<DirectLine>,
    /// Why the result chosen cannot be shown in its room, in words.
    pub note: Option<String>,
}

/// An answer of the runtime's.
#[derive(Debug)]
pub struct Answer {
    /// The query it is for: an answer for another than the field's is not the one wanted.
    pub query: String,
    /// The messages found, or why there are none, in words.
    pub found: Result<Found, SearchFailure>,
}

/// A message to bring into view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seek {
    pub room: RoomId,
    pub id: u64,
    /// While the messages from a few before it up to the room's oldest shown are read from
    /// the database, the first of them: the view waits for them.
    pub loading: Option<u64>,
}

/// One line of a direct conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectLine {
    pub peer: DeviceId,
    /// Ours, or theirs; with the sender's number, which line it is.
    pub outgoing: bool,
    pub seq: u64,
}

impl Search {
    /// Whether the answer shown is for what is typed now.
    pub fn current(&self) -> bool {
        self.answer.as_ref().is_some_and(|a| a.query == self.query)
    }

    /// Takes the message to scroll to in `room`, once it is among the room's lines.
    pub fn take_seek(&mut self, room: &RoomId) -> Option<u64> {
        let seek = self.seek.as_ref()?;
        if &seek.room != room || seek.loading.is_some() {
            return None;
        }
        self.seek.take().map(|s| s.id)
    }

    /// Takes the direct message to scroll to in the conversation with `peer`: whether ours,
    /// and its number.
    pub fn take_seek_direct(&mut self, peer: &DeviceId) -> Option<(bool, u64)> {
        let line = self.seek_direct.take_if(|line| &line.peer == peer)?;
        Some((line.outgoing, line.seq))
    }

    /// Empties the field and hides the results.
    pub fn close(&mut self) {
        self.query.clear();
        self.answer = None;
        self.shown = false;
        self.note = None;
    }
}

impl AppState {
    /// The search field holds `typed` now: it is looked for, unless it has no words.
    pub fn search_for(&mut self, typed: &str) {
        self.search.query = typed.to_owned();
        self.search.note = None;
        if fts_query(typed).is_none() {
            self.search.answer = None;
            self.search.shown = !typed.trim().is_empty();
            return;
        }
        self.search.shown = true;
        self.outbox.push(Command::Search {
            query: typed.to_owned(),
        });
    }

    /// The runtime answered a search; answers to anything but what is typed now are late.
    pub fn search_answered(&mut self, query: String, found: Result<Found, SearchFailure>) {
        if query == self.search.query {
            self.search.answer = Some(Answer { query, found });
        }
    }

    /// The name to show for where a hit was said: its room's own if we are in it, the one
    /// it had when we hosted or joined it otherwise; the person's, for a direct message.
    pub fn place_name_of(&self, hit: &Hit) -> String {
        let (room, room_name) = match &hit.place {
            Place::Direct {
                peer, peer_name, ..
            } => {
                let now = self.directs.conversations.get(peer).map(|c| &c.name);
                return now.filter(|n| !n.is_empty()).unwrap_or(peer_name).clone();
            }
            Place::Room {
                room, room_name, ..
            } => (room, room_name),
        };
        if let Some(chat) = self.chats.rooms.get(room) {
            return chat.room_name.clone();
        }
        self.rooms
            .remembered
            .iter()
            .find(|r| &r.id == room)
            .map(|r| r.name.clone())
            .or_else(|| room_name.clone())
            .unwrap_or_else(|| "a room you left".to_owned())
    }

    /// Whether a hit can be shown in its room or conversation now, or why not in words.
    pub fn reach_hit(&self, hit: &Hit) -> Result<(), String> {
        let Place::Room { room, record, .. } = &hit.place else {
            return Ok(());
        };
        let name = text::name(&self.place_name_of(hit)).into_owned();
        match record {
            Record::Hosted if self.rooms.hosting.contains_key(room) => Ok(()),
            Record::Hosted => Err(format!(
                "\u{201c}{name}\u{201d} is closed: host it again to see this message in it."
            )),
            Record::Member { current: false } => Err(
                "From an earlier history of the room (its host started it over): it is not in the room any more."
                    .to_owned(),
            ),
            Record::Member { .. } if !self.chats.rooms.contains_key(room) => {
                Err(format!("You are no longer in \u{201c}{name}\u{201d}."))
            }
            Record::Member { .. } => Ok(()),
        }
    }

    /// Opens a hit's room and brings the message into view, reading what lies between it
    /// and the oldest message shown from the database first; or opens its conversation at
    /// the direct message; or says why it cannot.
    pub fn open_hit(&mut self, hit: &Hit) {
        if let Err(why) = self.reach_hit(hit) {
            self.search.note = Some(why);
            return;
        }
        self.search.note = None;
        self.search.seek = None;
        self.search.seek_direct = None;
        let (room, id) = match &hit.place {
            Place::Direct {
                peer,
                peer_name,
                outgoing,
                seq,
            } => {
                self.open_direct(peer, Some(peer_name));
                self.search.seek_direct = Some(DirectLine {
                    peer: peer.clone(),
                    outgoing: *outgoing,
                    seq: *seq,
                });
                return;
            }
            Place::Room { room, id, .. } => (room, *id),
        };
        self.show_room(room);
        let Some(chat) = self.chats.rooms.get(room) else {
            return;
        };
        let oldest = chat.message_ids().next();
        let loading = oldest
            .is_none_or(|oldest| id < oldest)
            .then(|| id.saturating_sub(CONTEXT));
        if let Some(from) = loading {
            self.outbox.push(Command::LoadFrom {
                room: room.clone(),
                from,
                until: oldest,
            });
        }
        self.search.seek = Some(Seek {
            room: room.clone(),
            id,
            loading,
        });
    }

    /// The messages read for the result chosen arrived: they join the room's lines, and the
    /// view may scroll. For a result given up on (another was chosen, or another room opened
    /// meanwhile) they are let go.
    pub fn loaded(&mut self, room: RoomId, from: u64, messages: Vec<ChatMessage>) {
        let wanted = |s: &Seek| s.room == room && s.loading == Some(from);
        if !self.search.seek.as_ref().is_some_and(wanted) {
            return;
        }
        let on_screen = self.on_screen(&room);
        let (true, Some(chat)) = (on_screen, self.chats.rooms.get_mut(&room)) else {
            self.search.seek = None;
            return;
        };
        if messages.first().is_some_and(|m| m.id == 0) && chat.older != Older::Complete {
            // A page asked for meanwhile is of what is here now, and is let go as it comes.
            chat.older = Older::Complete;
        }
        chat.merge(messages, &self.me);
        if let Some(seek) = &mut self.search.seek {
            seek.loading = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::Event;
    use crate::protocol::DeviceId;
    use crate::store::Piece;

    fn state() -> AppState {
        crate::app::state::test_state()
    }

    fn message(id: u64) -> ChatMessage {
        ChatMessage {
            id,
            ts: id as i64,
            from: "Bob".into(),
            device: DeviceId::parse("bob").unwrap(),
            text: format!("m{id}"),
            file: None,
        }
    }

    fn hit(room: &RoomId, id: u64, record: Record) -> Hit {
        Hit {
            ts: id as i64,
            sender: "Bob".into(),
            snippet: vec![Piece {
                text: format!("m{id}"),
                matched: true,
            }],
            file: false,
            place: Place::Room {
                room: room.clone(),
                id,
                record,
                room_name: None,
            },
        }
    }

    /// We are in "lab" (its messages 100 to 199 shown) and "other", which is on screen.
    fn in_two_rooms() -> (AppState, RoomId, RoomId) {
        let (mut s, lab, other) = super::super::two_rooms();
        for id in 100..200 {
            s.apply(Event::Message {
                room: lab.clone(),
                message: message(id),
                live: false,
            });
        }
        s.show_room(&other);
        s.outbox.clear();
        (s, lab, other)
    }

    #[test]
    fn only_the_answer_to_what_is_typed_now_is_kept() {
        let mut s = state();
        s.search_for("ca");
        s.search_for("caf");
        assert!(
            matches!(&s.outbox[..], [Command::Search { .. }, Command::Search { query }] if query == "caf")
        );
        s.search_answered("ca".into(), Ok(Found::default()));
        assert!(s.search.answer.is_none(), "a late answer is dropped");
        s.search_answered("caf".into(), Ok(Found::default()));
        assert!(s.search.current());
        s.outbox.clear();
        s.search_for("\"*");
        assert!(s.outbox.is_empty(), "nothing to look for is not asked");
        assert!(s.search.shown && s.search.answer.is_none());
        s.search.close();
        assert!(!s.search.shown && s.search.query.is_empty());
    }

    #[test]
    fn a_result_shown_already_is_scrolled_to_and_an_older_one_is_read_in_first() {
        let (mut s, lab, _) = in_two_rooms();
        let current = Record::Member { current: true };
        s.open_hit(&hit(&lab, 150, current));
        assert_eq!(s.open.as_ref(), Some(&lab), "its room is opened");
        assert!(s.outbox.is_empty(), "shown already: nothing to read");
        assert_eq!(s.search.take_seek(&lab), Some(150));

        // Older: read in with a few before it, up to what is shown.
        s.open_hit(&hit(&lab, 50, current));
        assert!(matches!(
            &s.outbox[..],
            [Command::LoadFrom {
                from: 30,
                until: Some(100),
                ..
            }]
        ));
        assert_eq!(s.search.take_seek(&lab), None, "the view waits for them");
        let between: Vec<ChatMessage> = (30..100).map(message).collect();
        s.loaded(lab.clone(), 30, between);
        let ids: Vec<u64> = s.chats[&lab].message_ids().collect();
        assert_eq!(ids, (30..200).collect::<Vec<_>>(), "no gap, in order");
        assert_eq!(s.chats[&lab].older, Older::Maybe, "more may be before it");
        assert_eq!(s.search.take_seek(&lab), Some(50));

        // Read back to the first message: nothing is before it.
        s.open_hit(&hit(&lab, 10, current));
        s.loaded(lab.clone(), 0, (0..30).map(message).collect());
        assert_eq!(s.chats[&lab].older, Older::Complete);
    }

    #[test]
    fn a_direct_message_found_opens_its_conversation_at_it() {
        let (mut s, _, other) = in_two_rooms();
        let carol = DeviceId::parse("carol").unwrap();
        let found = Hit {
            place: Place::Direct {
                peer: carol.clone(),
                peer_name: "Carol".into(),
                outgoing: true,
                seq: 2,
            },
            ..hit(&other, 0, Record::Hosted)
        };
        assert_eq!(s.reach_hit(&found), Ok(()), "even with Carol in no room");
        assert_eq!(s.place_name_of(&found), "Carol");
        s.open_hit(&found);
        assert_eq!(s.open_direct.as_ref(), Some(&carol));
        assert_eq!(s.directs.conversations[&carol].name, "Carol");
        assert_eq!(s.search.take_seek_direct(&other_device()), None);
        assert_eq!(s.search.take_seek_direct(&carol), Some((true, 2)));
        assert_eq!(s.search.take_seek_direct(&carol), None, "once");
        assert!(s.outbox.is_empty());
    }

    fn other_device() -> DeviceId {
        DeviceId::parse("someone-else").unwrap()
    }

    #[test]
    fn what_was_read_for_a_result_given_up_on_is_let_go() {
        let (mut s, lab, other) = in_two_rooms();
        let current = Record::Member { current: true };
        s.open_hit(&hit(&lab, 60, current));
        s.open_hit(&hit(&lab, 50, current));
        s.loaded(lab.clone(), 40, (40..100).map(message).collect());
        assert_eq!(
            s.chats[&lab].message_ids().next(),
            Some(100),
            "not the one chosen"
        );
        s.show_room(&other);
        s.loaded(lab.clone(), 30, (30..100).map(message).collect());
        assert_eq!(
            s.chats[&lab].message_ids().next(),
            Some(100),
            "another room is open"
        );
        assert!(s.search.seek.is_none());
    }

    #[test]
    fn a_result_that_cannot_be_shown_in_place_says_why() {
        let (mut s, lab, other) = in_two_rooms();
        let gone = RoomId::parse("gone").unwrap();
        for (hit, why) in [
            (
                hit(&lab, 1, Record::Member { current: false }),
                "earlier history",
            ),
            (
                hit(&gone, 1, Record::Member { current: true }),
                "no longer in",
            ),
            (hit(&gone, 1, Record::Hosted), "host it again"),
        ] {
            s.open_hit(&hit);
            let note = s.search.note.clone().unwrap_or_default();
            assert!(note.contains(why), "{note}");
            assert_eq!(s.open.as_ref(), Some(&other), "the room on screen stays");
            assert!(s.outbox.is_empty() && s.search.seek.is_none());
        }
    }
}
