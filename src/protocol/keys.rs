//! A device's public key: what its links prove in every Noise handshake, what direct
//! messages are sealed for, and what its device id and fingerprint are made of. It lives
//! with the frames that carry it and imports nothing else from the crate.

use super::DeviceId;
use serde::{Deserialize, Serialize};

/// A device's public key: its identity on the network.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key of these 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key from its 32 bytes (as a handshake hands them over).
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    /// The raw key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The device id this key stands for: hosts attribute everything to it.
    pub fn device(&self) -> DeviceId {
        DeviceId::of_key(&self.0)
    }

    /// The short form people compare aloud, e.g. `K7QF-M2XA-PL9D-3RTW`.
    pub fn fingerprint(&self) -> String {
        self.device()
            .fingerprint()
            .expect("a key's device id has a fingerprint")
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

/// Text that is not a key (this module imports nothing from the crate, so it has its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a key is 64 hex digits")]
pub struct NotAKey;

impl TryFrom<String> for PublicKey {
    type Error = NotAKey;
    fn try_from(s: String) -> Result<Self, NotAKey> {
        let bytes = hex32(s.trim()).ok_or(NotAKey)?;
        Ok(Self(bytes))
    }
}

impl From<PublicKey> for String {
    fn from(key: PublicKey) -> String {
        hex(&key.0)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}
