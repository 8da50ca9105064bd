//! Password rooms: SPAKE2 run inside the encrypted link and bound to its handshake, with a
//! proof of the shared key each way, so the password never crosses the network and each
//! session tests one guess at most (see [`crate::protocol`], "Password rooms"). The host
//! slows down repeated wrong guesses from one address.

use crate::protocol::RoomId;
use spake2::{Ed25519Group, Identity as SpakeId, Password, Spake2};
use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What SPAKE2 runs on: derived from the room id and the password a person typed, so the
/// same password in two rooms is two different secrets. The host keeps this, not the
/// password itself.
#[derive(Clone, PartialEq, Eq)]
pub struct RoomSecret([u8; 32]);

impl std::fmt::Debug for RoomSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomSecret(..)")
    }
}

impl RoomSecret {
    /// The secret for `password` in `room`.
    pub fn derive(room: &RoomId, password: &str) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key("lanchat 2026-12 room password");
        hasher.update(room.as_str().as_bytes());
        hasher.update(&[0]);
        hasher.update(password.as_bytes());
        Self(*hasher.finalize().as_bytes())
    }

    /// Reads a hosted room's secret; `None` if the room has no password.
    pub fn load(path: &Path) -> std::io::Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        super::identity::tighten_permissions(path)?;
        let bytes: Vec<u8> = (0..text.trim().len() / 2)
            .filter_map(|i| u8::from_str_radix(text.trim().get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        let secret = bytes.try_into().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is damaged", path.display()),
            )
        })?;
        Ok(Some(Self(secret)))
    }

    /// Keeps a hosted room's secret in a file only its owner can read (or removes the file
    /// when the room has no password).
    pub fn store(secret: Option<&Self>, path: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let Some(secret) = secret else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = super::identity::owner_only_new(path)?;
        let hex: String = secret.0.iter().map(|b| format!("{b:02x}")).collect();
        file.write_all(hex.as_bytes())?;
        file.sync_all()
    }
}

/// Why a password exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("wrong password")]
    Wrong,
}

fn ids(handshake_hash: &[u8; 32]) -> (SpakeId, SpakeId) {
    let member = [b"lanchat member ".as_slice(), handshake_hash].concat();
    let host = [b"lanchat host ".as_slice(), handshake_hash].concat();
    (SpakeId::new(&member), SpakeId::new(&host))
}

/// A proof of the shared key, by one side, for this handshake.
fn proof(key: &[u8], side: &str, handshake_hash: &[u8; 32]) -> blake3::Hash {
    let key: [u8; 32] = blake3::derive_key("lanchat 2026-12 password proof", key);
    let mut mac = blake3::Hasher::new_keyed(&key);
    mac.update(side.as_bytes());
    mac.update(handshake_hash);
    mac.finalize()
}

/// The member's half of an exchange under way.
pub struct MemberExchange {
    spake: Spake2<Ed25519Group>,
    handshake_hash: [u8; 32],
}

impl MemberExchange {
    /// Starts the exchange on a link with this handshake hash; the message goes in `Hello`.
    pub fn start(secret: &RoomSecret, handshake_hash: [u8; 32]) -> (Self, Vec<u8>) {
        let (member, host) = ids(&handshake_hash);
        let (spake, message) =
            Spake2::<Ed25519Group>::start_a(&Password::new(secret.0), &member, &host);
        (
            Self {
                spake,
                handshake_hash,
            },
            message,
        )
    }

    /// Checks the host's answer; on success returns our proof for `Proof`. A host whose proof
    /// does not check out has another password (or is not the room's host).
    pub fn finish(self, message: &[u8], host_proof: &[u8]) -> Result<Vec<u8>, PasswordError> {
        let key = self
            .spake
            .finish(message)
            .map_err(|_| PasswordError::Wrong)?;
        if proof(&key, "host", &self.handshake_hash) != *host_proof {
            return Err(PasswordError::Wrong);
        }
        Ok(proof(&key, "member", &self.handshake_hash)
            .as_bytes()
            .to_vec())
    }
}

/// The host's answer to a member's message: its own message, its proof, and the proof it
/// must get back before letting the member in.
pub struct HostAnswer {
    pub message: Vec<u8>,
    pub proof: Vec<u8>,
    expected: blake3::Hash,
}

impl HostAnswer {
    /// Runs the host's side against the member's message.
    pub fn new(
        secret: &RoomSecret,
        handshake_hash: [u8; 32],
        member_message: &[u8],
    ) -> Result<Self, PasswordError> {
        let (member, host) = ids(&handshake_hash);
        let (spake, message) =
            Spake2::<Ed25519Group>::start_b(&Password::new(secret.0), &member, &host);
        let key = spake
            .finish(member_message)
            .map_err(|_| PasswordError::Wrong)?;
        Ok(Self {
            message,
            proof: proof(&key, "host", &handshake_hash).as_bytes().to_vec(),
            expected: proof(&key, "member", &handshake_hash),
        })
    }

    /// Whether the member's proof shows it had the same password (compared in constant time).
    pub fn admits(&self, member_proof: &[u8]) -> bool {
        self.expected == *member_proof
    }
}

/// Password tries per address: one at a time, and after a wrong one a wait that doubles with
/// each further wrong one; and for the whole room, a budget of wrong tries a minute, so many
/// addresses together cannot guess fast either. Guessing online is then too slow to matter.
#[derive(Debug)]
pub struct Guesses {
    inner: Mutex<Tries>,
    /// The first wait, and the longest.
    wait: Duration,
    wait_max: Duration,
}

#[derive(Debug)]
struct Tries {
    by_address: HashMap<IpAddr, Address>,
    /// Wrong tries the room may still see now, refilled over time.
    budget: crate::net::limits::Bucket,
}

#[derive(Debug)]
struct Address {
    /// Wrong passwords since the last right one.
    failures: u32,
    /// A try is under way.
    busy: bool,
    /// No try before this.
    not_before: Instant,
}

/// Addresses remembered at most. Past it, those with nothing held against them are forgotten;
/// if all have, newcomers wait (memory stays bounded, and no record is wiped by a flood).
const REMEMBERED: usize = 4096;

/// Wrong tries a room takes from everyone together: a burst, then this many a minute.
const ROOM_BUDGET: crate::net::limits::Rate = crate::net::limits::Rate {
    per_second: 20.0 / 60.0,
    burst: 30.0,
};

impl Guesses {
    /// Waits of `wait`, doubling, up to `wait_max`.
    pub fn new(wait: Duration, wait_max: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Tries {
                by_address: HashMap::new(),
                budget: crate::net::limits::Bucket::new(ROOM_BUDGET),
            }),
            wait,
            wait_max,
        })
    }

    /// Starts a try from `address` (see [`crate::net::host::address_key`]), or says how long
    /// to wait first and why. The try counts as wrong unless [`Try::right`] is called.
    pub fn begin(self: &Arc<Self>, address: IpAddr) -> Result<Try, (Duration, &'static str)> {
        const BUSY: &str = "another password try from this computer is under way";
        const WRONG: &str = "too many wrong passwords from this computer lately";
        const ROOM: &str = "too many wrong passwords for this room lately";
        let now = Instant::now();
        let mut tries = self.inner.lock().expect("password tries");
        if !tries.budget.can_take(1.0) {
            return Err((self.wait, ROOM));
        }
        if tries.by_address.len() >= REMEMBERED && !tries.by_address.contains_key(&address) {
            tries
                .by_address
                .retain(|_, a| a.busy || a.failures > 0 || a.not_before > now);
            if tries.by_address.len() >= REMEMBERED {
                return Err((self.wait, WRONG));
            }
        }
        let entry = tries.by_address.entry(address).or_insert(Address {
            failures: 0,
            busy: false,
            not_before: now,
        });
        if entry.busy {
            return Err((self.wait, BUSY));
        }
        if entry.not_before > now {
            return Err((entry.not_before - now, WRONG));
        }
        entry.busy = true;
        Ok(Try {
            guesses: self.clone(),
            address,
            right: false,
        })
    }

    fn end(&self, address: IpAddr, right: bool) {
        let mut tries = self.inner.lock().expect("password tries");
        if !right {
            tries.budget.take(1.0);
        }
        let Some(entry) = tries.by_address.get_mut(&address) else {
            return;
        };
        entry.busy = false;
        if right {
            tries.by_address.remove(&address);
            return;
        }
        entry.failures += 1;
        let doubling = 2u32.saturating_pow(entry.failures.saturating_sub(1).min(20));
        let wait = self.wait.saturating_mul(doubling).min(self.wait_max);
        entry.not_before = Instant::now() + wait;
    }
}

/// One password try under way; wrong unless marked right.
#[derive(Debug)]
pub struct Try {
    guesses: Arc<Guesses>,
    address: IpAddr,
    right: bool,
}

impl Try {
    /// The password was right: the address starts afresh.
    pub fn right(mut self) {
        self.right = true;
    }
}

impl Drop for Try {
    fn drop(&mut self) {
        self.guesses.end(self.address, self.right);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> RoomId {
        RoomId::parse("lab").unwrap()
    }

    #[test]
    fn the_same_password_admits_and_another_does_not() {
        let hash = [7u8; 32];
        let host = RoomSecret::derive(&room(), "tulip");
        for (typed, right) in [("tulip", true), ("tulips", false)] {
            let (member, message) =
                MemberExchange::start(&RoomSecret::derive(&room(), typed), hash);
            let answer = HostAnswer::new(&host, hash, &message).unwrap();
            match member.finish(&answer.message, &answer.proof) {
                Ok(proof) => {
                    assert!(right);
                    assert!(answer.admits(&proof));
                }
                Err(PasswordError::Wrong) => assert!(!right),
            }
        }
    }

    #[test]
    fn an_exchange_from_another_handshake_does_not_check_out() {
        let secret = RoomSecret::derive(&room(), "tulip");
        let (member, message) = MemberExchange::start(&secret, [1; 32]);
        // Relayed to a host on another link: the identities differ, so the keys do.
        let answer = HostAnswer::new(&secret, [2; 32], &message).unwrap();
        assert!(member.finish(&answer.message, &answer.proof).is_err());
    }

    #[test]
    fn wrong_tries_make_an_address_wait_longer_each_time() {
        let guesses = Guesses::new(Duration::from_secs(1), Duration::from_secs(3));
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let first = guesses.begin(ip).unwrap();
        assert!(guesses.begin(ip).is_err(), "one try at a time");
        drop(first); // wrong
        let (wait, why) = guesses.begin(ip).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(why.contains("wrong passwords"));
        assert!(
            guesses.begin("10.0.0.10".parse().unwrap()).is_ok(),
            "others are not held up"
        );
        guesses.end(ip, false);
        guesses.end(ip, false);
        let (wait, _) = guesses.begin(ip).unwrap_err();
        assert!(
            wait > Duration::from_secs(2),
            "{wait:?}: capped at 3 s, past 2 s"
        );
    }

    #[test]
    fn many_addresses_together_cannot_guess_fast_either() {
        let guesses = Guesses::new(Duration::from_secs(1), Duration::from_secs(3));
        let mut refused = 0;
        for i in 0..100u8 {
            match guesses.begin(IpAddr::from([10, 1, 0, i])) {
                Ok(attempt) => drop(attempt), // wrong
                Err((_, why)) => {
                    assert!(why.contains("for this room"));
                    refused += 1;
                }
            }
        }
        assert!(
            refused >= 60,
            "only {refused} of 100 wrong tries were held back"
        );
    }

    #[test]
    fn a_secret_is_kept_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("room").join("password");
        let secret = RoomSecret::derive(&room(), "tulip");
        RoomSecret::store(Some(&secret), &path).unwrap();
        assert_eq!(RoomSecret::load(&path).unwrap(), Some(secret));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        RoomSecret::store(None, &path).unwrap();
        assert_eq!(RoomSecret::load(&path).unwrap(), None);
    }
}
