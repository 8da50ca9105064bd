//! Trust on first use: the key each room's host had when we first got in, and the key each
//! person we exchanged direct messages with had, kept in the data dir. A host that later
//! presents another key for that room is not joined, and a person listed with another key is
//! not written to, until the user says so. Adverts only ever hint at a key; the handshake
//! proves a host's, and a direct message's seal proves its sender's.

use crate::net::identity::PublicKey;
use crate::net::link::Expect;
use crate::protocol::RoomId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
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

/// A file of pins: what was seen first, kept across runs. A damaged file is set aside (every
/// pin is then a first contact again), and one that cannot be read is never written over.
#[derive(Debug)]
struct PinFile<K, V> {
    path: PathBuf,
    pins: Mutex<BTreeMap<K, V>>,
    /// Held while writing, so saves land in the order they were made.
    saving: Mutex<()>,
    /// Set when the file exists but could not be read: it is then never written over.
    read_only: bool,
}

impl<K, V> PinFile<K, V>
where
    K: Ord + Serialize + serde::de::DeserializeOwned,
    V: Serialize + serde::de::DeserializeOwned,
{
    /// Reads the pins (blocking), with a warning to show if they could not be: `what` says
    /// what they are ("room hosts").
    fn load(path: PathBuf, what: &str) -> (Self, Option<String>) {
        let (pins, warning, read_only) = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(pins) => (pins, None, false),
                Err(e) => {
                    let aside = path.with_extension("json.broken");
                    let _ = std::fs::rename(&path, &aside);
                    let warning = format!(
                        "The list of known {what} ({}) was damaged ({e}) and was set aside; they will be trusted again on first contact.",
                        path.display()
                    );
                    (BTreeMap::new(), Some(warning), false)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (BTreeMap::new(), None, false),
            Err(e) => {
                // Not saved over: the pins may still be there once the file can be read.
                let warning = format!(
                    "Could not read the list of known {what} ({}: {e}); they are trusted as new, and the list is not changed.",
                    path.display()
                );
                (BTreeMap::new(), Some(warning), true)
            }
        };
        let file = PinFile {
            path,
            pins: Mutex::new(pins),
            saving: Mutex::new(()),
            read_only,
        };
        (file, warning)
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<K, V>) -> T) -> T {
        f(&mut self.pins.lock().expect("pins"))
    }

    /// Writes the pins (blocking).
    fn save(&self) -> std::io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        let _saving = self.saving.lock().expect("pins save");
        let bytes = serde_json::to_vec_pretty(&*self.pins.lock().expect("pins"))
            .map_err(std::io::Error::other)?;
        super::identity::write_private(&self.path, &bytes)
    }
}

/// The pinned host keys, shared by the runtime, sessions and transfers.
#[derive(Debug)]
pub struct KnownHosts {
    /// `known_hosts.json` in the data dir.
    pins: PinFile<RoomId, Pin>,
}

impl KnownHosts {
    /// Reads the pins (blocking: call off the async threads). A damaged file is set aside,
    /// with a warning to show: every room is then a first contact again.
    pub fn load(path: PathBuf) -> (Arc<KnownHosts>, Option<String>) {
        let (pins, warning) = PinFile::load(path, "room hosts");
        (Arc::new(KnownHosts { pins }), warning)
    }

    /// The pin of `room`, if it has one.
    pub fn pin(&self, room: &RoomId) -> Option<Pin> {
        self.pins.with(|pins| pins.get(room).cloned())
    }

    /// The room a person means by `wanted` (an id, or a name) among the rooms joined before:
    /// by id first, else the one pinned under that name most lately.
    pub fn meant(&self, wanted: &str) -> Option<(RoomId, Pin)> {
        self.pins.with(|pins| {
            let by_id =
                RoomId::parse(wanted).and_then(|id| Some((id.clone(), pins.get(&id)?.clone())));
            by_id.or_else(|| {
                pins.iter()
                    .filter(|(_, pin)| pin.room_name == wanted)
                    .max_by_key(|(_, pin)| pin.since)
                    .map(|(id, pin)| (id.clone(), pin.clone()))
            })
        })
    }

    /// Each pinned room's host fingerprint, and its name when pinned.
    pub fn fingerprints(&self) -> Vec<(RoomId, String, String)> {
        self.pins.with(|pins| {
            pins.iter()
                .map(|(room, pin)| (room.clone(), pin.key.fingerprint(), pin.room_name.clone()))
                .collect()
        })
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
        let changed = self.pins.with(|pins| {
            if pins.get(room).is_some_and(|p| p.key == key) {
                return false;
            }
            let pin = Pin {
                key,
                room_name: room_name.to_owned(),
                since: crate::protocol::now_ms(),
            };
            pins.insert(room.clone(), pin);
            true
        });
        if changed {
            self.pins.save()?;
        }
        Ok(changed)
    }
}

/// The key each person we exchanged direct messages with had, by their name: a direct
/// message is sealed for the key a room's host lists, and a host could list its own key under
/// a person's name. So the first key a name had is kept (trust on first use, as for hosts),
/// and another key under that name is not written to until the user accepts it; a key the
/// user checked with its owner (fingerprints compared) is marked verified.
#[derive(Debug)]
pub struct KnownPeople {
    /// `known_people.json` in the data dir.
    pins: PinFile<String, PersonPin>,
}

/// One person, as first met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonPin {
    /// The key they had.
    pub key: PublicKey,
    /// Whether the user compared fingerprints with them and marked the key verified.
    pub verified: bool,
    /// When it was pinned, milliseconds since the Unix epoch.
    pub since: i64,
}

/// What is known of a person's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Neither the name nor the key was written to before.
    New,
    /// The key their name had before; verified or not.
    Same { verified: bool },
    /// Their name was never written to, but their key was, under another name: the same
    /// device, renamed (or listed under someone else's name: the user is told which).
    Renamed { verified: bool, known_as: String },
    /// Their name had another key: nothing is sealed for this one until the user accepts it.
    Changed { pinned: PublicKey },
}

/// People remembered at most: past it, the oldest pin not verified makes room.
const PEOPLE: usize = 4096;

impl Known {
    /// What `pins` say of `name` having `key`: the name's pin first (a host listing another
    /// key under a known name is caught even if that key was pinned under another name),
    /// then the key's own, whatever name it had.
    pub fn of<'a>(
        pins: impl IntoIterator<Item = (&'a String, &'a PersonPin)>,
        name: &str,
        key: &PublicKey,
    ) -> Known {
        let mut by_key = None;
        for (pinned_as, pin) in pins {
            if pinned_as == name {
                return match pin.key == *key {
                    true => Known::Same {
                        verified: pin.verified,
                    },
                    false => Known::Changed { pinned: pin.key },
                };
            }
            if pin.key == *key && by_key.is_none() {
                by_key = Some(Known::Renamed {
                    verified: pin.verified,
                    known_as: pinned_as.clone(),
                });
            }
        }
        by_key.unwrap_or(Known::New)
    }
}

impl KnownPeople {
    /// Reads the pins (blocking).
    pub fn load(path: PathBuf) -> (Arc<KnownPeople>, Option<String>) {
        let (pins, warning) = PinFile::load(path, "people");
        (Arc::new(KnownPeople { pins }), warning)
    }

    /// What is known of `name` having `key`, pinning nothing: what a message *from* them
    /// is checked against (a message received never pins, so a host cannot plant a key
    /// under someone's name by writing first).
    pub fn check(&self, name: &str, key: PublicKey) -> Known {
        self.pins.with(|pins| Known::of(pins.iter(), name, &key))
    }

    /// What is known of `name` having `key` when the user writes to them; a first meeting
    /// (name and key both new) is pinned, in memory: [`KnownPeople::save`] writes it.
    pub fn meet(&self, name: &str, key: PublicKey) -> Known {
        self.pins.with(|pins| {
            let known = Known::of(pins.iter(), name, &key);
            if known == Known::New {
                if pins.len() >= PEOPLE {
                    let oldest = pins
                        .iter()
                        .min_by_key(|(_, pin)| (pin.verified, pin.since))
                        .map(|(name, _)| name.clone());
                    if let Some(oldest) = oldest {
                        pins.remove(&oldest);
                    }
                }
                let pin = PersonPin {
                    key,
                    verified: false,
                    since: crate::protocol::now_ms(),
                };
                pins.insert(name.to_owned(), pin);
            }
            known
        })
    }

    /// The user accepts `key` as `name`'s (a new computer, a reinstall), or says they checked
    /// it with its owner (`verified`). Blocking: saves the list.
    pub fn accept(&self, name: &str, key: PublicKey, verified: bool) -> std::io::Result<()> {
        self.pins.with(|pins| {
            let pin = PersonPin {
                key,
                verified,
                since: crate::protocol::now_ms(),
            };
            pins.insert(name.to_owned(), pin);
        });
        self.save()
    }

    /// The name a key was pinned under, if any.
    pub fn name_of(&self, key: &PublicKey) -> Option<String> {
        self.pins.with(|pins| {
            pins.iter()
                .find(|(_, pin)| pin.key == *key)
                .map(|(name, _)| name.clone())
        })
    }

    /// Every pin, for the front end.
    pub fn all(&self) -> Vec<(String, PersonPin)> {
        self.pins
            .with(|pins| pins.iter().map(|(n, p)| (n.clone(), p.clone())).collect())
    }

    /// Writes the list (blocking).
    pub fn save(&self) -> std::io::Result<()> {
        self.pins.save()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::identity::Identity;

    #[test]
    fn a_persons_first_key_is_kept_and_another_is_held_back_until_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_people.json");
        let (bob, host) = (Identity::generate().public(), Identity::generate().public());
        let (people, _) = KnownPeople::load(path.clone());
        assert_eq!(people.meet("Bob", bob), Known::New);
        assert_eq!(people.meet("Bob", bob), Known::Same { verified: false });
        people.save().unwrap();
        let (again, _) = KnownPeople::load(path.clone());
        assert_eq!(again.meet("Bob", host), Known::Changed { pinned: bob });
        assert_eq!(again.name_of(&bob).as_deref(), Some("Bob"));
        assert_eq!(again.name_of(&host), None);
        again.accept("Bob", bob, true).unwrap();
        let (again, _) = KnownPeople::load(path.clone());
        assert_eq!(again.meet("Bob", bob), Known::Same { verified: true });
        // Accepting a new key starts it over as not verified.
        again.accept("Bob", host, false).unwrap();
        assert_eq!(again.meet("Bob", host), Known::Same { verified: false });
    }

    #[test]
    fn a_renamed_person_keeps_their_pin_and_a_message_received_pins_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (people, _) = KnownPeople::load(dir.path().join("known_people.json"));
        let (bob, host) = (Identity::generate().public(), Identity::generate().public());
        assert_eq!(people.meet("Bob", bob), Known::New);
        people.accept("Bob", bob, true).unwrap();
        let renamed = Known::Renamed {
            verified: true,
            known_as: "Bob".into(),
        };
        assert_eq!(
            people.meet("Robert", bob),
            renamed,
            "no new pin, no warning"
        );
        assert_eq!(people.check("Robert", bob), renamed);
        // The host lists Bob's key under a known name: that name's pin speaks first.
        people.meet("Cy", host);
        assert_eq!(people.check("Cy", bob), Known::Changed { pinned: host });
        // A message from a stranger's key under a new name is checked, never pinned.
        let eve = Identity::generate().public();
        assert_eq!(people.check("Eve", eve), Known::New);
        assert_eq!(people.check("Eve", eve), Known::New);
        assert_eq!(people.name_of(&eve), None);
    }

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
