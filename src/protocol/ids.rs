//! Room and device ids: short tokens from the network, checked as they are parsed, and the
//! fingerprint two people compare aloud.

use super::Invalid;
use serde::{Deserialize, Serialize};

/// A room's identity: random, chosen when the room is first hosted, kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomId(std::sync::Arc<str>);

/// A device's identity on the network: derived from its public key ([`DeviceId::of_key`]),
/// so it cannot be claimed without that key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(std::sync::Arc<str>);

macro_rules! token_id {
    ($ty:ident) => {
        impl $ty {
            /// A fresh random id: 16 lowercase hex digits (64 bits).
            pub fn random() -> Self {
                Self(format!("{:016x}", rand::random::<u64>()).into())
            }

            /// The id as text, as it appears in TXT records and on the command line.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Accepts 1 to 32 ASCII letters, digits, `-` or `_`: ids come from the network.
            pub fn parse(s: &str) -> Option<Self> {
                let ok = (1..=32).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                ok.then(|| Self(s.into()))
            }
        }

        impl TryFrom<String> for $ty {
            type Error = Invalid;
            fn try_from(s: String) -> Result<Self, Invalid> {
                Self::parse(&s).ok_or(Invalid::Malformed {
                    what: stringify!($ty),
                })
            }
        }

        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.0.to_string()
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
token_id!(RoomId);
token_id!(DeviceId);

/// Crockford's base32 alphabet: no I, L, O or U, so a fingerprint read aloud is not misheard.
const FINGERPRINT_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl DeviceId {
    /// The device id of a public key: 128 bits of its BLAKE3 hash, in hex.
    pub fn of_key(key: &[u8; 32]) -> DeviceId {
        let hash = blake3::derive_key("lanchat 2026-12 device id", key);
        DeviceId(
            hash[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
        )
    }

    /// The first 80 bits of the device id as four groups of four characters, for two people
    /// to compare aloud (`K7QF-M2XA-PL9D-3RTW`). `None` for ids not made by [`Self::of_key`].
    pub fn fingerprint(&self) -> Option<String> {
        let s = &self.0;
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let bits = u128::from_str_radix(&s[..20], 16).ok()?; // 80 bits
        let mut out = String::with_capacity(19);
        for i in 0..16 {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            let digit = (bits >> (75 - 5 * i)) & 31;
            out.push(FINGERPRINT_ALPHABET[digit as usize] as char);
        }
        Some(out)
    }
}

/// The host's id for one member of one room, unique while the room runs.
pub type MemberId = u32;
