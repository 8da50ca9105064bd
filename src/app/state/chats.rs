//! The rooms we are in, and the user's presence in them: each room's [`Chat`] takes what
//! the runtime says of it; the user's posts and typing go out, and a user quiet for
//! [`AWAY_AFTER`] is said to be away. A room's history beyond what arrives live is in
//! [`super::history`]; its unread count in [`super::unread`].

use super::AppState;
use super::chat::Chat;
use crate::bridge::{Command, Event, SessionState};
use crate::protocol::{ChatMessage, DeviceId, Member, RoomId, check_text};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// No input for this long and the user counts as away.
pub const AWAY_AFTER: Duration = Duration::from_secs(10 * 60);
/// How often the window says the user is typing in a room, at most.
pub(super) const TYPING_EVERY: Duration = Duration::from_secs(3);

/// The rooms we are in, and how the user stands in them.
#[derive(Debug)]
pub struct Chats {
    /// Each room we are in (or are joining), by id.
    pub rooms: HashMap<RoomId, Chat>,
    /// When the user last touched the window (any input).
    pub last_input: Instant,
    /// Whether the rooms were told the user is away.
    pub away: bool,
    /// When the window last said the user is typing, per room: said again only every
    /// [`TYPING_EVERY`].
    typing_said: HashMap<RoomId, Instant>,
}

impl Default for Chats {
    fn default() -> Self {
        Self {
            rooms: HashMap::new(),
            last_input: Instant::now(),
            away: false,
            typing_said: HashMap::new(),
        }
    }
}

/// Read as the map of rooms: the views look a room's chat up by id.
impl std::ops::Deref for Chats {
    type Target = HashMap<RoomId, Chat>;

    fn deref(&self) -> &Self::Target {
        &self.rooms
    }
}

impl Chats {
    /// Takes what the runtime says of the rooms we are in, each room's to its [`Chat`];
    /// other events are not this part's. `me` is our device, to tell our messages apart.
    pub(super) fn apply(&mut self, event: Event, me: &DeviceId) {
        match event {
            Event::Joined {
                room,
                room_name,
                host_name,
                you,
                members,
                host_key,
                ..
            } => self.in_room(&room, |chat| {
                chat.welcomed(room_name, host_name, you, members, &host_key);
            }),
            Event::Session { room, state } => self.in_room(&room, |c| c.session_changed(state)),
            Event::MemberJoined { room, member } => {
                self.in_room(&room, |c| c.member_joined(member))
            }
            Event::MemberLeft { room, member } => self.in_room(&room, |c| c.member_left(member)),
            Event::MemberRenamed { room, member } => {
                self.in_room(&room, |c| c.member_renamed(member));
            }
            Event::MemberAway { room, member, away } => {
                self.in_room(&room, |c| c.member_away(member, away));
            }
            Event::Typing { room, member } => self.in_room(&room, |c| c.member_typing(member)),
            Event::Pending { room, seq, text } => {
                self.in_room(&room, |c| c.still_pending(seq, text))
            }
            Event::Accepted { room, seq, .. } => self.in_room(&room, |c| c.answered(seq, None)),
            Event::Rejected { room, seq, reason } => {
                self.in_room(&room, |c| c.answered(seq, Some(reason)));
            }
            Event::HistoryDone { room } => self.in_room(&room, |c| c.catching_history = false),
            Event::Behind { room } => self.in_room(&room, |c| c.catching_up = true),
            Event::Earlier {
                room,
                before,
                messages,
                more,
            } => self.in_room(&room, |c| c.earlier(before, messages, more, me)),
            Event::HistoryReset { room } => self.in_room(&room, |c| c.history_reset()),
            _ => {}
        }
    }

    /// A room we host or are joining again (from the last run) is entered: its chat, unless
    /// it has one.
    pub(super) fn enter(&mut self, room: RoomId, name: String, host: String) {
        self.rooms
            .entry(room)
            .or_insert_with(|| Chat::new(name, host));
    }

    /// Does `then` to `room`'s chat, if we are in it (an event may come after leaving).
    fn in_room(&mut self, room: &RoomId, then: impl FnOnce(&mut Chat)) {
        if let Some(chat) = self.rooms.get_mut(room) {
            then(chat);
        }
    }

    /// Where `peer` can be written to now: a room we are in, connected, with them in it.
    pub fn reach(&self, peer: &DeviceId) -> Option<(RoomId, Member)> {
        self.rooms.iter().find_map(|(id, chat)| {
            let connected = chat.state == SessionState::Connected;
            let member = chat.members.iter().find(|m| &m.device == peer)?;
            connected.then(|| (id.clone(), member.clone()))
        })
    }

    /// The user typed in `room`'s composer: its members hear so, every few seconds at most.
    pub fn typed(&mut self, room: &RoomId, now: Instant, outbox: &mut Vec<Command>) {
        if self
            .typing_said
            .get(room)
            .is_some_and(|at| now.duration_since(*at) < TYPING_EVERY)
        {
            return;
        }
        self.typing_said.insert(room.clone(), now);
        outbox.push(Command::Typing { room: room.clone() });
    }

    /// The window saw input at `now`: the user is here (and the rooms hear so, if they had
    /// heard otherwise).
    pub fn input_seen(&mut self, now: Instant, outbox: &mut Vec<Command>) {
        self.last_input = now;
        if self.away {
            self.away = false;
            outbox.push(Command::Presence { away: false });
        }
    }

    /// Time passes: a user without input for [`AWAY_AFTER`] is away, typing shown runs out,
    /// and a page of history that never came is given up on. Returns when something will
    /// change next without input, for the window to look again then (and not before: an
    /// idle window draws nothing).
    pub fn tick(&mut self, now: Instant, outbox: &mut Vec<Command>) -> Option<Instant> {
        let away_at = self.last_input + AWAY_AFTER;
        if !self.away && now >= away_at {
            self.away = true;
            outbox.push(Command::Presence { away: true });
        }
        let mut next = (!self.away).then_some(away_at);
        for chat in self.rooms.values_mut() {
            let due = [chat.give_up_on_earlier(now), chat.typing_runs_out(now)];
            next = due.into_iter().flatten().chain(next).min();
        }
        next
    }
}

/// Messages in and out of the room: each touches more than its chat.
impl AppState {
    /// The user typed in `room`'s composer.
    pub fn typed(&mut self, room: &RoomId, now: Instant) {
        self.chats.typed(room, now, &mut self.outbox);
    }

    /// The window saw input at `now`.
    pub fn input_seen(&mut self, now: Instant) {
        self.chats.input_seen(now, &mut self.outbox);
    }

    /// Time passes (see [`Chats::tick`]); returns when to look again.
    pub fn tick(&mut self, now: Instant) -> Option<Instant> {
        self.chats.tick(now, &mut self.outbox)
    }

    /// Where `peer` can be written to now (see [`Chats::reach`]).
    pub fn reach(&self, peer: &DeviceId) -> Option<(RoomId, Member)> {
        self.chats.reach(peer)
    }

    /// A message in `room`; `live` if said just now, not history sent on joining. It may be
    /// unread. (Its file, if it saves itself, the runtime is fetching already.)
    pub(super) fn message(&mut self, room: RoomId, message: ChatMessage, live: bool) {
        if live && message.device != self.me {
            let announce = (self.chats.rooms.get(&room)).is_some_and(|c| !c.catching_history);
            self.arrived(&room, std::slice::from_ref(&message), announce);
        }
        let on_screen = self.on_screen(&room);
        if let Some(chat) = self.chats.rooms.get_mut(&room) {
            chat.said(message, &self.me, on_screen);
        }
    }

    /// Sends a message to the open room. On refusal the reason is shown and the caller
    /// keeps the text.
    pub fn send(&mut self, text: &str) -> Result<(), String> {
        let Some(room) = self.open.clone() else {
            return Err("open a room first".into());
        };
        let Some(chat) = self.chats.rooms.get_mut(&room) else {
            return Err("open a room first".into());
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if let Err(reason) = check_text(text) {
            chat.error = Some(format!("Not sent: {reason}."));
            return Err(reason.to_string());
        }
        let seq = crate::protocol::new_post_seq();
        chat.error = None;
        chat.pending.push((seq, text.to_owned()));
        self.outbox.push(Command::Send {
            room,
            seq,
            text: text.to_owned(),
        });
        Ok(())
    }
}
