//! What the window knows, apart from how it is drawn, in parts that each own one concern:
//!
//! - [`rooms`]: the room list (rooms on the network, ours, the host keys pinned, "join by
//!   address"); [`joining`]: getting into a room and leaving it;
//! - [`chats`]: the rooms we are in and the user's presence in them, one [`chat::Chat`]
//!   each; [`history`]: a room's history beyond what arrives live; [`unread`]: what the
//!   user has not seen yet;
//! - [`directs`]: direct messages, and the keys pinned for the people in them;
//! - [`files`]: transfers and downloads (which files save themselves the runtime decides);
//! - [`preferences`]: the settings the window shows;
//! - [`search`]: searching the rooms' histories.
//!
//! [`AppState`] holds the parts and what spans them: who we are, what is on screen, and what
//! goes out to the window and the runtime. It takes the runtime's events
//! ([`AppState::apply`]) and turns the user's intentions into commands. No egui types, so all
//! of it is testable without a window.

pub mod chat;
pub mod chats;
pub mod directs;
pub mod files;
pub mod history;
pub mod joining;
pub mod preferences;
pub mod rooms;
pub mod search;
pub mod unread;

pub use chat::{Chat, KEPT_LINES, Line, TYPING_SHOWN, clock};
pub use chats::AWAY_AFTER;
pub use directs::{Conversation, PeerKey};
pub use history::Older;
pub use joining::Ask;
pub use rooms::{HostTrust, MyRoom, Probe, Probing, RoomRow};

use super::attention::{Notification, Target};
use crate::bridge::{Command, Event, NetStatus};
use crate::protocol::{ChatMessage, DeviceId, RoomId, check_name};
use crate::store::{Change, Settings};
use chats::Chats;
use directs::Directs;
use files::Files;
use preferences::Preferences;
use rooms::Rooms;

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
    /// The rooms we are in, and the user's presence in them.
    pub chats: Chats,
    /// Direct messages: the conversations, and the keys pinned for the people in them.
    pub directs: Directs,
    /// Transfers, downloads and saved files.
    pub files: Files,
    /// The settings the window shows.
    pub preferences: Preferences,
    /// Searching the rooms' histories: what is typed, what was found, the result chosen.
    pub search: search::Search,
    /// The room in the main view.
    pub open: Option<RoomId>,
    /// The conversation in the main view, instead of the open room, if any.
    pub open_direct: Option<DeviceId>,
    /// Whether the window has the keyboard: a message in the open room of a focused window
    /// is read as it arrives.
    pub focused: bool,
    /// What the network side is doing, for the status line.
    pub network: NetStatus,
    /// A problem to show until dismissed (e.g. hosting failed).
    pub alert: Option<String>,
    /// With the alert, a path the user may copy (a file that could not be shown).
    pub alert_path: Option<std::path::PathBuf>,
    /// The question on screen, if any.
    pub asking: Option<Ask>,
    /// The user chose to quit and close their rooms: the next close request is let through.
    pub quitting: bool,
    /// Set when lanchat was started again on this profile: the window comes to the front.
    pub raise: bool,
    /// A file dialog the user asked for, for the window to open.
    pub picking: Option<super::picker::Pick>,
    /// The user asked for the window to go away with the rooms open ("Keep hosting in the
    /// background"): into the tray, or minimised (see `app::background`).
    pub to_background: bool,
    /// Whether the network diagnostics are open, as the runtime was last told.
    diagnosing: bool,
    /// Notifications to raise, for the window to hand to the system.
    pub notifications: Vec<Notification>,
    /// Set when a message should make an unfocused window ask for attention.
    pub wants_attention: bool,
    /// Commands for the runtime, sent by the window after each frame.
    pub outbox: Vec<Command>,
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
            chats: Chats::default(),
            directs: Directs::default(),
            files: Files::default(),
            preferences: Preferences::new(settings),
            search: Default::default(),
            open: None,
            open_direct: None,
            focused: true,
            network: NetStatus::default(),
            alert: warning,
            alert_path: None,
            asking: None,
            quitting: false,
            raise: false,
            picking: None,
            diagnosing: false,
            to_background: false,
            notifications: Vec::new(),
            wants_attention: false,
            outbox: Vec::new(),
        }
    }

    /// A problem to show until dismissed, in words (with a path to copy, for a file that
    /// could not be shown).
    fn alerted(&mut self, event: Event) {
        let (text, path) = match event {
            Event::HostFailed { name, error } => (
                format!("Could not host \u{201c}{name}\u{201d}: {error}"),
                None,
            ),
            Event::JoinFailed { error } => (format!("Could not join: {error}"), None),
            Event::Alert(text) => (text, None),
            Event::NotOpened { path, error } => {
                let what = path.file_name().unwrap_or_default().to_string_lossy();
                let text = format!(
                    "Nothing here could show {what} ({error}). It is at {}",
                    path.display()
                );
                (text, Some(path))
            }
            _ => return,
        };
        (self.alert, self.alert_path) = (Some(text), path);
    }

    /// Takes in what the runtime says. Each event goes to the part that owns what it is
    /// about; those that also open a room or touch another part are followed here. One arm
    /// per event (a match over the protocol's events is the clearest form), so that a new
    /// event cannot go unplaced.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Network(status) => self.network = status,
            event @ (Event::HostFailed { .. }
            | Event::JoinFailed { .. }
            | Event::Alert(_)
            | Event::NotOpened { .. }) => self.alerted(event),
            Event::Raise => self.raise = true,
            Event::Stopped => {}
            Event::Hosting {
                room,
                name,
                port,
                locked,
            } => {
                self.rooms
                    .hosting(&room, &name, port, locked, &self.fingerprint);
                self.chats.enter(room.clone(), name, self.name.clone());
                self.open = Some(room);
            }
            Event::Restored {
                room,
                room_name,
                host_name,
            } => {
                self.chats.enter(room.clone(), room_name, host_name);
                self.open.get_or_insert(room);
            }
            Event::Joined {
                ref room,
                ref room_name,
                ref host_key,
                ..
            } => {
                self.rooms.joined(room, room_name, host_key);
                self.chats.apply(event, &self.me);
            }
            Event::Message {
                room,
                message,
                live,
            } => self.message(room, message, live),
            Event::Missed {
                room,
                messages,
                done,
            } => self.missed(room, messages, done),
            // The bridge reads pages back for us, and hands them over as `Missed`.
            Event::CaughtUp { .. } => {}
            Event::Direct(direct) => self.direct(direct),
            Event::SearchResults { query, found } => self.search_answered(query, found),
            Event::Loaded {
                room,
                from,
                messages,
            } => self.loaded(room, from, messages),
            event @ (Event::RoomFound(_)
            | Event::RoomLost(_)
            | Event::KnownHosts(_)
            | Event::HostingStopped { .. }
            | Event::Probed { .. }) => self.rooms.apply(event),
            Event::MemberRenamed { ref member, .. } => {
                self.directs.renamed(&member.device, &member.name);
                self.chats.apply(event, &self.me);
            }
            event @ (Event::Session { .. }
            | Event::MemberJoined { .. }
            | Event::MemberLeft { .. }
            | Event::MemberAway { .. }
            | Event::Typing { .. }
            | Event::Pending { .. }
            | Event::Accepted { .. }
            | Event::Rejected { .. }
            | Event::HistoryDone { .. }
            | Event::Behind { .. }
            | Event::Earlier { .. }
            | Event::HistoryReset { .. }) => self.chats.apply(event, &self.me),
            event @ (Event::People(_)
            | Event::DirectsKept(_)
            | Event::DirectSent { .. }
            | Event::DirectFailed { .. }) => self.directs.apply(event),
            event @ (Event::Transfer(_)
            | Event::Arriving(_)
            | Event::Thumbnail { .. }
            | Event::Downloads(_)
            | Event::Saved { .. }) => self.files.apply(event),
        }
    }

    /// Confirms the display name. Returns the reason if it is not acceptable.
    pub fn set_name(&mut self, name: &str) -> Result<(), String> {
        let name = name.trim();
        check_name("Your name", name).map_err(|e| e.to_string())?;
        self.name = name.to_owned();
        self.needs_name = false;
        let change = Change::Name(self.name.clone());
        self.preferences.change(change, &mut self.outbox);
        Ok(())
    }

    /// True if this message is ours.
    pub fn is_mine(&self, message: &ChatMessage) -> bool {
        message.device == self.me
    }

    /// Whether `room` is in the main view (the window may not have the keyboard).
    pub(crate) fn on_screen(&self, room: &RoomId) -> bool {
        self.open_direct.is_none() && self.open.as_ref() == Some(room)
    }

    /// Brings a room or a conversation to the front (a notification clicked).
    pub fn show(&mut self, target: &Target) {
        match target {
            Target::Room(room) => self.show_room(room),
            Target::Direct(peer) => self.open_direct(peer, None),
            Target::Window => {}
        }
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

    /// The network diagnostics are open (or not): the runtime hears of a change, and while
    /// they are, has discovery confirm the rooms' adverts now and then.
    pub fn set_diagnosing(&mut self, open: bool) {
        if open != self.diagnosing {
            self.diagnosing = open;
            self.outbox.push(Command::Diagnosing(open));
        }
    }

    /// Brings one of our rooms to the front (the room list, a notification clicked).
    pub fn show_room(&mut self, room: &RoomId) {
        if self.chats.rooms.contains_key(room) {
            self.open = Some(room.clone());
            self.open_direct = None;
            self.look(self.focused);
        }
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

/// We are in two rooms, "lab" and "other"; "other" is on screen (for unit tests).
#[cfg(test)]
pub(crate) fn two_rooms() -> (AppState, RoomId, RoomId) {
    let mut s = test_state();
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

#[cfg(test)]
mod tests {
    use super::chat::TRIM_SLACK;
    use super::chats::TYPING_EVERY;
    use super::*;
    use crate::bridge::SessionState;
    use crate::discovery::RoomAd;
    use crate::net::identity::PublicKey;
    use crate::protocol::Member;
    use crate::protocol::PROTOCOL_VERSION;
    use std::time::{Duration, Instant};

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
    fn a_window_that_fell_behind_shows_what_it_missed_in_place_and_counts_it() {
        let mut s = state();
        let room = RoomId::parse("r1").unwrap();
        s.apply(Event::RoomFound(ad("r1", "Lab")));
        s.open_room(&ad("r1", "Lab").key());
        s.look(false);
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
        // 3..=6 were not queued; the bridge reads them back and hands them over in pages.
        s.apply(Event::Behind { room: room.clone() });
        assert!(s.chats[&room].catching_up, "shown as catching up");
        s.apply(Event::Missed {
            room: room.clone(),
            messages: (3..=5).map(|id| message(id, &bob)).collect(),
            done: false,
        });
        assert!(s.chats[&room].catching_up);
        s.apply(Event::Missed {
            room: room.clone(),
            messages: vec![message(6, &bob)],
            done: true,
        });
        live(&mut s, 7);
        assert!(s.outbox.is_empty(), "nothing to ask: the bridge asked");
        let chat = &s.chats[&room];
        assert!(!chat.catching_up);
        let ids: Vec<u64> = chat.message_ids().collect();
        assert_eq!(ids, (1..=7).collect::<Vec<_>>());
        assert_eq!(chat.unread, 7, "the missed ones are unread too");
        assert_eq!(s.notifications.len(), 3, "announced: the live ones only");
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
            state: SessionState::NeedsPassword(crate::bridge::PasswordNeed::Wrong),
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
    fn another_machine_advertising_our_room_is_not_called_ours_and_its_entry_says_what_it_is() {
        let mut s = state();
        let room = RoomId::parse("r1").unwrap();
        s.apply(Event::Hosting {
            room: room.clone(),
            name: "Lab".into(),
            port: 1,
            locked: false,
        });
        let impostor = ad("r1", "Lab");
        s.apply(Event::RoomFound(impostor.clone()));
        let rows = s.room_rows();
        let theirs = rows
            .iter()
            .find(|r| r.fingerprint == impostor.fingerprint)
            .expect("the other machine's entry is listed");
        assert_eq!(theirs.trust, HostTrust::Different);
        assert!(!theirs.hosted_by_me, "never 'you' unless the key is ours");
        let ours = rows.iter().find(|r| r.trust == HostTrust::Mine).unwrap();
        assert!(ours.hosted_by_me);

        // Clicked, it says what it is, and nothing is joined.
        s.outbox.clear();
        s.open_room(&impostor.key());
        assert!(matches!(
            &s.asking,
            Some(Ask::OtherKey { ours: true, fingerprint, .. }) if *fingerprint == "BBBB-BBBB-BBBB-BBBB"
        ));
        assert!(s.outbox.is_empty());
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
        let start = s.chats.last_input;
        assert_eq!(
            s.tick(start),
            Some(start + AWAY_AFTER),
            "looks again when away is due"
        );
        s.tick(start + AWAY_AFTER);
        assert!(s.chats.away);
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

    #[test]
    fn a_look_alike_name_is_flagged_on_its_joins_messages_and_notifications() {
        let (mut s, lab, _) = two_rooms();
        let person = |id, name: &str, seed: u8| Member {
            id,
            name: name.into(),
            device: DeviceId::of_key(&[seed; 32]),
            host: false,
            away: false,
            key: None,
        };
        let (bob, fake) = (person(4, "Bob", 1), person(5, "B\u{43e}b", 2));
        for member in [bob.clone(), fake.clone()] {
            s.apply(Event::MemberJoined {
                room: lab.clone(),
                member,
            });
        }
        let group = |m: &Member| m.device.fingerprint().unwrap()[..4].to_owned();
        let notices: Vec<String> = s.chats[&lab]
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Notice { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect();
        assert!(
            notices.contains(&format!("⚠ B\u{43e}b · {} joined", group(&fake))),
            "{notices:?}"
        );
        // As a message's sender (and in its notification), and the real Bob too: the two
        // are told apart by their fingerprints.
        assert_eq!(
            s.chats[&lab].who(&fake.name, &fake.device),
            format!("⚠ B\u{43e}b · {}", group(&fake))
        );
        assert_eq!(
            s.chats[&lab].who(&bob.name, &bob.device),
            format!("⚠ Bob · {}", group(&bob))
        );
        s.apply(Event::Message {
            room: lab.clone(),
            message: message(1, &fake.device),
            live: true,
        });
        let mut from_fake = message(2, &fake.device);
        from_fake.from = fake.name.clone();
        s.apply(Event::Message {
            room: lab.clone(),
            message: from_fake,
            live: true,
        });
        let title = &s.notifications.last().expect("announced").title;
        assert!(
            title.starts_with(&format!("⚠ B\u{43e}b · {}", group(&fake))),
            "{title}"
        );
        // A name that mixes scripts is flagged even with nobody to pass for.
        assert!(crate::app::text::mixes_scripts("B\u{43e}b"));
        assert!(!crate::app::text::mixes_scripts("Bob"));
    }

    #[test]
    fn a_person_renamed_in_a_room_goes_by_the_new_name_in_their_conversation() {
        let (mut s, lab, _) = two_rooms();
        let bob = DeviceId::of_key(&[7; 32]);
        let member = |name: &str| Member {
            id: 4,
            name: name.into(),
            device: bob.clone(),
            host: false,
            away: false,
            key: None,
        };
        s.apply(Event::MemberJoined {
            room: lab.clone(),
            member: member("Bob"),
        });
        s.apply(Event::Direct(crate::store::Direct {
            peer: bob.clone(),
            peer_name: "Bob".into(),
            claimed: None,
            outgoing: false,
            seq: 1,
            ts: 0,
            text: "hi".into(),
            room: lab.clone(),
            state: crate::store::Sent::Delivered,
        }));
        s.apply(Event::MemberRenamed {
            room: lab.clone(),
            member: member("Robert"),
        });
        assert_eq!(s.directs.conversations[&bob].name, "Robert");
    }

    #[test]
    fn a_file_arriving_in_a_room_we_host_is_shown_until_it_is_over() {
        let mut s = state();
        let arrival = |done, over| crate::bridge::Arrival {
            room: RoomId::parse("r1").unwrap(),
            hash: crate::protocol::FileHash::parse(&"ab".repeat(32)).unwrap(),
            done,
            size: 100,
            over,
        };
        s.apply(Event::Arriving(arrival(40, false)));
        assert_eq!(s.files.arriving.values().next().map(|a| a.done), Some(40));
        s.apply(Event::Arriving(arrival(100, true)));
        assert!(s.files.arriving.is_empty());
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
    fn the_runtime_hears_when_the_diagnostics_open_and_close_once_each() {
        let mut s = test_state();
        s.set_diagnosing(false);
        assert!(s.outbox.is_empty());
        s.set_diagnosing(true);
        s.set_diagnosing(true);
        s.set_diagnosing(false);
        assert!(matches!(
            &s.outbox[..],
            [Command::Diagnosing(true), Command::Diagnosing(false)]
        ));
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
