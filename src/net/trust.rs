//! Trust on first use: the key each room's host had when we first got in, kept in the data
//! dir. A host that later presents another key for that room is not joined until the user
//! says so. Adverts only ever hint at a key; the handshake proves it.

use crate::net::identity::PublicKey;
use crate::net::link::Expect;
use crate::protocol::RoomId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One pinned room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The host key this room had.
    pub key: PublicKey,
    /// The room's name when pinned, to say which room a warning is about.
    pub room_name: String,
    /// When it was pinned, milliseconds since the Unix epoch.
    pub since: i64,
}

/// The pinned host keys, shared by the runtime, sessions and transfers.
#[derive(Debug)]
pub struct KnownHosts {
    /// `known_hosts.json` in the data dir.
    path: PathBuf,
    pins: Mutex<BTreeMap<RoomId, Pin>>,
    /// Held while writing, so saves land in the order they were made.
    saving: Mutex<()>,
    /// Set when the file exists but could not be read: it is then never written over.
    read_only: bool,
}

impl KnownHosts {
    /// Reads the pins (blocking: call off the async threads). A damaged file is set aside,
    /// with a warning to show: every room is then a first contact again.
    pub fn load(path: PathBuf) -> (Arc<KnownHosts>, Option<String>) {
        let (pins, warning) = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(pins) => (pins, None),
                Err(e) => {
                    let aside = path.with_extension("json.broken");
                    let _ = std::fs::rename(&path, &aside);
                    let warning = format!(
                        "The list of known room hosts ({}) was damaged ({e}) and was set aside; rooms will be trusted again on first join.",
                        path.display()
                    );
                    (BTreeMap::new(), Some(warning))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (BTreeMap::new(), None),
            Err(e) => {
                // Not saved over: the pins may still be there once the file can be read.
                let warning = format!(
                    "Could not read the list of known room hosts ({}: {e}); rooms are trusted as new, and the list is not changed.",
                    path.display()
                );
                let hosts = KnownHosts {
                    path,
                    pins: Mutex::new(BTreeMap::new()),
                    saving: Mutex::new(()),
                    read_only: true,
                };
                return (Arc::new(hosts), Some(warning));
            }
        };
        let hosts = KnownHosts {
            path,
            pins: Mutex::new(pins),
            saving: Mutex::new(()),
            read_only: false,
        };
        (Arc::new(hosts), warning)
    }

    /// The pin of `room`, if it has one.
    pub fn pin(&self, room: &RoomId) -> Option<Pin> {
        self.pins.lock().expect("pins").get(room).cloned()
    }

    /// Each pinned room's host fingerprint.
    pub fn fingerprints(&self) -> Vec<(RoomId, String)> {
        let pins = self.pins.lock().expect("pins");
        pins.iter()
            .map(|(room, pin)| (room.clone(), pin.key.fingerprint()))
            .collect()
    }

    /// Whom a link to `room` must reach.
    pub fn expect(&self, room: &RoomId) -> Expect {
        match self.pin(room) {
            Some(pin) => Expect::Key(pin.key),
            None => Expect::Anyone,
        }
    }

    /// Pins `key` for `room` (a first join, or the user trusting a new key) and saves the
    /// list (blocking). Returns whether anything changed.
    pub fn trust(&self, room: &RoomId, key: PublicKey, room_name: &str) -> std::io::Result<bool> {
        {
            let mut pins = self.pins.lock().expect("pins");
            if pins.get(room).is_some_and(|p| p.key == key) {
                return Ok(false);
            }
            pins.insert(
                room.clone(),
                Pin {
                    key,
                    room_name: room_name.to_owned(),
                    since: crate::net::now_ms(),
                },
            );
        }
        self.save()?;
        Ok(true)
    }

    fn save(&self) -> std::io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        let _saving = self.saving.lock().expect("pins save");
        let bytes = serde_json::to_vec_pretty(&*self.pins.lock().expect("pins"))
            .map_err(std::io::Error::other)?;
        write_atomically(&self.path, &bytes)
    }
}

/// Writes a file so that a crash leaves the old one or the new one, never half.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        // Which rooms you joined is yours to know.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::identity::Identity;

    #[test]
    fn a_pin_is_kept_and_a_new_key_replaces_it_only_when_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts.json");
        let room = RoomId::parse("lab").unwrap();
        let (first, second) = (Identity::generate().public(), Identity::generate().public());
        let (hosts, warning) = KnownHosts::load(path.clone());
        assert!(warning.is_none());
        assert_eq!(hosts.expect(&room), Expect::Anyone);
        assert!(hosts.trust(&room, first, "Lab").unwrap());
        assert!(!hosts.trust(&room, first, "Lab").unwrap());
        let (again, _) = KnownHosts::load(path.clone());
        assert_eq!(again.expect(&room), Expect::Key(first));
        again.trust(&room, second, "Lab").unwrap();
        assert_eq!(
            KnownHosts::load(path.clone()).0.expect(&room),
            Expect::Key(second)
        );

        std::fs::write(&path, b"{ damaged").unwrap();
        let (fresh, warning) = KnownHosts::load(path);
        assert!(warning.unwrap().contains("damaged"));
        assert_eq!(fresh.expect(&room), Expect::Anyone);
    }
}
