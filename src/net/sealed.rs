//! Direct messages sealed end to end: readable only by the two devices, whatever relays them.
//!
//! One Noise message of the one-way `X` pattern (`Noise_X_25519_AESGCM_SHA256`): the sender
//! knows the recipient's static key (from the member list, checked against the recipient's
//! device id, which is derived from it), sends an ephemeral key and its own static key
//! encrypted, and the payload. Only the recipient's private key opens it, and opening it
//! proves which static key sent it. The prologue binds the room it was sent through, so a
//! relay cannot present it as sent elsewhere. A relay can replay a sealed message: the
//! payload carries the sender's number for it, by which the recipient keeps it once.

use super::identity::{Identity, PublicKey};
use crate::protocol::RoomId;

/// The Noise protocol a direct message is sealed with.
pub const DIRECT_PARAMS: &str = "Noise_X_25519_AESGCM_SHA256";
/// The longest sealed payload: one Noise message, less the keys and tags around it.
pub const MAX_SEALED_PAYLOAD: usize = 65535 - 32 - 48 - 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the message is too long to send directly")]
    TooLong,
    #[error("it could not be opened: not for this device, or changed on the way")]
    Unreadable,
}

fn prologue(room: &RoomId) -> Vec<u8> {
    let mut prologue = b"lanchat direct v1\0".to_vec();
    prologue.extend_from_slice(room.as_str().as_bytes());
    prologue
}

fn builder(prologue: &[u8]) -> snow::Builder<'_> {
    snow::Builder::new(DIRECT_PARAMS.parse().expect("valid Noise parameters"))
        .prologue(prologue)
        .expect("a prologue is accepted once")
}

/// Seals `payload` for the device whose key is `to`, as sent by `me` through `room`.
pub fn seal(
    me: &Identity,
    to: &PublicKey,
    room: &RoomId,
    payload: &[u8],
) -> Result<Vec<u8>, SealError> {
    if payload.len() > MAX_SEALED_PAYLOAD {
        return Err(SealError::TooLong);
    }
    let prologue = prologue(room);
    let mut noise = builder(&prologue)
        .local_private_key(me.private())
        .and_then(|b| b.remote_public_key(to.as_bytes()))
        .and_then(|b| b.build_initiator())
        .expect("keys of the right length");
    let mut sealed = vec![0u8; 65535];
    let len = noise
        .write_message(payload, &mut sealed)
        .map_err(|_| SealError::TooLong)?;
    sealed.truncate(len);
    Ok(sealed)
}

/// Opens a message sealed for `me` through `room`: its payload, and the key that sealed it.
pub fn open(
    me: &Identity,
    room: &RoomId,
    sealed: &[u8],
) -> Result<(PublicKey, Vec<u8>), SealError> {
    let prologue = prologue(room);
    let mut noise = builder(&prologue)
        .local_private_key(me.private())
        .and_then(|b| b.build_responder())
        .expect("a key of the right length");
    let mut payload = vec![0u8; sealed.len()];
    let len = noise
        .read_message(sealed, &mut payload)
        .map_err(|_| SealError::Unreadable)?;
    payload.truncate(len);
    let sender = noise
        .get_remote_static()
        .and_then(PublicKey::from_slice)
        .ok_or(SealError::Unreadable)?;
    Ok((sender, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recipient_opens_it_and_learns_who_sealed_it() {
        let (ada, bob, eve) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let room = RoomId::parse("lab").unwrap();
        let sealed = seal(&ada, &bob.public(), &room, b"for Bob only").unwrap();
        assert!(
            !sealed
                .windows(b"for Bob only".len())
                .any(|w| w == b"for Bob only"),
            "no plaintext in it"
        );
        let (from, text) = open(&bob, &room, &sealed).unwrap();
        assert_eq!(
            (from, text.as_slice()),
            (ada.public(), &b"for Bob only"[..])
        );
        // Nobody else, and not through another room, and not changed on the way.
        assert_eq!(open(&eve, &room, &sealed), Err(SealError::Unreadable));
        let other = RoomId::parse("attic").unwrap();
        assert_eq!(open(&bob, &other, &sealed), Err(SealError::Unreadable));
        for at in [0, 40, sealed.len() - 1] {
            let mut changed = sealed.clone();
            changed[at] ^= 1;
            assert_eq!(open(&bob, &room, &changed), Err(SealError::Unreadable));
        }
        assert!(open(&bob, &room, &sealed[..10]).is_err());
        // Two seals of one text differ (a fresh ephemeral key each time).
        assert_ne!(
            seal(&ada, &bob.public(), &room, b"x").unwrap(),
            seal(&ada, &bob.public(), &room, b"x").unwrap()
        );
        assert_eq!(
            seal(&ada, &bob.public(), &room, &vec![0; MAX_SEALED_PAYLOAD + 1]),
            Err(SealError::TooLong)
        );
        assert!(seal(&ada, &bob.public(), &room, &vec![0; MAX_SEALED_PAYLOAD]).is_ok());
    }
}
