//! Password rooms: SPAKE2 run inside the encrypted link and bound to its handshake, with a
//! proof of the shared key each way, so the password never crosses the network and each
//! session tests one guess at most (see [`crate::protocol`], "Password rooms"). The host
//! slows down repeated wrong guesses from one address.

use crate::net::identity::PublicKey;
use crate::protocol::{DeviceId, RoomId, WaitCode};
use spake2::{Ed25519Group, Identity as SpakeId, Password, Spake2};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What SPAKE2 runs on: derived from the room id and the password a person typed, so the
/// same password in two rooms is two different secrets, and stretched with Argon2id, so that
/// a host's stolen secret file costs a memory-hard computation per guess. The host keeps
/// this, not the password itself.
#[derive(Clone, PartialEq, Eq)]
pub struct RoomSecret([u8; 32]);

/// Argon2id's cost for a room secret: OWASP's minimum for passwords (19 MiB, two passes, one
/// lane). A member pays it once per password typed, off the async threads.
const STRETCH_MEMORY_KIB: u32 = 19 * 1024;
const STRETCH_PASSES: u32 = 2;

/// How a stored secret file begins; one without it was written by a lanchat that did not
/// stretch the secret, and is stretched when read (see [`RoomSecret::load`]).
const STRETCHED: &str = "argon2id:";

/// Stretches a room's password digest (or a secret an older lanchat stored) with Argon2id,
/// salted with the room id.
fn stretch(digest: &[u8; 32], room: &RoomId) -> [u8; 32] {
    let params = argon2::Params::new(STRETCH_MEMORY_KIB, STRETCH_PASSES, 1, Some(32))
        .expect("valid Argon2 parameters");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = [b"lanchat room ".as_slice(), room.as_str().as_bytes()].concat();
    let mut out = [0u8; 32];
    argon
        .hash_password_into(digest, &salt, &mut out)
        .expect("a 32-byte digest and a salt of 13 bytes and more are in Argon2's range");
    out
}

impl std::fmt::Debug for RoomSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomSecret(..)")
    }
}

impl RoomSecret {
    /// The secret for `password` in `room`. Takes a memory-hard moment (tens of
    /// milliseconds): call it off the async threads.
    pub fn derive(room: &RoomId, password: &str) -> Self {
        Self(stretch(&digest(room, password), room))
    }

    /// Reads a hosted room's secret; `None` if the room has no password. A secret an older
    /// lanchat kept unstretched is stretched and written back. Blocking.
    pub fn load(path: &Path, room: &RoomId) -> std::io::Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        super::identity::tighten_permissions(path)?;
        let text = text.trim();
        let (hex, stretched) = match text.strip_prefix(STRETCHED) {
            Some(hex) => (hex, true),
            None => (text, false),
        };
        let bytes = hex32(hex).ok_or_else(|| damaged(path))?;
        if stretched {
            return Ok(Some(Self(bytes)));
        }
        // Kept by a lanchat before protocol 4: the password's digest itself.
        let secret = Self(stretch(&bytes, room));
        Self::store(Some(&secret), path)?;
        Ok(Some(secret))
    }

    /// Keeps a hosted room's secret in a file only its owner can read (or removes the file
    /// when the room has no password).
    pub fn store(secret: Option<&Self>, path: &Path) -> std::io::Result<()> {
        let Some(secret) = secret else {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        };
        // Replaced in one step: a crash while an old secret is stretched (or a password
        // changed) never leaves the room without one, open to anyone.
        let hex: String = secret.0.iter().map(|b| format!("{b:02x}")).collect();
        super::identity::write_private(path, format!("{STRETCHED}{hex}").as_bytes())
    }

    /// Remembers the secret that let us into a joined room, with the host key it was proven
    /// to, in a file only its owner can read. Blocking.
    pub fn remember(&self, host: &PublicKey, path: &Path) -> std::io::Result<()> {
        // Inside the profile's data folder, which only its owner can enter.
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        let key = String::from(*host);
        super::identity::write_private(path, format!("{STRETCHED}{hex}\n{key}\n").as_bytes())
    }

    /// The secret remembered for a joined room, if it was proven to `host` (the key the room
    /// is pinned to now); `None` if there is none, or it was proven to another key. Blocking.
    pub fn recall(path: &Path, host: &PublicKey) -> std::io::Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut lines = text.lines();
        let secret = lines
            .next()
            .and_then(|l| l.strip_prefix(STRETCHED))
            .and_then(hex32);
        let key = lines
            .next()
            .and_then(|k| PublicKey::try_from(k.to_owned()).ok());
        match (secret, key) {
            (Some(secret), Some(key)) => Ok((key == *host).then_some(Self(secret))),
            _ => Err(damaged(path)),
        }
    }

    /// Forgets the secret remembered for a joined room (a wrong one, or a room left).
    /// Blocking.
    pub fn forget(path: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// 32 bytes written as 64 hex digits.
fn hex32(hex: &str) -> Option<[u8; 32]> {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    (hex.len() == 64).then_some(bytes.try_into().ok()).flatten()
}

/// A secret file that cannot be read as one.
fn damaged(path: &Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{} is damaged", path.display()),
    )
}

/// The password's digest, bound to the room: what Argon2 stretches (and what lanchat kept
/// before protocol 4).
fn digest(room: &RoomId, password: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("lanchat 2026-12 room password");
    hasher.update(room.as_str().as_bytes());
    hasher.update(&[0]);
    hasher.update(password.as_bytes());
    *hasher.finalize().as_bytes()
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

/// Password tries, per address and per key: one at a time, and after a wrong one a wait that
/// doubles with each further wrong one. A key that has been a member of the room is held up
/// only by its own wrong tries, never by its address's: whoever guesses from the same
/// machine or network cannot lock the room's members out. Nothing is counted for the room as
/// a whole, so no number of guessers can lock out a newcomer on another machine either; each
/// guess is an online SPAKE2 exchange, and the secret behind it is stretched (see
/// [`RoomSecret`]).
#[derive(Debug)]
pub struct Guesses {
    inner: Mutex<Tries>,
    /// The first wait, and the longest.
    wait: Duration,
    wait_max: Duration,
}

/// Who has tried lately, and how it went.
#[derive(Debug, Default)]
struct Tries {
    /// Per address, for keys never seen in the room: making up keys does not buy tries.
    by_address: HashMap<IpAddr, Record>,
    /// Per key, members' included: a member is slowed by its own wrong tries only.
    by_key: HashMap<DeviceId, Record>,
}

/// The tries of one address or one key.
#[derive(Debug)]
struct Record {
    /// Wrong passwords since the last right one.
    failures: u32,
    /// A try is under way.
    busy: bool,
    /// No try before this.
    not_before: Instant,
}

/// Addresses and keys remembered at most, each. Past it, records whose wait ended long ago
/// are forgotten first, then the one whose wait ended first: memory stays bounded, and a
/// flood of addresses can cost an old guesser its record but never keep anyone out.
const REMEMBERED: usize = 4096;

const BUSY: WaitCode = WaitCode::TryUnderway;
const WRONG: WaitCode = WaitCode::WrongPasswords;

impl Tries {
    /// The record of `key` in `records`, made if need be: `Err` how long to wait. A record
    /// whose wait ended more than `forget_after` ago may be forgotten to make room.
    fn record<'a, K: std::hash::Hash + Eq + Clone>(
        records: &'a mut HashMap<K, Record>,
        key: &K,
        now: Instant,
        wait: Duration,
        forget_after: Duration,
    ) -> Result<&'a mut Record, (Duration, WaitCode)> {
        if records.len() >= REMEMBERED && !records.contains_key(key) {
            records.retain(|_, r| r.busy || r.not_before + forget_after > now);
            if records.len() >= REMEMBERED {
                let oldest = records
                    .iter()
                    .filter(|(_, r)| !r.busy)
                    .min_by_key(|(_, r)| r.not_before)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(oldest) => records.remove(&oldest),
                    // Thousands of tries at once: handshake places make this unreachable.
                    None => return Err((wait, BUSY)),
                };
            }
        }
        let record = records.entry(key.clone()).or_insert(Record {
            failures: 0,
            busy: false,
            not_before: now,
        });
        if record.busy {
            return Err((wait, BUSY));
        }
        if record.not_before > now {
            return Err((record.not_before - now, WRONG));
        }
        Ok(record)
    }
}

impl Guesses {
    /// Waits of `wait`, doubling, up to `wait_max`.
    pub fn new(wait: Duration, wait_max: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Tries::default()),
            wait,
            wait_max,
        })
    }

    /// Starts a try by `key` from `address` (see [`crate::net::host::address_key`]), or says
    /// how long to wait first and why; `member`: the key has been in the room before. The try
    /// counts as wrong unless [`Try::right`] is called; a message that is not a password
    /// exchange at all counts as a wrong try of its sender's.
    pub fn begin(
        self: &Arc<Self>,
        address: IpAddr,
        key: &DeviceId,
        member: bool,
    ) -> Result<Try, (Duration, WaitCode)> {
        let now = Instant::now();
        let mut tries = self.inner.lock().expect("password tries");
        let tries = &mut *tries;
        if !member {
            Tries::record(
                &mut tries.by_address,
                &address,
                now,
                self.wait,
                self.wait_max,
            )?;
        }
        Tries::record(&mut tries.by_key, key, now, self.wait, self.wait_max)?.busy = true;
        if !member && let Some(record) = tries.by_address.get_mut(&address) {
            record.busy = true;
        }
        Ok(Try {
            guesses: self.clone(),
            address: (!member).then_some(address),
            key: key.clone(),
            right: false,
        })
    }

    fn end(&self, address: Option<IpAddr>, key: &DeviceId, right: bool) {
        let mut tries = self.inner.lock().expect("password tries");
        let tries = &mut *tries;
        let wait = |failures: u32| {
            let doubling = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
            self.wait.saturating_mul(doubling).min(self.wait_max)
        };
        let end = |record: Option<&mut Record>| {
            let Some(record) = record else { return false };
            record.busy = false;
            if !right {
                record.failures += 1;
                record.not_before = Instant::now() + wait(record.failures);
            }
            right
        };
        if end(tries.by_key.get_mut(key)) {
            tries.by_key.remove(key);
        }
        if let Some(address) = address
            && end(tries.by_address.get_mut(&address))
        {
            tries.by_address.remove(&address);
        }
    }
}

/// One password try under way; wrong unless marked right.
#[derive(Debug)]
pub struct Try {
    guesses: Arc<Guesses>,
    /// `None` for a key that has been a member: its address's record is left alone.
    address: Option<IpAddr>,
    /// Whose record the outcome goes to.
    key: DeviceId,
    /// Marked by [`Try::right`]; a try dropped unmarked was wrong.
    right: bool,
}

impl Try {
    /// The password was right: the key (and its address) start afresh.
    pub fn right(mut self) {
        self.right = true;
    }
}

impl Drop for Try {
    fn drop(&mut self) {
        self.guesses.end(self.address, &self.key, self.right);
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

    fn key(name: &str) -> DeviceId {
        DeviceId::parse(name).unwrap()
    }

    #[test]
    fn a_flood_of_guessers_never_keeps_a_newcomer_or_a_member_out() {
        let guesses = Guesses::new(Duration::from_secs(60), Duration::from_secs(600));
        for i in 0..REMEMBERED as u32 + 10 {
            let ip = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            let guess = guesses.begin(ip, &key(&format!("g{i}")), false);
            drop(guess.expect("each guesser's first try")); // wrong
        }
        let fresh: IpAddr = "10.200.0.1".parse().unwrap();
        guesses
            .begin(fresh, &key("newcomer"), false)
            .expect("a newcomer's first try")
            .right();
        guesses
            .begin(fresh, &key("member"), true)
            .expect("a member's try")
            .right();
        let tries = guesses.inner.lock().unwrap();
        assert!(tries.by_address.len() <= REMEMBERED && tries.by_key.len() <= REMEMBERED);
    }

    #[test]
    fn wrong_tries_make_an_address_and_a_key_wait_longer_each_time() {
        let guesses = Guesses::new(Duration::from_secs(1), Duration::from_secs(3));
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let first = guesses.begin(ip, &key("mallory"), false).unwrap();
        assert!(
            guesses.begin(ip, &key("mallory2"), false).is_err(),
            "one try at a time from an address"
        );
        drop(first); // wrong
        let (wait, why) = guesses.begin(ip, &key("mallory3"), false).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert_eq!(why, WaitCode::WrongPasswords);
        assert!(
            guesses
                .begin("10.0.0.10".parse().unwrap(), &key("mallory"), false)
                .is_err(),
            "the key waits wherever it tries from"
        );
        assert!(
            guesses
                .begin("10.0.0.10".parse().unwrap(), &key("ann"), false)
                .is_ok(),
            "others are not held up"
        );
        guesses.end(Some(ip), &key("mallory"), false);
        guesses.end(Some(ip), &key("mallory"), false);
        let (wait, _) = guesses.begin(ip, &key("mallory4"), false).unwrap_err();
        assert!(
            wait > Duration::from_secs(2),
            "{wait:?}: capped at 3 s, past 2 s"
        );
    }

    #[test]
    fn guessers_on_many_addresses_lock_out_neither_a_member_nor_a_newcomer() {
        let guesses = Guesses::new(Duration::from_secs(1), Duration::from_secs(3));
        for i in 0..100u8 {
            let attempt = guesses.begin(IpAddr::from([10, 1, 0, i]), &key(&format!("k{i}")), false);
            drop(attempt.expect("every address gets its own first try")); // wrong
        }
        // A member on an address the guessers used, and a newcomer on another, still get in.
        let shared: IpAddr = IpAddr::from([10, 1, 0, 7]);
        guesses.begin(shared, &key("ann"), true).unwrap().right();
        guesses
            .begin("10.2.0.1".parse().unwrap(), &key("newcomer"), false)
            .unwrap()
            .right();
    }

    #[test]
    fn a_secret_is_kept_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("room").join("password");
        let secret = RoomSecret::derive(&room(), "tulip");
        RoomSecret::store(Some(&secret), &path).unwrap();
        assert_eq!(RoomSecret::load(&path, &room()).unwrap(), Some(secret));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        RoomSecret::store(None, &path).unwrap();
        assert_eq!(RoomSecret::load(&path, &room()).unwrap(), None);
    }

    #[test]
    fn a_secret_kept_unstretched_by_an_older_lanchat_is_stretched_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        // What a lanchat before protocol 4 kept: the password's digest, in hex.
        let old: String = digest(&room(), "tulip")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(&path, &old).unwrap();
        let loaded = RoomSecret::load(&path, &room()).unwrap().unwrap();
        assert_eq!(
            loaded,
            RoomSecret::derive(&room(), "tulip"),
            "members still get in"
        );
        let kept = std::fs::read_to_string(&path).unwrap();
        assert!(kept.starts_with(STRETCHED), "{kept}");
        assert!(
            !kept.contains(&old),
            "the fast digest is gone from the disk"
        );
        assert_eq!(RoomSecret::load(&path, &room()).unwrap(), Some(loaded));
    }

    #[test]
    fn a_remembered_secret_is_offered_only_to_the_key_it_was_proven_to() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rooms/r1/let-in");
        let room = RoomId::parse("r1").unwrap();
        let secret = RoomSecret::derive(&room, "tulip");
        let (host, other) = (
            crate::net::identity::Identity::generate().public(),
            crate::net::identity::Identity::generate().public(),
        );
        secret.remember(&host, &file).unwrap();
        assert_eq!(RoomSecret::recall(&file, &host).unwrap(), Some(secret));
        assert_eq!(
            RoomSecret::recall(&file, &other).unwrap(),
            None,
            "another key"
        );
        // A damaged file is an error, never a secret.
        std::fs::write(&file, "argon2id:zz\n").unwrap();
        assert!(RoomSecret::recall(&file, &host).is_err());
        RoomSecret::forget(&file).unwrap();
        assert_eq!(RoomSecret::recall(&file, &host).unwrap(), None);
    }

    #[test]
    fn the_kept_secret_is_not_the_fast_digest_and_differs_per_room() {
        let lab = RoomSecret::derive(&room(), "tulip");
        assert_ne!(lab.0, digest(&room(), "tulip"));
        let other = RoomSecret::derive(&RoomId::parse("other").unwrap(), "tulip");
        assert_ne!(lab, other);
        assert_eq!(lab, RoomSecret::derive(&room(), "tulip"));
    }
}
