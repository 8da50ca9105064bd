//! The settings the window shows and changes: the look (theme, zoom), what each room may
//! interrupt for, which files save themselves (the runtime saves them), how much a hosted
//! room keeps. A change is
//! applied here and sent as it is ([`Command::Settings`]); the runtime keeps the same
//! settings, writes them to the settings file and puts the change to work.

use crate::bridge::Command;
use crate::store::{Change, Settings};

/// The settings as the window knows them: the runtime's, as read at start, with the user's
/// changes since. Read them through `Deref` (`preferences.theme`); change them with
/// [`Preferences::change`].
#[derive(Debug, Clone)]
pub struct Preferences {
    /// The settings as the window shows them.
    settings: Settings,
}

impl std::ops::Deref for Preferences {
    type Target = Settings;

    fn deref(&self) -> &Settings {
        &self.settings
    }
}

impl Preferences {
    /// The settings as read at start.
    pub fn new(settings: &Settings) -> Self {
        Self {
            settings: settings.clone(),
        }
    }

    /// The user changed a setting: shown from now on, and sent to the runtime to keep, if it
    /// changed anything. (Interfaces are sent in any case: `--interface` may have chosen
    /// others for this run, which the user's choice replaces.)
    pub fn change(&mut self, change: Change, outbox: &mut Vec<Command>) {
        if self.settings.apply(&change) || matches!(change, Change::Interfaces(_)) {
            outbox.push(Command::Settings(change));
        }
    }

    /// The window was zoomed (by keyboard or in Settings): kept for the next start, to the
    /// percent.
    pub fn set_zoom(&mut self, zoom: f32, outbox: &mut Vec<Command>) {
        let zoom = (zoom * 100.0).round() / 100.0;
        self.change(Change::Zoom(zoom), outbox);
    }

    /// A room we joined was left: what was set for it goes with it (the runtime does the
    /// same to the settings it keeps).
    pub(super) fn forget(&mut self, room: &crate::protocol::RoomId) {
        self.settings.forget_room(room);
    }
}
