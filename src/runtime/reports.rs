//! What the sessions of the rooms we are in tell the runtime, turned into the bridge's events
//! for the front end; a message's file may save itself on the way (`auto_save.rs`).

use super::Runtime;
use crate::bridge::{Event, EventSender};
use crate::net::session::{PasswordNeed, Report, SessionEvent, SessionState};
use crate::protocol::RoomId;
use tokio::sync::mpsc;

/// Where the sessions report to the runtime's loop, each report with its room, in order.
pub(super) type Reports = mpsc::UnboundedSender<(RoomId, SessionEvent)>;

impl Runtime {
    /// What a room's session reported: told to the front end, then a message's file saves
    /// itself if it is to (told after its message, as a front end asking for it would be).
    pub(super) fn reported(&mut self, room: RoomId, event: SessionEvent) {
        let message = match &event {
            SessionEvent::Message { message, live } if message.file.is_some() => {
                Some((message.clone(), *live))
            }
            SessionEvent::LetIn { secret, host } => {
                return self.remember_password(&room, secret.clone(), *host);
            }
            SessionEvent::State(SessionState::NeedsPassword(PasswordNeed::Wrong)) => {
                self.forget_password(&room);
                None
            }
            _ => None,
        };
        if let Some(event) = event_of(room.clone(), event) {
            self.events.send(event);
        }
        if let Some((message, live)) = message {
            self.auto_save(&room, &message, live);
        }
    }
}

/// A session reporting straight to a front end (tests run sessions this way).
impl Report for EventSender {
    fn report(&self, room: &RoomId, event: SessionEvent) {
        if let Some(event) = event_of(room.clone(), event) {
            self.send(event);
        }
    }
}

/// The bridge event a session's report becomes (none for what is the runtime's alone): one
/// arm per report, the clearest form however long.
pub(super) fn event_of(room: RoomId, event: SessionEvent) -> Option<Event> {
    Some(match event {
        SessionEvent::LetIn { .. } => return None,
        SessionEvent::State(state) => Event::Session { room, state },
        SessionEvent::Joined { welcome, host_key } => Event::Joined {
            room,
            room_name: welcome.room_name,
            host_name: welcome.host_name,
            you: welcome.you,
            members: welcome.members,
            history: welcome.history,
            host_key,
        },
        SessionEvent::HistoryDone => Event::HistoryDone { room },
        SessionEvent::HistoryReset => Event::HistoryReset { room },
        SessionEvent::Message { message, live } => Event::Message {
            room,
            message,
            live,
        },
        SessionEvent::Pending { seq, text } => Event::Pending { room, seq, text },
        SessionEvent::Accepted { seq, id } => Event::Accepted { room, seq, id },
        SessionEvent::Rejected { seq, reason } => Event::Rejected { room, seq, reason },
        SessionEvent::MemberJoined(member) => Event::MemberJoined { room, member },
        SessionEvent::MemberLeft(member) => Event::MemberLeft { room, member },
        SessionEvent::MemberRenamed(member) => Event::MemberRenamed { room, member },
        SessionEvent::MemberAway { member, away } => Event::MemberAway { room, member, away },
        SessionEvent::Typing { member } => Event::Typing { room, member },
        SessionEvent::Earlier {
            before,
            messages,
            more,
        } => Event::Earlier {
            room,
            before,
            messages,
            more,
        },
        SessionEvent::Direct(direct) => Event::Direct(direct),
        SessionEvent::DirectSent { peer, seq } => Event::DirectSent { peer, seq },
        SessionEvent::DirectFailed { peer, seq, reason } => {
            Event::DirectFailed { peer, seq, reason }
        }
        SessionEvent::People(people) => Event::People(people),
    })
}
