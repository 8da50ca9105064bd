//! The user's settings: display name, the rooms they host, where files go. (The device's
//! identity is its key: see [`crate::net::identity`].)

use crate::protocol::{MAX_NAME_BYTES, RoomId};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// What lanchat remembers between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The display name; `None` until the user has confirmed one at first start.
    #[serde(default)]
    pub name: Option<String>,
    /// Rooms this user hosted, so they can be hosted again with the same id and history.
    #[serde(default)]
    pub hosted: Vec<HostedRoom>,
    /// Where received files go; `None` means the default for this profile.
    #[serde(default)]
    pub downloads: Option<PathBuf>,
    /// Most bytes of shared files each hosted room keeps for later joiners; the oldest go
    /// past it.
    #[serde(default = "default_files_limit")]
    pub files_limit: u64,
    /// What each room may interrupt the user for, where it is not [`Alerts::All`].
    #[serde(default)]
    pub alerts: std::collections::BTreeMap<RoomId, Alerts>,
    /// Host again, at start, the rooms that were open when lanchat last stopped: a host
    /// restarting its computer should not end its rooms for everyone.
    #[serde(default = "yes")]
    pub reopen_rooms: bool,
    /// Files others share are saved by themselves up to this size; larger ones wait for
    /// the user's Download (nobody's disk fills with a video they did not ask for).
    #[serde(default = "default_auto_save")]
    pub auto_save: u64,
    /// Rooms whose files are never saved by themselves, whatever their size.
    #[serde(default)]
    pub no_auto_save: std::collections::BTreeSet<RoomId>,
    /// Light, dark, or as the system says.
    #[serde(default)]
    pub theme: Theme,
    /// How large the window draws everything (Ctrl+plus / Ctrl+minus), 1.0 as designed.
    #[serde(default = "one")]
    pub zoom: f32,
    /// The network interfaces chosen in the window to look for rooms on, by name; empty:
    /// every suitable one. `--interface` overrides it for one run.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// Start lanchat when the user logs in (see `desktop::autostart`); off unless asked.
    #[serde(default)]
    pub start_at_login: bool,
}

/// One change to the settings, as the user makes it. Every front end applies it to the
/// settings it shows and sends it (`Command::Settings`); the runtime applies the same to the
/// settings it keeps, saves them, and puts the change to work. A new setting is a variant
/// here and a line in [`Settings::apply`].
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The display name (for this run only where one was given on the command line).
    Name(String),
    /// Where received files go.
    Downloads(PathBuf),
    /// Most bytes of files each hosted room keeps.
    FilesLimit(u64),
    /// Light, dark or as the system is.
    Theme(Theme),
    /// How large the window draws, 1.0 as designed.
    Zoom(f32),
    /// Host again at start the rooms open at exit (or not).
    ReopenRooms(bool),
    /// Save files others share by themselves up to this many bytes.
    AutoSave(u64),
    /// Save a room's files by themselves (up to the limit), or never.
    RoomAutoSave { room: RoomId, on: bool },
    /// What a room may interrupt the user for.
    Alerts { room: RoomId, alerts: Alerts },
    /// Look for rooms on exactly these interfaces (by name; empty: every suitable one).
    Interfaces(Vec<String>),
    /// Start lanchat when the user logs in (or not).
    StartAtLogin(bool),
}

/// Light or dark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// As the system is set (and changes with it).
    #[default]
    System,
    Light,
    Dark,
}

/// What a room may interrupt the user for (a desktop notification, the window asking for
/// attention). Unread counts are kept whatever this says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alerts {
    /// Every message from someone else.
    #[default]
    All,
    /// Only messages that mention the user.
    Mentions,
    /// Nothing.
    Nothing,
}

/// 10 GB: room for plenty of photos and a few videos, on any disk of today. Sizes are
/// decimal everywhere (1 GB = 10^9 bytes), as the UI shows them.
fn default_files_limit() -> u64 {
    10_000_000_000
}

/// 100 MB: photos, documents and short clips come by themselves; a film waits to be asked.
fn default_auto_save() -> u64 {
    100_000_000
}

fn yes() -> bool {
    true
}

fn one() -> f32 {
    1.0
}

/// A room this user hosted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedRoom {
    /// Kept, so the room comes back as itself (members rejoin, history continues).
    pub id: RoomId,
    /// Its name, shown in "Your rooms" and matched by `lanchat host --room`.
    pub name: String,
    /// The port it last listened on: tried first when re-hosting, so members who dialled an
    /// address by hand can come back.
    #[serde(default)]
    pub port: u16,
    /// Open when lanchat last stopped (closed rooms stay closed): reopened at start when
    /// [`Settings::reopen_rooms`] says so.
    #[serde(default)]
    pub open: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            name: None,
            hosted: Vec::new(),
            downloads: None,
            files_limit: default_files_limit(),
            alerts: Default::default(),
            reopen_rooms: true,
            auto_save: default_auto_save(),
            no_auto_save: Default::default(),
            theme: Theme::System,
            zoom: 1.0,
            interfaces: Vec::new(),
            start_at_login: false,
        }
    }
}

impl Settings {
    /// Reads the settings. A missing file gives fresh settings; an unreadable one is moved
    /// aside (so nothing is lost) and also gives fresh settings, with a warning to show.
    pub fn load(path: &Path) -> (Settings, Option<String>) {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Settings::default(), None);
            }
            Err(e) => {
                let warning = format!(
                    "could not read {}: {e}; using fresh settings",
                    path.display()
                );
                return (Settings::default(), Some(warning));
            }
        };
        match serde_json::from_slice::<Settings>(&text) {
            Ok(mut settings) => {
                settings.name = settings
                    .name
                    .filter(|n| crate::protocol::check_name("name", n).is_ok());
                // The default was once 10 GiB, shown as "10.737 GB": meant as 10 GB.
                if settings.files_limit == 10 << 30 {
                    settings.files_limit = default_files_limit();
                }
                (settings, None)
            }
            Err(e) => {
                let aside = path.with_extension("json.broken");
                let moved = std::fs::rename(path, &aside).is_ok();
                let warning = format!(
                    "settings file {} was damaged ({e}){}; using fresh settings",
                    path.display(),
                    if moved {
                        format!(", kept as {}", aside.display())
                    } else {
                        String::new()
                    }
                );
                (Settings::default(), Some(warning))
            }
        }
    }

    /// Writes the settings atomically: a crash leaves the old file or the new, never half.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let io = |source| SettingsError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self).expect("settings always serialize");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Applies `change`; returns whether anything changed (an unchanged setting is neither
    /// saved nor sent again).
    pub fn apply(&mut self, change: &Change) -> bool {
        fn set<T: PartialEq + Clone>(field: &mut T, value: &T) -> bool {
            let changed = field != value;
            field.clone_from(value);
            changed
        }
        match change {
            Change::Name(name) => set(&mut self.name, &Some(name.clone())),
            Change::Downloads(dir) => set(&mut self.downloads, &Some(dir.clone())),
            Change::FilesLimit(limit) => set(&mut self.files_limit, limit),
            Change::Theme(theme) => set(&mut self.theme, theme),
            Change::Zoom(zoom) => set(&mut self.zoom, zoom),
            Change::ReopenRooms(on) => set(&mut self.reopen_rooms, on),
            Change::AutoSave(limit) => set(&mut self.auto_save, limit),
            Change::RoomAutoSave { room, on: true } => self.no_auto_save.remove(room),
            Change::RoomAutoSave { room, on: false } => self.no_auto_save.insert(room.clone()),
            // Everything is the default, and is not written down.
            Change::Alerts {
                room,
                alerts: Alerts::All,
            } => self.alerts.remove(room).is_some(),
            Change::Alerts { room, alerts } => {
                self.alerts.insert(room.clone(), *alerts) != Some(*alerts)
            }
            Change::Interfaces(names) => set(&mut self.interfaces, names),
            Change::StartAtLogin(on) => set(&mut self.start_at_login, on),
        }
    }

    /// What `room` may interrupt the user for.
    pub fn alerts_of(&self, room: &RoomId) -> Alerts {
        self.alerts.get(room).copied().unwrap_or_default()
    }

    /// A room left takes its own settings with it; returns whether it had any.
    pub fn forget_room(&mut self, room: &RoomId) -> bool {
        let alerts = self.alerts.remove(room).is_some();
        self.no_auto_save.remove(room) || alerts
    }

    /// The name to offer at first start: the OS user name, else "Guest".
    pub fn suggested_name() -> String {
        ["USER", "USERNAME", "LOGNAME"]
            .iter()
            .filter_map(|var| std::env::var(var).ok())
            .map(|n| clamp_name(n.trim()))
            .find(|n| !n.is_empty() && n != "root")
            .unwrap_or_else(|| "Guest".to_owned())
    }

    /// The display name, or the suggestion when none is set yet.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(Self::suggested_name)
    }

    /// Remembers (or updates) a hosted room, most recent first.
    pub fn remember_room(&mut self, room: HostedRoom) {
        self.hosted.retain(|r| r.id != room.id);
        self.hosted.insert(0, room);
    }

    /// The remembered room with this name, for hosting "the same room" again by name.
    pub fn hosted_named(&self, name: &str) -> Option<&HostedRoom> {
        self.hosted.iter().find(|r| r.name == name)
    }
}

/// Cuts a name to [`MAX_NAME_BYTES`] on a character boundary and drops control characters.
pub fn clamp_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// Cuts a text to [`crate::protocol::MAX_TEXT_BYTES`] on a character boundary.
pub fn clamp_text(text: &str) -> String {
    let mut end = text.len().min(crate::protocol::MAX_TEXT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damaged_file_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let (mut s, warning) = Settings::load(&path);
        assert!(warning.is_none());
        s.name = Some("Ada".into());
        s.remember_room(HostedRoom {
            id: RoomId::random(),
            name: "Lab".into(),
            port: 4000,
            open: true,
        });
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path).0, s);

        std::fs::write(&path, b"{ not json").unwrap();
        let (fresh, warning) = Settings::load(&path);
        assert!(warning.unwrap().contains("damaged"));
        assert_eq!(fresh.name, None);
        assert_eq!(
            std::fs::read(path.with_extension("json.broken")).unwrap(),
            b"{ not json"
        );
    }

    #[test]
    fn a_change_says_whether_it_changed_anything_and_a_room_left_takes_its_own() {
        let room = RoomId::parse("00112233445566778899aabbccddeeff").unwrap();
        let mut s = Settings::default();
        assert!(s.apply(&Change::Theme(Theme::Dark)));
        assert!(
            !s.apply(&Change::Theme(Theme::Dark)),
            "the same again is no change"
        );
        let mentions = Change::Alerts {
            room: room.clone(),
            alerts: Alerts::Mentions,
        };
        assert!(s.apply(&mentions));
        assert!(!s.apply(&mentions));
        assert_eq!(s.alerts_of(&room), Alerts::Mentions);
        let all = Change::Alerts {
            room: room.clone(),
            alerts: Alerts::All,
        };
        assert!(s.apply(&all));
        assert!(s.alerts.is_empty(), "the default is not written down");
        assert!(s.apply(&Change::RoomAutoSave {
            room: room.clone(),
            on: false
        }));
        assert!(s.apply(&Change::Name("Ada".into())));
        assert_eq!(s.name.as_deref(), Some("Ada"));
        assert!(s.forget_room(&room));
        assert!(!s.forget_room(&room), "nothing of it is left");
        assert!(s.no_auto_save.is_empty());
    }

    #[test]
    fn clamp_name_respects_char_boundaries() {
        let long = "é".repeat(100);
        let clamped = clamp_name(&long);
        assert!(clamped.len() <= MAX_NAME_BYTES);
        assert_eq!(clamped.chars().count(), MAX_NAME_BYTES / 2);
        assert_eq!(clamp_name("a\u{7}b"), "ab");
    }
}
