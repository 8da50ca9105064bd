//! The settings the window shows and changes: the look (theme, zoom), what each room may
//! interrupt for, which files save themselves, how much a hosted room keeps. Changing one
//! sends the command that keeps it; the runtime writes them to the settings file.

use crate::bridge::Command;
use crate::protocol::RoomId;
use crate::store::{Alerts, Settings, Theme};
use std::collections::{BTreeMap, BTreeSet};

/// The settings as the window knows them (the runtime keeps them).
#[derive(Debug, Clone)]
pub struct Preferences {
    /// Light, dark, or the system's.
    pub theme: Theme,
    /// How large the window draws (Ctrl+plus / Ctrl+minus change it).
    pub zoom: f32,
    /// Whether the rooms open at exit are hosted again at start.
    pub reopen_rooms: bool,
    /// Files others share up to this size are saved without asking.
    pub auto_save: u64,
    /// Rooms whose files wait for Download whatever their size.
    pub no_auto_save: BTreeSet<RoomId>,
    /// The most bytes of files each hosted room keeps.
    pub files_limit: u64,
    /// What each room may interrupt the user for, where not everything.
    pub alerts: BTreeMap<RoomId, Alerts>,
}

impl Preferences {
    /// The settings as read at start.
    pub fn new(settings: &Settings) -> Self {
        Self {
            theme: settings.theme,
            zoom: settings.zoom,
            reopen_rooms: settings.reopen_rooms,
            auto_save: settings.auto_save,
            no_auto_save: settings.no_auto_save.clone(),
            files_limit: settings.files_limit,
            alerts: settings.alerts.clone(),
        }
    }

    /// Draws light, dark, or as the system is, from now on and at the next start.
    pub fn set_theme(&mut self, theme: Theme, outbox: &mut Vec<Command>) {
        if theme != self.theme {
            self.theme = theme;
            outbox.push(Command::SetTheme(theme));
        }
    }

    /// The window was zoomed (by keyboard or in Settings): kept for the next start.
    pub fn set_zoom(&mut self, zoom: f32, outbox: &mut Vec<Command>) {
        let zoom = (zoom * 100.0).round() / 100.0;
        if zoom != self.zoom {
            self.zoom = zoom;
            outbox.push(Command::SetZoom(zoom));
        }
    }

    /// Saves the room's files by themselves (up to the size limit), or never.
    pub fn set_room_auto_save(&mut self, room: &RoomId, on: bool, outbox: &mut Vec<Command>) {
        let changed = if on {
            self.no_auto_save.remove(room)
        } else {
            self.no_auto_save.insert(room.clone())
        };
        if changed {
            outbox.push(Command::SetRoomAutoSave {
                room: room.clone(),
                on,
            });
        }
    }

    /// What `room` may interrupt the user for.
    pub fn alerts_of(&self, room: &RoomId) -> Alerts {
        self.alerts.get(room).copied().unwrap_or_default()
    }

    /// Sets what `room` may interrupt the user for, and keeps it.
    pub fn set_alerts(&mut self, room: &RoomId, alerts: Alerts, outbox: &mut Vec<Command>) {
        match alerts {
            Alerts::All => self.alerts.remove(room),
            other => self.alerts.insert(room.clone(), other),
        };
        outbox.push(Command::SetAlerts {
            room: room.clone(),
            alerts,
        });
    }

    /// A room we joined was left: what was set for it goes with it.
    pub(super) fn forget(&mut self, room: &RoomId) {
        self.alerts.remove(room);
        self.no_auto_save.remove(room);
    }
}
