//! Settings: each change the front end asks for, applied where it matters now (open rooms,
//! discovery, transfers) and saved by one task, newest first.

use super::Runtime;
use crate::bridge::{Event, EventSender};
use crate::protocol::{RoomId, check_name};
use crate::store::{Alerts, HostedRoom, Settings};
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

    /// Changes the settings and saves them.
    pub(super) fn change(&mut self, change: impl FnOnce(&mut Settings)) {
        change(&mut self.settings);
        self.save();
    }

    /// Hands the settings as they are now to the saver; every change ends here.
    fn save(&self) {
        self.saver.send_replace(self.settings.clone());
    }

    /// Uses this display name from now on: for this run only if one was given for it
    /// (headless `--name`), else saved.
    fn rename(&mut self, name: &str) {
        match &mut self.name_override {
            Some(for_this_run) => *for_this_run = name.to_owned(),
            None => self.change(|s| s.name = Some(name.to_owned())),
        }
    }

    /// Whether a room's received files are saved automatically (on unless turned off).
    pub(super) fn set_room_auto_save(&mut self, room: RoomId, on: bool) {
        self.change(|s| {
            if on {
                s.no_auto_save.remove(&room);
            } else {
                s.no_auto_save.insert(room);
            }
        });
    }

    /// What in a room alerts the user (everything unless said otherwise).
    pub(super) fn set_alerts(&mut self, room: RoomId, alerts: Alerts) {
        self.change(|s| {
            match alerts {
                Alerts::All => s.alerts.remove(&room),
                other => s.alerts.insert(room, other),
            };
        });
    }

    /// A room left takes its own settings with it (saved only if it had any).
    pub(super) fn forget_room(&mut self, room: &RoomId) {
        let alerts = self.settings.alerts.remove(room).is_some();
        if self.settings.no_auto_save.remove(room) || alerts {
            self.save();
        }
    }

    /// A room we host has started: it is remembered (its port, and that it is open), to be
    /// hosted again at the same port and reopened at the next start.
    pub(super) fn remember_room(&mut self, room: HostedRoom) {
        self.change(|s| s.remember_room(room));
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
    /// Uses this display name from now on, in every room we are in and host.
    pub(super) fn rename(&mut self, name: String) {
        if check_name("name", &name).is_err() {
            return;
        }
        self.prefs.rename(&name);
        for session in self.sessions.values() {
            session.rename(name.clone());
        }
        for hosted in self.hosts.values_mut() {
            hosted.rename(&name);
        }
    }

    /// Saves received files in `dir` from now on.
    pub(super) fn set_downloads(&mut self, dir: PathBuf) {
        self.prefs.change(|s| s.downloads = Some(dir.clone()));
        self.transfers.set_downloads(dir.clone());
        self.events.send(Event::Downloads(dir));
    }

    /// How much the rooms we host keep of the files posted, for the open rooms too.
    pub(super) fn set_files_limit(&mut self, limit: u64) {
        self.prefs.change(|s| s.files_limit = limit);
        for hosted in self.hosts.values() {
            hosted.files.set_limit(limit);
        }
    }

    /// The interfaces discovery is to use (empty: every suitable one), at once and at the
    /// next start.
    pub(super) fn choose_interfaces(&mut self, names: Vec<String>) {
        self.prefs.change(|s| s.interfaces = names.clone());
        if let Some(discovery) = &self.discovery {
            discovery.choose(names.clone());
        }
        if self.interfaces.is_some() {
            self.interfaces = Some(names);
        }
        self.refresh_status();
    }
}
