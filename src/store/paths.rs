//! Where each OS keeps an app's settings and data, or one folder given on the command line.

use crate::protocol::RoomId;
use std::path::PathBuf;

/// The folders lanchat writes to.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Holds `settings.json`.
    pub config: PathBuf,
    /// Holds this device's key, the pinned host keys, and one folder per hosted room with its
    /// history and password: small things that may follow the user between computers (on
    /// Windows, the roaming profile).
    pub data: PathBuf,
    /// Holds the files hosted rooms keep (up to gigabytes): data that stays on this computer
    /// (on Windows, the local profile, never the roaming one).
    pub local: PathBuf,
    /// Where received files go unless the settings say otherwise: the OS's downloads folder,
    /// or `dir/downloads` with a data dir (so profiles stay apart).
    pub downloads: PathBuf,
}

impl Paths {
    /// The OS's folders for lanchat, or `dir/config` and `dir/data` when a data dir is given
    /// (so several instances on one machine stay apart).
    pub fn resolve(data_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(dir) = data_dir {
            return Ok(Self {
                config: dir.join("config"),
                data: dir.join("data"),
                local: dir.join("data"),
                downloads: dir.join("downloads"),
            });
        }
        let dirs = directories::ProjectDirs::from("", "", "lanchat").ok_or_else(|| {
            anyhow::anyhow!(
                "cannot tell where this system keeps app data (no home folder?); pass --data-dir"
            )
        })?;
        let downloads = directories::UserDirs::new()
            .and_then(|u| u.download_dir().map(PathBuf::from))
            .unwrap_or_else(|| dirs.data_dir().join("downloads"));
        Ok(Self {
            config: dirs.config_dir().to_path_buf(),
            data: dirs.data_dir().to_path_buf(),
            local: dirs.data_local_dir().to_path_buf(),
            downloads,
        })
    }

    /// This device's private key (see [`crate::net::identity`]).
    pub fn identity_file(&self) -> PathBuf {
        self.data.join("identity.key")
    }

    /// The profile's database (see [`crate::store::Database`]).
    pub fn database_file(&self) -> PathBuf {
        self.data.join("lanchat.db")
    }

    pub fn settings_file(&self) -> PathBuf {
        self.config.join("settings.json")
    }

    /// Where a hosted room keeps the files shared in it.
    pub fn room_files(&self, room: &RoomId) -> PathBuf {
        self.local.join("rooms").join(room.as_str()).join("files")
    }

    /// A hosted room's folder.
    pub fn room_dir(&self, room: &RoomId) -> PathBuf {
        self.data.join("rooms").join(room.as_str())
    }
}
