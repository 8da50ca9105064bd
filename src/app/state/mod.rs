//! What the window knows, apart from how it is drawn: rooms on the network, the rooms we are
//! in and their messages. Applies runtime events and turns user intentions into commands.
//! No egui types, so all of it is testable without a window.

use super::attention::{self, Notification, Target};
use crate::bridge::{Command, Event, NetStatus, SessionState};
use crate::protocol::{ChatMessage, DeviceId, Member, RoomId, check_name, check_text};
use crate::store::Settings;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub mod chat;
pub mod directs;
pub mod files;
pub mod history;
pub mod joining;
pub mod preferences;
pub mod rooms;

use chat::GONE_KEPT;
pub use chat::{Chat, KEPT_LINES, Line, TYPING_SHOWN, clock};
use directs::Directs;
pub use directs::{Conversation, PeerKey};
use files::Files;
use history::EARLIER_PATIENCE;
pub use history::{CatchingUp, Older};
pub use joining::Ask;
use preferences::Preferences;
use rooms::Rooms;
pub use rooms::{HostTrust, MyRoom, Probe, Probing, RoomRow};

/// No input for this long and the user counts as away.
pub const AWAY_AFTER: Duration = Duration::from_secs(10 * 60);
/// How often the window says the user is typing in a room, at most.
const TYPING_EVERY: Duration = Duration::from_secs(3);

/// Everything the window shows, minus drawing state.
pub struct AppState {
    /// Our device, from our key, to tell our own messages apart.
    pub me: DeviceId,
    /// Our fingerprint, for others to compare aloud.
    pub fingerprint: String,
    /// Our display name.
    pub name: String,
    /// True until the user has confirmed a display name.
    pub needs_name: bool,
    /// The room list: rooms on the network, the ones we host, the host keys pinned.
    pub rooms: Rooms,
    /// Rooms we are in.
    pub chats: HashMap<RoomId, Chat>,
    /// The room in the main view.
    pub open: Option<RoomId>,
    /// What the network side is doing, for the status line.
    pub network: NetStatus,
    /// A problem to show until dismissed (e.g. hosting failed).
    pub alert: Option<String>,
    /// Commands for the runtime, sent by the window after each frame.
    pub outbox: Vec<Command>,
    /// Set when lanchat was started again on this profile: the window comes to the front.
    pub raise: bool,
    /// A file dialog the user asked for, for the window to open.
    pub picking: Option<super::picker::Pick>,
    /// Whether the window has the keyboard: a message in the open room of a focused window
    /// is read as it arrives.
    pub focused: bool,
    /// Notifications to raise, for the window to hand to the system.
    pub notifications: Vec<Notification>,
    /// Set when a message should make an unfocused window ask for attention.
    pub wants_attention: bool,
    /// When the user last touched the window (any input).
    pub last_input: Instant,
    /// Whether the rooms were told the user is away.
    pub away: bool,
    /// When the window last said the user is typing, per room.
    typing_said: HashMap<RoomId, Instant>,
    /// The conversation in the main view, instead of the open room, if any.
    pub open_direct: Option<DeviceId>,
    /// The question on screen, if any.
    pub asking: Option<Ask>,
    /// The user chose to quit and close their rooms: the next close request is let through.
    pub quitting: bool,
    /// Searching the rooms' histories: what is typed, what was found, the result chosen.
    pub search: super::search::Search,
    /// Direct messages: the conversations, and the keys pinned for the people in them.
    pub directs: Directs,
    /// Transfers, downloads and saved files.
    pub files: Files,
    /// The settings the window shows.
    pub preferences: Preferences,
}

impl AppState {
    /// The state at start, for the device `me`.
    pub fn new(settings: &Settings, me: DeviceId, warning: Option<String>) -> Self {
        Self {
            fingerprint: me.fingerprint().unwrap_or_default(),
            me,
            name: settings.display_name(),
            needs_name: settings.name.is_none(),
            rooms: Rooms::new(settings),
            chats: HashMap::new(),
            open: None,
            network: NetStatus::default(),
            alert: warning,
            outbox: Vec::new(),
            raise: false,
            picking: None,
            focused: true,
            notifications: Vec::new(),
            wants_attention: false,
            last_input: Instant::now(),
            away: false,
            typing_said: HashMap::new(),
            open_direct: None,
            asking: None,
            quitting: false,
            search: Default::default(),
            directs: Directs::default(),
            files: Files::default(),
            preferences: Preferences::new(settings),
        }
    }

    /// Confirms the display name. Returns the reason if it is not acceptable.
    pub fn set_name(&mut self, name: &str) -> Result<(), String> {
        let name = name.trim();
        check_name("Your name", name)?;
        self.name = name.to_owned();
        self.needs_name = false;
        self.outbox.push(Command::SetName(self.name.clone()));
        Ok(())
    }

    /// Sends a message to the open room. On refusal the reason is shown and the caller
    /// keeps the text.
    pub fn send(&mut self, text: &str) -> Result<(), String> {
        let Some(room) = self.open.clone() else {
            return Err("open a room first".into());
        };
        let Some(chat) = self.chats.get_mut(&room) else {
            return Err("open a room first".into());
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if let Err(reason) = check_text(text) {
            chat.error = Some(format!("Not sent: {reason}."));
            return Err(reason);
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

    // ---- runtime events ----

    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Network(status) => self.network = status,
            Event::Hosting {
                room,
                name,
                port,
                locked,
            } => {
                self.rooms
                    .hosting(&room, &name, port, locked, &self.fingerprint);
                self.chats
                    .entry(room.clone())
                    .or_insert_with(|| Chat::new(name, self.name.clone()));
                self.open = Some(room);
            }
            Event::HostFailed { name, error } => {
                self.alert = Some(format!("Could not host \u{201c}{name}\u{201d}: {error}"));
            }
            Event::Session { room, state } => self.session_changed(room, state),
            Event::Joined {
                room,
                room_name,
                host_name,
                you,
                members,
                host_key,
                ..
            } => {
                self.rooms.joined(&room, &room_name, &host_key);
                if let Some(chat) = self.chats.get_mut(&room) {
                    chat.mark_new_messages();
                    chat.room_name = room_name;
                    chat.host_name = host_name;
                    chat.you = Some(you);
                    chat.catching_history = true;
                    chat.gone
                        .retain(|g| !members.iter().any(|m| m.device == g.device));
                    chat.typing.clear();
                    chat.members = members;
                    chat.host_fingerprint = Some(host_key.fingerprint());
                    chat.host_device = Some(host_key.device());
                }
            }
            Event::MemberJoined { room, member } => {
                if let Some(chat) = self.chats.get_mut(&room) {
                    chat.notice(format!("{} joined", super::text::name(&member.name)));
                    chat.gone.retain(|m| m.device != member.device);
                    chat.members.push(member);
                }
            }
            Event::MemberLeft { room, member } => {
                if let Some(chat) = self.chats.get_mut(&room) {
                    chat.members.retain(|m| m.id != member.id);
                    chat.typing.retain(|(id, _)| *id != member.id);
                    chat.notice(format!("{} left", super::text::name(&member.name)));
                    chat.gone.retain(|m| m.device != member.device);
                    chat.gone.push(member);
                    if chat.gone.len() > GONE_KEPT {
                        chat.gone.remove(0);
                    }
                }
            }
            Event::Message {
                room,
                message,
                live,
            } => {
                // Files others share while we are here come by themselves (up to the size the
                // user set); older ones on request.
                if live {
                    self.outbox.extend(files::auto_download(
                        &self.preferences,
                        &self.me,
                        &room,
                        &message,
                    ));
                }
                if live && message.device != self.me {
                    let announce = self.chats.get(&room).is_some_and(|c| !c.catching_history);
                    self.arrived(&room, std::slice::from_ref(&message), announce);
                }
                // Whoever sent it has stopped typing it.
                if let Some(chat) = self.chats.get_mut(&room)
                    && let Some(sender) = chat.members.iter().find(|m| m.device == message.device)
                {
                    let sender = sender.id;
                    chat.typing.retain(|(id, _)| *id != sender);
                }
                let on_screen = self.open_direct.is_none() && self.open.as_ref() == Some(&room);
                if let Some(chat) = self.chats.get_mut(&room) {
                    chat.push_message(message, &self.me);
                    if !on_screen {
                        chat.trim();
                    }
                }
            }
            Event::Behind { room } => {
                if let Some(chat) = self.chats.get_mut(&room) {
                    match &mut chat.catching_up {
                        Some(under_way) => under_way.again = true,
                        None => {
                            let after = chat.newest_id();
                            chat.catching_up = Some(CatchingUp {
                                after,
                                again: false,
                                restart: false,
                            });
                            self.outbox.push(Command::CatchUp { room, after });
                        }
                    }
                }
            }
            Event::CaughtUp {
                room,
                messages,
                more,
            } => {
                if let Some(chat) = self.chats.get_mut(&room)
                    && let Some(under_way) = chat.catching_up
                {
                    if under_way.restart {
                        chat.catching_up = Some(CatchingUp {
                            after: None,
                            again: false,
                            restart: false,
                        });
                        self.outbox.push(Command::CatchUp { room, after: None });
                        return;
                    }
                    let after = messages.last().map(|m| m.id).or(under_way.after);
                    // They came while the window was behind: their files come by themselves,
                    // as live ones' do.
                    for message in &messages {
                        if !(message.file.as_ref()).is_some_and(|f| chat.files.contains(&f.hash)) {
                            self.outbox.extend(files::auto_download(
                                &self.preferences,
                                &self.me,
                                &room,
                                message,
                            ));
                        }
                    }
                    // Missed while the window was behind: counted, not each one announced.
                    let theirs = chat.unseen(&messages, &self.me);
                    self.arrived(&room, &theirs, false);
                    let Some(chat) = self.chats.get_mut(&room) else {
                        return;
                    };
                    chat.merge(messages, &self.me);
                    if more || under_way.again {
                        chat.catching_up = Some(CatchingUp {
                            after,
                            again: false,
                            restart: false,
                        });
                        self.outbox.push(Command::CatchUp { room, after });
                    } else {
                        chat.catching_up = None;
                    }
                }
            }
            Event::MemberRenamed { room, member } => {
                if let Some(chat) = self.chats.get_mut(&room)
                    && let Some(known) = chat.members.iter_mut().find(|m| m.id == member.id)
                {
                    let old = std::mem::replace(&mut known.name, member.name.clone());
                    if member.host {
                        chat.host_name = member.name.clone();
                    }
                    chat.notice(format!(
                        "{} is now called {}",
                        super::text::name(&old),
                        super::text::name(&member.name)
                    ));
                }
            }
            Event::JoinFailed { error } => self.alert = Some(format!("Could not join: {error}")),
            Event::Alert(text) => self.alert = Some(text),
            Event::Restored {
                room,
                room_name,
                host_name,
            } => {
                self.chats
                    .entry(room.clone())
                    .or_insert_with(|| Chat::new(room_name, host_name));
                self.open.get_or_insert(room);
            }
            Event::Pending { room, seq, text } => {
                if let Some(chat) = self.chats.get_mut(&room)
                    && !chat.pending.iter().any(|(s, _)| *s == seq)
                {
                    chat.pending.push((seq, text));
                }
            }
            Event::Accepted { room, seq, .. } => {
                if let Some(chat) = self.chats.get_mut(&room) {
                    chat.pending.retain(|(s, _)| *s != seq);
                }
            }
            Event::Rejected { room, seq, reason } => {
                if let Some(chat) = self.chats.get_mut(&room) {
                    chat.pending.retain(|(s, _)| *s != seq);
                    chat.error = Some(format!("Not sent: {reason}."));
                }
            }
            Event::HistoryDone { room } => {
                if let Some(chat) = self.chats.get_mut(&room) {
                    chat.catching_history = false;
                }
            }
            Event::Direct(d) => {
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
            Event::MemberAway { room, member, away } => {
                if let Some(m) = self
                    .chats
                    .get_mut(&room)
                    .and_then(|c| c.members.iter_mut().find(|m| m.id == member))
                {
                    m.away = away;
                }
            }
            Event::Typing { room, member } => {
                if let Some(chat) = self.chats.get_mut(&room) {
                    let until = Instant::now() + TYPING_SHOWN;
                    chat.typing.retain(|(id, _)| *id != member);
                    chat.typing.push((member, until));
                }
            }
            Event::Earlier {
                room,
                before,
                messages,
                more,
            } => {
                if let Some(chat) = self.chats.get_mut(&room)
                    && chat.older == Older::Asking(before)
                {
                    chat.older = match (messages.is_empty(), more) {
                        (_, false) => Older::Complete,
                        (true, true) => Older::Unavailable,
                        (false, true) => Older::Maybe,
                    };
                    chat.merge(messages, &self.me);
                }
            }
            Event::HistoryReset { room } => {
                if let Some(chat) = self.chats.get_mut(&room) {
                    chat.lines.clear();
                    chat.files.clear();
                    chat.divider = None;
                    chat.older = Older::Maybe;
                    // A catch-up under way reads the new history from its start.
                    if let Some(under_way) = &mut chat.catching_up {
                        under_way.restart = true;
                    }
                    chat.notice(
                        "The host's history of this room started over (it was lost or damaged); it is shown afresh"
                            .into(),
                    );
                }
            }
            Event::SearchResults { query, found } => self.search_answered(query, found),
            Event::Loaded {
                room,
                from,
                messages,
            } => self.loaded(room, from, messages),
            Event::Raise => self.raise = true,
            event @ (Event::RoomFound(_)
            | Event::RoomLost(_)
            | Event::KnownHosts(_)
            | Event::HostingStopped { .. }
            | Event::Probed { .. }) => self.rooms.apply(event),
            event @ (Event::Transfer(_)
            | Event::Thumbnail { .. }
            | Event::Downloads(_)
            | Event::Saved { .. }) => self.files.apply(event),
            event @ (Event::People(_)
            | Event::DirectsKept(_)
            | Event::DirectSent { .. }
            | Event::DirectFailed { .. }) => self.directs.apply(event),
            Event::Stopped => {}
        }
    }

    fn session_changed(&mut self, room: RoomId, state: SessionState) {
        let Some(chat) = self.chats.get_mut(&room) else {
            return;
        };
        let was = std::mem::replace(&mut chat.state, state.clone());
        // A page asked for before the link went will not come; with the host back, ask again.
        chat.older = match (&state, chat.older) {
            (SessionState::Connected, Older::Unavailable) => Older::Maybe,
            (SessionState::Connected, older) => older,
            (_, Older::Asking(_)) => Older::Unavailable,
            (_, older) => older,
        };
        match state {
            SessionState::Connected if matches!(was, SessionState::Waiting(_)) => {
                chat.notice("Back in the room".into());
            }
            SessionState::KeyChanged { known, presented } if was != chat.state => {
                chat.members.clear();
                chat.notice(format!(
                    "Not joined: the host presents the key {} instead of {known}. It may be a different machine pretending to be this room.",
                    presented.fingerprint()
                ));
            }
            SessionState::Waiting(_) | SessionState::Failed(_) if was != chat.state => {
                let why = state.why().unwrap_or_default();
                chat.members.clear();
                let said = chat.lines.iter().rev().find_map(|l| match l {
                    Line::Notice { text, .. } => Some(text),
                    Line::Chat { .. } | Line::NewMessages { .. } => None,
                });
                if said != Some(&why) {
                    chat.notice(why);
                }
            }
            _ => {}
        }
    }

    /// Others' messages that just came into `room`: unread unless the user is looking at
    /// the room; `announce` raises a notification (and the window's call for attention) for
    /// the newest, if the room's setting lets it.
    fn arrived(&mut self, room: &RoomId, messages: &[ChatMessage], announce: bool) {
        if messages.is_empty() || self.looking_at(room) {
            return;
        }
        let Some(chat) = self.chats.get_mut(room) else {
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
            self.notifications
                .push(Notification::of(room, &chat.room_name, newest));
            self.wants_attention = true;
        }
    }

    /// Whether the user sees `room` now: open in a focused window.
    fn looking_at(&self, room: &RoomId) -> bool {
        self.focused && self.open_direct.is_none() && self.open.as_ref() == Some(room)
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
        for (id, chat) in &mut self.chats {
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
            && let Some(chat) = self.chats.get_mut(&room)
        {
            chat.unread = 0;
            chat.mentioned = false;
        }
    }

    /// Unread messages in all rooms and conversations, for the title.
    pub fn unread_total(&self) -> usize {
        self.chats.values().map(|c| c.unread).sum::<usize>()
            + self
                .directs
                .conversations
                .values()
                .map(|c| c.unread)
                .sum::<usize>()
    }

    /// Brings a room or a conversation to the front (a notification clicked).
    pub fn show(&mut self, target: &Target) {
        match target {
            Target::Room(room) => self.show_room(room),
            Target::Direct(peer) => self.open_direct(peer, None),
        }
    }

    /// Where `peer` can be written to now: a room we are in, connected, with them in it.
    pub fn reach(&self, peer: &DeviceId) -> Option<(RoomId, Member)> {
        self.chats.iter().find_map(|(id, chat)| {
            let connected = chat.state == SessionState::Connected;
            let member = chat.members.iter().find(|m| &m.device == peer)?;
            connected.then(|| (id.clone(), member.clone()))
        })
    }

    /// Opens one of our rooms: the next (`step` 1) or previous (-1) in the list after the
    /// open one.
    pub fn switch_room(&mut self, step: isize) {
        let rooms = self.my_rooms();
        if rooms.is_empty() {
            return;
        }
        let at = self
            .open
            .as_ref()
            .and_then(|open| rooms.iter().position(|r| &r.id == open));
        let next = match at {
            Some(at) => (at as isize + step).rem_euclid(rooms.len() as isize) as usize,
            None => 0,
        };
        self.show_room(&rooms[next].id);
    }

    /// Brings one of our rooms to the front (the room list, a notification clicked).
    pub fn show_room(&mut self, room: &RoomId) {
        if self.chats.contains_key(room) {
            self.open = Some(room.clone());
            self.open_direct = None;
            self.look(self.focused);
        }
    }

    /// The window saw input at `now`: the user is here (and the rooms hear so, if they had
    /// heard otherwise).
    pub fn input_seen(&mut self, now: Instant) {
        self.last_input = now;
        if self.away {
            self.away = false;
            self.outbox.push(Command::Presence { away: false });
        }
    }

    /// Time passes: a user without input for [`AWAY_AFTER`] is away, and typing shown runs
    /// out. Returns when something will change next without input, for the window to look
    /// again then (and not before: an idle window draws nothing).
    pub fn tick(&mut self, now: Instant) -> Option<Instant> {
        let away_at = self.last_input + AWAY_AFTER;
        if !self.away && now >= away_at {
            self.away = true;
            self.outbox.push(Command::Presence { away: true });
        }
        let mut next = (!self.away).then_some(away_at);
        for chat in self.chats.values_mut() {
            if let (Older::Asking(_), Some(asked)) = (chat.older, chat.older_asked) {
                let given_up = asked + EARLIER_PATIENCE;
                if now >= given_up {
                    chat.older = Older::Unavailable;
                } else {
                    next = Some(next.map_or(given_up, |n| n.min(given_up)));
                }
            }
            chat.typing.retain(|(_, until)| *until > now);
            if let Some(until) = chat.typing.iter().map(|(_, until)| *until).min() {
                next = Some(next.map_or(until, |n| n.min(until)));
            }
        }
        next
    }

    /// The user typed in `room`'s composer: its members hear so, every few seconds at most.
    pub fn typed(&mut self, room: &RoomId, now: Instant) {
        if self
            .typing_said
            .get(room)
            .is_some_and(|at| now.duration_since(*at) < TYPING_EVERY)
        {
            return;
        }
        self.typing_said.insert(room.clone(), now);
        self.outbox.push(Command::Typing { room: room.clone() });
    }

    /// Asks for the page of `room`'s history before the oldest message shown (the user
    /// scrolled to the top), unless one is on its way or there is none.
    pub fn ask_earlier(&mut self, room: &RoomId) {
        let Some(chat) = self.chats.get_mut(room) else {
            return;
        };
        if matches!(chat.older, Older::Asking(_) | Older::Complete) {
            return;
        }
        let oldest = chat.message_ids().next();
        match oldest {
            // Ids start at 0 in each history: nothing is before the first.
            Some(0) => chat.older = Older::Complete,
            Some(oldest) => {
                chat.older = Older::Asking(oldest);
                chat.older_asked = Some(Instant::now());
                self.outbox.push(Command::Earlier {
                    room: room.clone(),
                    before: oldest,
                });
            }
            None => {}
        }
    }

    /// True if this message is ours.
    pub fn is_mine(&self, message: &ChatMessage) -> bool {
        message.device == self.me
    }
}

/// Ada's window state, with a fresh device, for the front end's unit tests.
#[cfg(test)]
pub(crate) fn test_state() -> AppState {
    let settings = Settings {
        name: Some("Ada".into()),
        ..Settings::default()
    };
    AppState::new(
        &settings,
        crate::net::identity::Identity::generate().device(),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::chat::TRIM_SLACK;
    use super::*;
    use crate::discovery::RoomAd;
    use crate::net::identity::PublicKey;
    use crate::protocol::PROTOCOL_VERSION;

    fn state() -> AppState {
        test_state()
    }

    fn ad(id: &str, name: &str) -> RoomAd {
        RoomAd {
            id: RoomId::parse(id).unwrap(),
            name: name.into(),
            host: "Bob".into(),
            members: 2,
            locked: false,
            protocol: PROTOCOL_VERSION,
            addrs: vec!["10.0.0.2:4000".parse().unwrap()],
            fingerprint: Some("BBBB-BBBB-BBBB-BBBB".into()),
        }
    }

    fn message(id: u64, device: &DeviceId) -> ChatMessage {
        ChatMessage {
            id,
            ts: 0,
            from: "Bob".into(),
            device: device.clone(),
            text: format!("m{id}"),
            file: None,
        }
    }

    #[test]
    fn joining_from_the_list_sends_join_with_the_advertised_addresses() {
        let mut s = state();
        s.apply(Event::RoomFound(ad("r1", "Lab")));
        assert_eq!(s.room_rows().len(), 1);
        s.open_room(&ad("r1", "Lab").key());
        assert!(matches!(&s.outbox[..], [Command::Join { addrs, .. }] if addrs.len() == 1));
        assert!(s.room_rows()[0].joined);
        s.apply(Event::RoomLost(ad("r1", "Lab").key()));
        assert!(s.room_rows().is_empty());
    }

    #[test]
    fn a_lost_host_and_its_return_are_told_once() {
        let mut s = state();
        let room = RoomId::parse("r1").unwrap();
        s.apply(Event::RoomFound(ad("r1", "Lab")));
        s.open_room(&ad("r1", "Lab").key());
        let bob = DeviceId::parse("bob").unwrap();
        for id in [1, 2, 3] {
            s.apply(Event::Message {
                live: true,
                room: room.clone(),
                message: message(id, &bob),
            });
        }
        s.apply(Event::Session {
            room: room.clone(),
            state: SessionState::Waiting(crate::bridge::Waiting::HostLeft { host: "Bob".into() }),
        });
        s.apply(Event::Session {
            room: room.clone(),
            state: SessionState::Connected,
        });
        let chat = &s.chats[&room];
        let ids: Vec<u64> = chat.message_ids().collect();
        assert_eq!(ids, vec![1, 2, 3]);
        let notices: Vec<&str> = chat
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Notice { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            notices,
            vec![
                "Bob left — waiting for the room to come back",
                "Back in the room"
            ]
        );
    }

    #[test]
    fn a_window_that_fell_behind_catches_up_in_order_once() {
        let mut s = state();
        let room = RoomId::parse("r1").unwrap();
        s.apply(Event::RoomFound(ad("r1", "Lab")));
        s.open_room(&ad("r1", "Lab").key());
        s.outbox.clear();
        let bob = DeviceId::parse("bob").unwrap();
        let live = |s: &mut AppState, id| {
            s.apply(Event::Message {
                live: true,
                room: room.clone(),
                message: message(id, &bob),
            })
        };
        live(&mut s, 1);
        live(&mut s, 2);
        // 3..=6 were not queued; the runtime says so, and the window asks after 2.
        s.apply(Event::Behind { room: room.clone() });
        assert!(s.chats[&room].catching_up.is_some());
        assert!(matches!(
            &s.outbox[..],
            [Command::CatchUp { after: Some(2), .. }]
        ));
        s.outbox.clear();
        // Live ones come again while the first page is read, and it falls behind once more.
        live(&mut s, 7);
        s.apply(Event::Behind { room: room.clone() });
        assert!(s.outbox.is_empty(), "one catch-up at a time");
        s.apply(Event::CaughtUp {
            room: room.clone(),
            messages: (3..=5).map(|id| message(id, &bob)).collect(),
            more: false,
        });
        // It fell behind again meanwhile: read on after the page.
        assert!(matches!(
            &s.outbox[..],
            [Command::CatchUp { after: Some(5), .. }]
        ));
        s.outbox.clear();
        s.apply(Event::CaughtUp {
            room: room.clone(),
            messages: (6..=9).map(|id| message(id, &bob)).collect(),
            more: false,
        });
        assert!(s.outbox.is_empty());
        let chat = &s.chats[&room];
        assert_eq!(chat.catching_up, None);
        let ids: Vec<u64> = chat.message_ids().collect();
        assert_eq!(ids, (1..=9).collect::<Vec<_>>());
        assert!(chat.reshaped > 0, "lines put in between are drawn afresh");
    }

    /// Welcomed into `room` (hosted by Bob), whose host proved `host_key`.
    fn joined(room: &RoomId, host_key: PublicKey) -> Event {
        Event::Joined {
            room: room.clone(),
            room_name: "Lab".into(),
            host_name: "Bob".into(),
            you: 2,
            members: Vec::new(),
            history: 0,
            host_key,
        }
    }

    /// The counts of a room's "new messages" dividers, in order.
    fn dividers(s: &AppState, room: &RoomId) -> Vec<usize> {
        s.chats[room]
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::NewMessages { count } => Some(*count),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_room_from_the_last_run_comes_back_with_its_pending_lines_and_counts_what_is_new() {
        let mut s = state();
        let room = RoomId::parse("r1").unwrap();
        s.apply(Event::Restored {
            room: room.clone(),
            room_name: "Lab".into(),
            host_name: "Bob".into(),
        });
        assert_eq!(s.open.as_ref(), Some(&room), "the room is back, and open");
        let bob = DeviceId::parse("bob").unwrap();
        let said = |s: &mut AppState, id, live| {
            s.apply(Event::Message {
                live,
                room: room.clone(),
                message: message(id, &bob),
            })
        };
        said(&mut s, 1, false); // seen in the last run
        for _ in 0..2 {
            s.apply(Event::Pending {
                room: room.clone(),
                seq: 9,
                text: "typed while away".into(),
            });
        }
        assert_eq!(s.chats[&room].pending.len(), 1, "shown once");
        s.apply(joined(
            &room,
            crate::net::identity::Identity::generate().public(),
        ));
        said(&mut s, 2, true);
        said(&mut s, 3, true);
        assert_eq!(
            dividers(&s, &room),
            [2],
            "one divider, before the two new messages"
        );
        assert!(matches!(s.chats[&room].lines[1], Line::NewMessages { .. }));
        // Back again later: the old divider goes quiet, a new one counts on.
        s.apply(joined(
            &room,
            crate::net::identity::Identity::generate().public(),
        ));
        said(&mut s, 4, true);
        assert_eq!(dividers(&s, &room), [0, 1]);
        s.apply(Event::Accepted {
            room: room.clone(),
            seq: 9,
            id: 5,
        });
        assert!(s.chats[&room].pending.is_empty());
    }

    #[test]
    fn a_locked_room_waits_for_its_password_and_a_second_key_is_flagged() {
        let mut s = state();
        let locked = RoomAd {
            locked: true,
            ..ad("r1", "Lab")
        };
        s.apply(Event::RoomFound(locked.clone()));
        s.open_room(&locked.key());
        assert!(s.outbox.is_empty(), "nothing is sent before the password");
        let room = locked.id.clone();
        assert!(matches!(
            s.chats[&room].state,
            SessionState::NeedsPassword(_)
        ));
        assert!(s.give_password(&room, "").is_err());
        s.give_password(&room, "tulip").unwrap();
        assert!(matches!(&s.outbox[..], [Command::Join { password: Some(p), .. }] if p == "tulip"));
        s.outbox.clear();
        // Refused: the same session is given the next try.
        s.apply(Event::Session {
            room: room.clone(),
            state: SessionState::NeedsPassword("wrong password".into()),
        });
        s.give_password(&room, "tulips").unwrap();
        assert!(
            matches!(&s.outbox[..], [Command::Unlock { password, .. }] if password == "tulips")
        );

        // Pinned on joining; a second host claiming the room is its own, flagged row.
        let key = crate::net::identity::Identity::generate().public();
        s.apply(joined(&room, key));
        let real = RoomAd {
            fingerprint: Some(key.fingerprint()),
            ..locked.clone()
        };
        s.apply(Event::RoomLost(locked.key()));
        s.apply(Event::RoomFound(real));
        s.apply(Event::RoomFound(ad("r1", "Lab")));
        let trust: Vec<HostTrust> = s.room_rows().iter().map(|r| r.trust).collect();
        assert_eq!(trust.len(), 2);
        assert!(trust.contains(&HostTrust::Known) && trust.contains(&HostTrust::Different));
    }

    #[test]
    fn a_locked_room_claiming_another_key_is_asked_about_before_any_password() {
        let mut s = state();
        let room = RoomId::parse("r1").unwrap();
        s.apply(Event::KnownHosts(vec![(
            room.clone(),
            "AAAA-AAAA-AAAA-AAAA".into(),
            "Lab".into(),
        )]));
        let other = RoomAd {
            locked: true,
            ..ad("r1", "Lab")
        };
        s.apply(Event::RoomFound(other.clone()));
        s.open_room(&other.key());
        assert!(
            matches!(&s.outbox[..], [Command::Join { password: None, .. }]),
            "joined for the key check first: {:?}",
            s.outbox
        );
    }

    #[test]
    fn a_room_named_like_one_joined_before_is_not_joined_until_the_user_says_so() {
        let mut s = state();
        let joined = RoomId::parse("r1").unwrap();
        s.apply(Event::KnownHosts(vec![(
            joined,
            "AAAA-AAAA-AAAA-AAAA".into(),
            "Lab".into(),
        )]));
        let lookalike = ad("r2", "Lab");
        s.apply(Event::RoomFound(lookalike.clone()));
        s.apply(Event::RoomFound(ad("r3", "Kitchen")));
        let trust: Vec<(String, HostTrust)> = s
            .room_rows()
            .iter()
            .map(|r| (r.name.clone(), r.trust))
            .collect();
        assert!(
            trust.contains(&("Lab".into(), HostTrust::Lookalike)),
            "{trust:?}"
        );
        assert!(
            trust.contains(&("Kitchen".into(), HostTrust::New)),
            "{trust:?}"
        );
        s.open_room(&lookalike.key());
        assert!(s.outbox.is_empty(), "joined before asking: {:?}", s.outbox);
        let room = lookalike.id.clone();
        assert!(s.chats[&room].lookalike);
        s.join_lookalike(&room);
        assert!(matches!(&s.outbox[..], [Command::Join { room: r, .. }] if *r == room));
    }

    #[test]
    fn a_room_of_another_version_says_which_side_must_update() {
        let mut s = state();
        s.apply(Event::RoomFound(RoomAd {
            protocol: PROTOCOL_VERSION + 1,
            ..ad("r1", "Lab")
        }));
        let why = s.room_rows()[0].unjoinable.clone().unwrap();
        assert!(
            why.starts_with("Bob's room runs a newer lanchat — update to join"),
            "{why}"
        );
    }

    #[test]
    fn oversized_text_is_refused_and_kept_for_the_user() {
        let mut s = state();
        s.apply(Event::Hosting {
            room: RoomId::parse("r1").unwrap(),
            name: "Mine".into(),
            port: 1,
            locked: false,
        });
        let big = "x".repeat(crate::protocol::MAX_TEXT_BYTES + 1);
        assert!(s.send(&big).is_err());
        let chat = s.chats.values().next().unwrap();
        assert!(chat.error.as_deref().unwrap().contains("limit is 64 KiB"));
        assert!(s.outbox.is_empty());
        s.send("hello\n").unwrap();
        assert!(matches!(&s.outbox[..], [Command::Send { text, .. }] if text == "hello"));
    }

    #[test]
    fn away_after_ten_quiet_minutes_back_on_input_and_typing_runs_out() {
        let mut s = state();
        let start = s.last_input;
        assert_eq!(
            s.tick(start),
            Some(start + AWAY_AFTER),
            "looks again when away is due"
        );
        s.tick(start + AWAY_AFTER);
        assert!(s.away);
        assert!(matches!(&s.outbox[..], [Command::Presence { away: true }]));
        s.outbox.clear();
        assert_eq!(
            s.tick(start + AWAY_AFTER * 2),
            None,
            "nothing to look again for"
        );
        assert!(s.outbox.is_empty(), "said once");
        s.input_seen(start + AWAY_AFTER * 2);
        assert!(matches!(&s.outbox[..], [Command::Presence { away: false }]));
        s.outbox.clear();

        // Typing is said every few seconds at most, and shown until it runs out.
        let room = RoomId::parse("r1").unwrap();
        let now = Instant::now();
        s.typed(&room, now);
        s.typed(&room, now + Duration::from_secs(1));
        assert_eq!(s.outbox.len(), 1);
        s.typed(&room, now + TYPING_EVERY);
        assert_eq!(s.outbox.len(), 2);
        s.apply(Event::Restored {
            room: room.clone(),
            room_name: "Lab".into(),
            host_name: "Bob".into(),
        });
        let bob = Member {
            id: 4,
            name: "Bob".into(),
            device: DeviceId::parse("bob").unwrap(),
            host: true,
            away: false,
            key: None,
        };
        s.apply(Event::MemberJoined {
            room: room.clone(),
            member: bob.clone(),
        });
        s.apply(Event::Typing {
            room: room.clone(),
            member: 4,
        });
        let shown = Instant::now();
        assert_eq!(s.chats[&room].typists(shown), vec!["Bob"]);
        let runs_out = s.tick(shown).unwrap();
        assert!(runs_out <= shown + TYPING_SHOWN);
        assert!(s.chats[&room].typists(shown + TYPING_SHOWN).is_empty());
        // A message from the typist ends it at once; leaving makes a member gone.
        s.apply(Event::Typing {
            room: room.clone(),
            member: 4,
        });
        s.apply(Event::Message {
            room: room.clone(),
            message: message(1, &bob.device),
            live: true,
        });
        assert!(s.chats[&room].typists(Instant::now()).is_empty());
        s.apply(Event::MemberAway {
            room: room.clone(),
            member: 4,
            away: true,
        });
        assert!(s.chats[&room].members[0].away);
        s.apply(Event::MemberLeft {
            room: room.clone(),
            member: bob.clone(),
        });
        assert_eq!(s.chats[&room].gone, vec![bob.clone()]);
        s.apply(Event::MemberJoined {
            room: room.clone(),
            member: bob,
        });
        assert!(s.chats[&room].gone.is_empty(), "back, not gone");
    }

    /// We are in two rooms, "lab" and "other"; "other" is on screen.
    fn two_rooms() -> (AppState, RoomId, RoomId) {
        let mut s = state();
        let (lab, other) = (
            RoomId::parse("lab").unwrap(),
            RoomId::parse("other").unwrap(),
        );
        for room in [&lab, &other] {
            s.apply(Event::Restored {
                room: room.clone(),
                room_name: "Lab".into(),
                host_name: "Bob".into(),
            });
        }
        s.show_room(&other);
        (s, lab, other)
    }

    #[test]
    fn what_was_said_while_away_is_counted_not_announced_one_by_one() {
        let (mut s, lab, _) = two_rooms();
        s.apply(joined(
            &lab,
            crate::net::identity::Identity::generate().public(),
        ));
        let bob = DeviceId::parse("bob").unwrap();
        // Catching up after a restart: what it brings was said while we were away.
        for id in 0..300 {
            s.apply(Event::Message {
                room: lab.clone(),
                message: message(id, &bob),
                live: true,
            });
        }
        assert_eq!(s.chats[&lab].unread, 300);
        assert!(s.notifications.is_empty());
        s.apply(Event::HistoryDone { room: lab.clone() });
        s.apply(Event::Message {
            room: lab.clone(),
            message: message(300, &bob),
            live: true,
        });
        assert_eq!(s.notifications.len(), 1, "news from now on is announced");
    }

    #[test]
    fn a_room_not_on_screen_keeps_its_newest_messages_and_can_page_back_the_rest() {
        let (mut s, lab, other) = two_rooms();
        let bob = DeviceId::parse("bob").unwrap();
        let total = KEPT_LINES + TRIM_SLACK + 10;
        for room in [&lab, &other] {
            for id in 0..total as u64 {
                s.apply(Event::Message {
                    room: room.clone(),
                    message: message(id, &bob),
                    live: false,
                });
            }
        }
        assert_eq!(
            s.chats[&other].lines.len(),
            total,
            "the room on screen keeps all"
        );
        let lab_ids: Vec<u64> = s.chats[&lab].message_ids().collect();
        assert!(lab_ids.len() <= KEPT_LINES + TRIM_SLACK);
        assert_eq!(
            lab_ids.last(),
            Some(&(total as u64 - 1)),
            "the newest are kept"
        );
        assert_eq!(s.chats[&lab].older, Older::Maybe);
        s.show_room(&lab);
        s.outbox.clear();
        s.ask_earlier(&lab);
        assert!(
            matches!(&s.outbox[..], [Command::Earlier { before, .. }] if *before == lab_ids[0])
        );
        // The room that was on screen lets go of its oldest lines once another is.
        assert!(s.chats[&other].lines.len() <= KEPT_LINES + TRIM_SLACK);
    }
}
