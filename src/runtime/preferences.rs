//! Settings: each change the front end asks for, applied where it matters now (open rooms,
//! discovery, transfers) and saved by one task, newest first.

use super::Runtime;
use crate::bridge::{Event, EventSender};
use crate::protocol::{RoomId, check_name};
use crate::store::{Change, HostedRoom, Settings};
use std::path::PathBuf;
use tokio::sync::watch;

/// The settings as the runtime keeps them, with what saves them: they change only through
/// its methods, each of which saves what it changed.
pub(super) struct Preferences {
    /// The settings as they are now.
    settings: Settings,
    /// The newest settings to write; a single task writes them, so saves never interleave.
    saver: watch::Sender<Settings>,
    /// This run's display name, if given on the command line (headless `--name`): a rename
    /// changes it instead of the saved name.
    name_override: Option<String>,
}

impl Preferences {
    /// Starts the task that writes settings to `path`, newest first (failures reach the user as
    /// alerts); it ends after the last save once these preferences are dropped.
    pub(super) fn start(
        path: PathBuf,
        settings: Settings,
        name_override: Option<String>,
        events: EventSender,
    ) -> (Preferences, tokio::task::JoinHandle<()>) {
        let (saver, mut rx) = watch::channel(settings.clone());
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let settings = rx.borrow_and_update().clone();
                let path = path.clone();
                match tokio::task::spawn_blocking(move || settings.save(&path)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        events.send(Event::Alert(format!("Settings were not saved: {e}")))
                    }
                    Err(e) => events.send(Event::Alert(format!("Settings were not saved: {e}"))),
                }
            }
        });
        let preferences = Preferences {
            settings,
            saver,
            name_override,
        };
        (preferences, task)
    }

    /// The settings as they are now.
    pub(super) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The display name in use.
    pub(super) fn name(&self) -> String {
        self.name_override
            .clone()
            .unwrap_or_else(|| self.settings.display_name())
    }

    /// Applies `change` and saves the settings if it changed them; returns whether it did.
    /// A name given for this run (headless `--name`) is changed instead of the saved one.
    fn change(&mut self, change: &Change) -> bool {
        if let (Change::Name(name), Some(for_this_run)) = (change, &mut self.name_override) {
            let changed = for_this_run != name;
            name.clone_into(for_this_run);
            return changed;
        }
        let changed = self.settings.apply(change);
        if changed {
            self.save();
        }
        changed
    }

    /// Changes the settings with `change` and saves them.
    fn change_with(&mut self, change: impl FnOnce(&mut Settings)) {
        change(&mut self.settings);
        self.save();
    }

    /// Hands the settings as they are now to the saver; every change ends here.
    fn save(&self) {
        self.saver.send_replace(self.settings.clone());
    }

    /// A room left takes its own settings with it (saved only if it had any).
    pub(super) fn forget_room(&mut self, room: &RoomId) {
        if self.settings.forget_room(room) {
            self.save();
        }
    }

    /// A room we host has started: it is remembered (its port, and that it is open), to be
    /// hosted again at the same port and reopened at the next start.
    pub(super) fn remember_room(&mut self, room: HostedRoom) {
        self.change_with(|s| s.remember_room(room));
    }

    /// A room we host was closed by the user: it stays closed at the next start. (Rooms still
    /// open at shutdown keep `open`, and come back.)
    pub(super) fn room_closed(&mut self, room: &RoomId) {
        if let Some(remembered) = self.settings.hosted.iter_mut().find(|r| r.id == *room) {
            remembered.open = false;
            self.save();
        }
    }
}

impl Runtime {
    /// A setting the user changed: kept, and put to work where it matters now.
    pub(super) fn change_settings(&mut self, change: Change) {
        if let Change::Name(name) = &change
            && check_name("name", name).is_err()
        {
            return;
        }
        // Interfaces chosen for this run (`--interface`) are not in the settings: the
        // window's choice replaces them even where the saved choice stays the same.
        if !self.prefs.change(&change) && !matches!(change, Change::Interfaces(_)) {
            return;
        }
        match change {
            Change::Name(name) => {
                for session in self.sessions.values() {
                    session.rename(name.clone());
                }
                for hosted in self.hosts.values_mut() {
                    hosted.rename(&name);
                }
            }
            Change::Downloads(dir) => {
                self.transfers.set_downloads(dir.clone());
                self.events.send(Event::Downloads(dir));
            }
            Change::FilesLimit(limit) => {
                for hosted in self.hosts.values() {
                    hosted.files.set_limit(limit);
                }
            }
            Change::Interfaces(names) => {
                if let Some(discovery) = &self.discovery {
                    discovery.choose(names.clone());
                }
                // `--interface` chose them for this run; the window's choice replaces it.
                if self.interfaces.is_some() {
                    self.interfaces = Some(names);
                }
                self.refresh_status();
            }
            Change::StartAtLogin(on) => {
                let events = self.events.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = crate::desktop::autostart::set(on) {
                        events.send(Event::Alert(e));
                    }
                });
            }
            // Read where they are used (the front ends, the next start, a file's arrival:
            // `auto_save.rs`).
            Change::Theme(_)
            | Change::Zoom(_)
            | Change::ReopenRooms(_)
            | Change::AutoSave(_)
            | Change::RoomAutoSave { .. }
            | Change::Alerts { .. } => {}
        }
    }
}
