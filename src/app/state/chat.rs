//! One room we are in, as the window keeps it: who is in it, its lines (messages, notices,
//! the "new messages" divider), what we posted that the host has not confirmed, who is typing.

use super::history::Older;
use crate::app::text;
use crate::bridge::{Rejection, SessionState, Waiting};
use crate::net::identity::PublicKey;
use crate::protocol::{ChatMessage, DeviceId, FileHash, Member, MemberId};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// One line in a room's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A message; its time is worked out when its row is drawn (only rows in view are),
    /// not kept per message.
    Chat { message: ChatMessage },
    /// Something that happened to the room, said in words ("Bob joined", "host left — …").
    Notice { when: String, text: String },
    /// Where the messages that came while we were away begin: "3 new messages". Drawn only
    /// while `count` is above zero (an old one is zeroed rather than removed).
    NewMessages { count: usize },
}

/// A time as a person reads it: "14:05" today, "3 Mar 14:05" before.
pub fn clock(ts: i64) -> String {
    use chrono::{Local, TimeZone};
    let Some(t) = Local.timestamp_millis_opt(ts).single() else {
        return String::new();
    };
    if t.date_naive() == Local::now().date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%-d %b %H:%M").to_string()
    }
}

/// A room we have joined (or are joining).
#[derive(Debug, Clone)]
pub struct Chat {
    /// The room's name, as its host last said.
    pub room_name: String,
    /// The host's display name, as last said.
    pub host_name: String,
    /// Who is in the room now, as the host last said.
    pub members: Vec<Member>,
    /// Our member id, once welcomed.
    pub you: Option<MemberId>,
    /// Messages and notices, oldest first.
    pub lines: Vec<Line>,
    /// The files shared in the room, so an upload's row gives way to its message.
    pub files: HashSet<FileHash>,
    /// Our posts the host has not confirmed yet: `(seq, text)`.
    pub pending: Vec<(u64, String)>,
    /// How the connection stands, for the badge in the header.
    pub state: SessionState,
    /// The latest refusal of one of our posts, shown by the composer.
    pub error: Option<String>,
    /// The host key's fingerprint, as the handshake proved it (once in).
    pub host_fingerprint: Option<String>,
    /// The host's device, from that key: the member shown as the host.
    pub host_device: Option<DeviceId>,
    /// The index in `lines` of the latest "new messages" divider, which counts on.
    pub divider: Option<usize>,
    /// Where to join, kept until the password for a locked room is given.
    pub addrs: Vec<std::net::SocketAddr>,
    /// Whether the runtime has been asked to join (a locked room waits for its password).
    pub asked_to_join: bool,
    /// Named like a room joined before but another room: not joined until the user says so.
    pub lookalike: bool,
    /// The key the user stayed out of when it answered for this room, so its list entry can
    /// still be trusted later (the host may really have moved).
    pub stayed_out: Option<crate::net::identity::PublicKey>,
    /// A password was given and is being tried (joining, or waiting out the host's slowdown
    /// after a wrong one): its dialog stays, saying so, until the answer.
    pub checking_password: bool,
    /// Set while the room's messages come back from the database because the window fell
    /// behind (left minimized through a flood); shown as "catching up".
    pub catching_up: bool,
    /// Counts the times lines were put in between others rather than appended, so that
    /// what drawing worked out per line starts over.
    pub reshaped: u64,
    /// Messages from others that arrived while the room was not in front of the user.
    pub unread: usize,
    /// Whether one of those mentions the user.
    pub mentioned: bool,
    /// How the history before the oldest message shown stands (scrolling back loads it).
    pub older: Older,
    /// Members typing now, and until when that is shown unless they say it again.
    pub typing: Vec<(MemberId, Instant)>,
    /// Members who were here and left, newest last, shown as gone (at most [`GONE_KEPT`]).
    pub gone: Vec<Member>,
    /// When the page before the oldest message was asked for: a host that never answers
    /// (an older one) is given up on after [`super::history`]'s patience.
    pub older_asked: Option<Instant>,
    /// Set from joining until the history it brings is all here: what comes meanwhile was
    /// said while we were away, and is counted unread but not announced one by one.
    pub catching_history: bool,
}

/// How long "typing…" shows after a member last said so (they say it every few seconds
/// while typing).
pub const TYPING_SHOWN: Duration = Duration::from_secs(5);
/// Messages a room not on screen keeps in memory: older ones are let go (scrolling back
/// brings them again, a page at a time), so rooms kept open all day cost little memory.
pub const KEPT_LINES: usize = 2_000;
/// How far past [`KEPT_LINES`] a room grows before it lets go, so it does not trim per line.
pub(super) const TRIM_SLACK: usize = 500;
/// Most members a room remembers as gone.
const GONE_KEPT: usize = 50;

impl Chat {
    pub(super) fn new(room_name: String, host_name: String) -> Self {
        Self {
            room_name,
            host_name,
            members: Vec::new(),
            you: None,
            lines: Vec::new(),
            files: Default::default(),
            pending: Vec::new(),
            state: SessionState::Connecting,
            error: None,
            host_fingerprint: None,
            host_device: None,
            divider: None,
            addrs: Vec::new(),
            asked_to_join: true,
            lookalike: false,
            stayed_out: None,
            checking_password: false,
            catching_up: false,
            reshaped: 0,
            unread: 0,
            mentioned: false,
            older: Older::Maybe,
            typing: Vec::new(),
            gone: Vec::new(),
            catching_history: false,
            older_asked: None,
        }
    }

    /// The names of the members typing at `now`, in the order they started.
    pub fn typists(&self, now: Instant) -> Vec<&str> {
        self.typing
            .iter()
            .filter(|(_, until)| *until > now)
            .filter_map(|(id, _)| self.members.iter().find(|m| m.id == *id))
            .map(|m| m.name.as_str())
            .collect()
    }

    /// The ids of the messages shown, in the order shown.
    pub fn message_ids(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.lines.iter().filter_map(|l| match l {
            Line::Chat { message, .. } => Some(message.id),
            _ => None,
        })
    }

    /// The newest message shown.
    pub(super) fn newest_id(&self) -> Option<u64> {
        self.message_ids().next_back()
    }

    /// Appends a message; one from someone else after the divider counts as new.
    pub(super) fn push_message(&mut self, mut message: ChatMessage, me: &DeviceId) {
        // The sender's id is shared with the member list's (a few senders write most lines).
        if let Some(member) = self.members.iter().find(|m| m.device == message.device) {
            message.device = member.device.clone();
        }
        if let Some(file) = &message.file {
            self.files.insert(file.hash.clone());
        }
        if &message.device != me
            && let Some(Line::NewMessages { count }) =
                self.divider.and_then(|at| self.lines.get_mut(at))
        {
            *count += 1;
        }
        self.lines.push(Line::Chat { message });
    }

    /// Of `messages`, those others wrote that are not shown yet.
    pub(super) fn unseen(&self, messages: &[ChatMessage], me: &DeviceId) -> Vec<ChatMessage> {
        let shown: HashSet<u64> = self.message_ids().collect();
        messages
            .iter()
            .filter(|m| &m.device != me && !shown.contains(&m.id))
            .cloned()
            .collect()
    }

    /// Puts messages read back from the database among the lines, in id order, skipping
    /// the ones shown already (some arrived live while they were being read).
    pub(crate) fn merge(&mut self, messages: Vec<ChatMessage>, me: &DeviceId) {
        let shown: HashSet<u64> = self.message_ids().collect();
        let mut incoming = messages
            .into_iter()
            .filter(|m| !shown.contains(&m.id))
            .peekable();
        let Some(first) = incoming.peek() else {
            return;
        };
        if self.newest_id().is_some_and(|newest| first.id < newest) {
            self.reshaped += 1;
        }
        let (old, divider) = (std::mem::take(&mut self.lines), self.divider.take());
        for (at, line) in old.into_iter().enumerate() {
            if let Line::Chat { message, .. } = &line {
                while let Some(m) = incoming.next_if(|m| m.id < message.id) {
                    self.push_message(m, me);
                }
            }
            if divider == Some(at) {
                self.divider = Some(self.lines.len());
            }
            self.lines.push(line);
        }
        for m in incoming {
            self.push_message(m, me);
        }
    }

    /// Lets go of the oldest lines past [`KEPT_LINES`] (a room not on screen); the history
    /// before is asked for again when scrolled to.
    pub(super) fn trim(&mut self) {
        if self.lines.len() <= KEPT_LINES + TRIM_SLACK || matches!(self.older, Older::Asking(_)) {
            return;
        }
        let gone = self.lines.len() - KEPT_LINES;
        self.lines.drain(..gone);
        self.divider = self.divider.and_then(|at| at.checked_sub(gone));
        self.older = Older::Maybe;
        self.reshaped += 1;
    }

    /// Starts counting the messages that come after this point (we are back in the room),
    /// if there are earlier ones to tell them apart from.
    pub(super) fn mark_new_messages(&mut self) {
        if !self.lines.iter().any(|l| matches!(l, Line::Chat { .. })) {
            return;
        }
        if let Some(Line::NewMessages { count }) =
            self.divider.and_then(|at| self.lines.get_mut(at))
        {
            *count = 0;
        }
        self.divider = Some(self.lines.len());
        self.lines.push(Line::NewMessages { count: 0 });
    }

    /// Says something that happened to the room, as a line of its own.
    pub(super) fn notice(&mut self, text: String) {
        self.lines.push(Line::Notice {
            when: clock(crate::protocol::now_ms()),
            text,
        });
    }
}

/// What the runtime says of the room, as [`super::Chats::apply`] hands it on.
impl Chat {
    /// The host let us in: its word on the room and its members replaces what was known,
    /// and the history it sends next was said while we were away.
    pub(super) fn welcomed(
        &mut self,
        room_name: String,
        host_name: String,
        you: MemberId,
        members: Vec<Member>,
        host_key: &PublicKey,
    ) {
        self.mark_new_messages();
        self.room_name = room_name;
        self.host_name = host_name;
        self.you = Some(you);
        self.catching_history = true;
        self.gone
            .retain(|g| !members.iter().any(|m| m.device == g.device));
        self.typing.clear();
        self.members = members;
        self.host_fingerprint = Some(host_key.fingerprint());
        self.host_device = Some(host_key.device());
    }

    /// How the connection stands now; a change worth hearing of is said in the room, once.
    pub(super) fn session_changed(&mut self, state: SessionState) {
        let was = std::mem::replace(&mut self.state, state.clone());
        // Still trying the password (dialling, or waiting out a slowdown), or answered.
        self.checking_password &= matches!(
            state,
            SessionState::Connecting | SessionState::Waiting(Waiting::Slowed { .. })
        );
        // A page asked for before the link went will not come; with the host back, ask again.
        self.older = match (&state, self.older) {
            (SessionState::Connected, Older::Unavailable) => Older::Maybe,
            (SessionState::Connected, older) => older,
            (_, Older::Asking(_)) => Older::Unavailable,
            (_, older) => older,
        };
        match state {
            SessionState::Connected if matches!(was, SessionState::Waiting(_)) => {
                self.notice("Back in the room".into());
            }
            SessionState::KeyChanged { known, presented } if was != self.state => {
                self.members.clear();
                self.notice(format!(
                    "Not joined: the host presents the key {} instead of {known}. It may be a different machine pretending to be this room.",
                    presented.fingerprint()
                ));
            }
            SessionState::Waiting(_) | SessionState::Failed(_) if was != self.state => {
                let why = state.why().unwrap_or_default();
                self.members.clear();
                let said = self.lines.iter().rev().find_map(|l| match l {
                    Line::Notice { text, .. } => Some(text),
                    Line::Chat { .. } | Line::NewMessages { .. } => None,
                });
                if said != Some(&why) {
                    self.notice(why);
                }
            }
            _ => {}
        }
    }

    /// A message said in the room (its unread count is the window's, see
    /// [`super::unread`]): its sender has stopped typing it. A room not on screen keeps only
    /// its newest lines.
    pub(super) fn said(&mut self, message: ChatMessage, me: &DeviceId, on_screen: bool) {
        if let Some(sender) = self.members.iter().find(|m| m.device == message.device) {
            let sender = sender.id;
            self.typing.retain(|(id, _)| *id != sender);
        }
        self.push_message(message, me);
        if !on_screen {
            self.trim();
        }
    }

    /// How the person called `name` on `device` is shown in this room: flagged if the name
    /// could pass for another member's (see [`text::Looks`]).
    pub fn who(&self, name: &str, device: &DeviceId) -> String {
        text::Looks::of(&self.members).who(name, device)
    }

    /// Someone joined: no longer shown as gone.
    pub(super) fn member_joined(&mut self, member: Member) {
        self.notice(format!("{} joined", self.who(&member.name, &member.device)));
        self.gone.retain(|m| m.device != member.device);
        self.members.push(member);
    }

    /// A member left: shown as gone (the latest [`GONE_KEPT`]) until they are back.
    pub(super) fn member_left(&mut self, member: Member) {
        self.members.retain(|m| m.id != member.id);
        self.typing.retain(|(id, _)| *id != member.id);
        self.notice(format!("{} left", self.who(&member.name, &member.device)));
        self.gone.retain(|m| m.device != member.device);
        self.gone.push(member);
        if self.gone.len() > GONE_KEPT {
            self.gone.remove(0);
        }
    }

    /// A member changed their name (`member` carries the new one).
    pub(super) fn member_renamed(&mut self, member: Member) {
        let Some(known) = self.members.iter_mut().find(|m| m.id == member.id) else {
            return;
        };
        let old = std::mem::replace(&mut known.name, member.name.clone());
        if member.host {
            self.host_name = member.name.clone();
        }
        let new = self.who(&member.name, &member.device);
        self.notice(format!("{} is now called {new}", text::name(&old)));
    }

    /// A member went away from the keyboard, or came back.
    pub(super) fn member_away(&mut self, member: MemberId, away: bool) {
        if let Some(m) = self.members.iter_mut().find(|m| m.id == member) {
            m.away = away;
        }
    }

    /// A member is typing: shown for [`TYPING_SHOWN`] unless they say it again.
    pub(super) fn member_typing(&mut self, member: MemberId) {
        let until = Instant::now() + TYPING_SHOWN;
        self.typing.retain(|(id, _)| *id != member);
        self.typing.push((member, until));
    }

    /// Typing shown runs out at `now`; returns when the next one does.
    pub(super) fn typing_runs_out(&mut self, now: Instant) -> Option<Instant> {
        self.typing.retain(|(_, until)| *until > now);
        self.typing.iter().map(|(_, until)| *until).min()
    }

    /// A post of ours from an earlier run that the host has not answered yet (shown once).
    pub(super) fn still_pending(&mut self, seq: u64, text: String) {
        if !self.pending.iter().any(|(s, _)| *s == seq) {
            self.pending.push((seq, text));
        }
    }

    /// The host answered our post `seq`: stored it, or refused it for a reason.
    pub(super) fn answered(&mut self, seq: u64, refused: Option<Rejection>) {
        self.pending.retain(|(s, _)| *s != seq);
        if let Some(reason) = refused {
            self.error = Some(format!("Not sent: {reason}."));
        }
    }
}
