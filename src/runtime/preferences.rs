//! Settings: each change the front end asks for, applied where it matters now (open rooms,
//! discovery, transfers) and saved by one task, newest first.

use super::Runtime;
use crate::bridge::{Event, EventSender};
use crate::protocol::{RoomId, check_name};
use crate::store::{Alerts, Settings};
use std::path::PathBuf;
use tokio::sync::watch;

/// Starts the task that writes settings, newest first; failures reach the user as alerts.
pub(super) fn start_saver(
    path: std::path::PathBuf,
    initial: Settings,
    events: EventSender,
) -> (watch::Sender<Settings>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = watch::channel(initial);
    let task = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let settings = rx.borrow_and_update().clone();
            let path = path.clone();
            match tokio::task::spawn_blocking(move || settings.save(&path)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => events.send(Event::Alert(format!("Settings were not saved: {e}"))),
                Err(e) => events.send(Event::Alert(format!("Settings were not saved: {e}"))),
            }
        }
    });
    (tx, task)
}

impl Runtime {
    /// The display name in use.
    pub(super) fn name(&self) -> String {
        self.name_override
            .clone()
            .unwrap_or_else(|| self.settings.display_name())
    }

    /// Hands the settings as they are now to the saver; every change ends here.
    pub(super) fn save_settings(&self) {
        self.saver.send_replace(self.settings.clone());
    }

    /// Uses this display name from now on: in every room we are in and host, and saved
    /// unless the name was given for this run only.
    pub(super) fn rename(&mut self, name: String) {
        if check_name("name", &name).is_err() {
            return;
        }
        match &mut self.name_override {
            // A name given for this run (headless `--name`) is changed for this run only.
            Some(for_this_run) => *for_this_run = name.clone(),
            None => {
                self.settings.name = Some(name.clone());
                self.save_settings();
            }
        }
        for session in self.sessions.values() {
            session.rename(name.clone());
        }
        for hosted in self.hosts.values_mut() {
            hosted.host.rename_host(name.clone());
            hosted.advert.host = name.clone();
            hosted.changed.send_replace(());
        }
    }

    /// Changes settings that nothing else depends on (theme, zoom, reopening rooms, the
    /// automatic saving limit) and saves them.
    pub(super) fn change_settings(&mut self, change: impl FnOnce(&mut Settings)) {
        change(&mut self.settings);
        self.save_settings();
    }

    /// Saves received files in `dir` from now on.
    pub(super) fn set_downloads(&mut self, dir: PathBuf) {
        self.settings.downloads = Some(dir.clone());
        self.save_settings();
        self.transfers.set_downloads(dir.clone());
        self.events.send(Event::Downloads(dir));
    }

    /// How much the rooms we host keep of the files posted, for the open rooms too.
    pub(super) fn set_files_limit(&mut self, limit: u64) {
        self.settings.files_limit = limit;
        self.save_settings();
        for hosted in self.hosts.values() {
            hosted.host.set_files_limit(limit);
        }
    }

    /// The interfaces discovery is to use (empty: every suitable one), at once and at the
    /// next start.
    pub(super) fn choose_interfaces(&mut self, names: Vec<String>) {
        self.settings.interfaces = names.clone();
        self.save_settings();
        if let Some(discovery) = &self.discovery {
            discovery.choose(names.clone());
        }
        if self.interfaces.is_some() {
            self.interfaces = Some(names);
        }
        self.refresh_status();
    }

    /// Whether a room's received files are saved automatically (on unless turned off).
    pub(super) fn set_room_auto_save(&mut self, room: RoomId, on: bool) {
        if on {
            self.settings.no_auto_save.remove(&room);
        } else {
            self.settings.no_auto_save.insert(room);
        }
        self.save_settings();
    }

    /// What in a room alerts the user (everything unless said otherwise).
    pub(super) fn set_alerts(&mut self, room: RoomId, alerts: Alerts) {
        match alerts {
            Alerts::All => self.settings.alerts.remove(&room),
            other => self.settings.alerts.insert(room, other),
        };
        self.save_settings();
    }

    /// A room left takes its own settings with it.
    pub(super) fn forget_room_settings(&mut self, room: &RoomId) {
        let alerts = self.settings.alerts.remove(room).is_some();
        if self.settings.no_auto_save.remove(room) || alerts {
            self.save_settings();
        }
    }
}
