//! Where each OS keeps an app's settings and data, or one folder given on the command line.

use crate::protocol::RoomId;
use std::path::{Path, PathBuf};

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

    /// Makes lanchat's folders, private to this user (see `private_dir`). Blocking.
    pub fn create(&self) -> std::io::Result<()> {
        for dir in [&self.config, &self.data, &self.local] {
            private_dir(dir)?;
        }
        Ok(())
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

    /// A room's folder: a hosted room's history and password secret, and the secret of the
    /// password that let us into a joined one ([`Paths::let_in_file`]).
    pub fn room_dir(&self, room: &RoomId) -> PathBuf {
        self.data.join("rooms").join(room.as_str())
    }

    /// Where a joined locked room's secret is remembered, with the host key it was proven
    /// to, so that the room reopens at the next start without asking (owner-only, as the
    /// host's own secret file).
    pub fn let_in_file(&self, room: &RoomId) -> PathBuf {
        self.room_dir(room).join("let-in")
    }
}

/// Makes `dir` (and any missing parents) and leaves it readable by its owner only: it holds
/// every message and direct message of the profile. An existing folder that others may read
/// is closed to them (mode 0700 on Linux and macOS, whose `~/Library/Application Support` is
/// not private by itself; its other bits, setgid say, are kept). Windows gives each user's
/// application-data folder to that user alone already, so nothing is changed there. A
/// folder we do not own (a shared `--data-dir`) is left as it is, with a warning.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            let private = std::fs::Permissions::from_mode(mode & 0o7700);
            match std::fs::set_permissions(dir, private) {
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    tracing::warn!("{} is not ours to make private: {e}", dir.display());
                }
                set => set?,
            }
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_profile_folders_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let paths = Paths::resolve(Some(root.path().join("profile"))).unwrap();
        // One made by an older lanchat, open to everyone.
        std::fs::create_dir_all(&paths.config).unwrap();
        std::fs::set_permissions(&paths.config, std::fs::Permissions::from_mode(0o755)).unwrap();
        paths.create().unwrap();
        for dir in [&paths.config, &paths.data] {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
        }
    }
}
