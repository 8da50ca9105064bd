//! The record layer: frame bytes sealed into Noise transport messages of at most 65,535
//! bytes, each with a 2-byte length, and opened back into frames (not enough bytes yet is
//! not bad bytes).

use super::{BUFFER, NOISE_MAX, READ_BUFFER};
use crate::protocol::{Frame, FrameCodec, ProtocolError, encode_into};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use snow::StatelessTransportState;
use std::sync::Arc;
use tokio_util::codec::{Decoder, Encoder};

/// The AEAD tag on every Noise transport message.
const TAG: usize = 16;
/// The most frame bytes one Noise message carries.
pub(super) const MAX_PLAIN: usize = NOISE_MAX - TAG;

/// Encrypts frame bytes into Noise transport messages.
pub(super) struct Sealer {
    noise: Arc<StatelessTransportState>,
    /// The next outgoing message's nonce; the other side counts the same way.
    nonce: u64,
    /// Scratch space for a frame's plain bytes.
    plain: BytesMut,
}

impl Sealer {
    /// A sealer starting at nonce 0, as a fresh link does.
    pub(super) fn new(noise: Arc<StatelessTransportState>) -> Self {
        Sealer {
            noise,
            nonce: 0,
            plain: BytesMut::new(),
        }
    }

    fn seal(&mut self, plain: &[u8], dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let before = dst.len();
        dst.reserve(plain.len() + plain.len().div_ceil(MAX_PLAIN) * (2 + TAG));
        for chunk in plain.chunks(MAX_PLAIN) {
            let len = chunk.len() + TAG;
            dst.put_u16(len as u16);
            let start = dst.len();
            dst.resize(start + len, 0);
            if let Err(e) = self
                .noise
                .write_message(self.nonce, chunk, &mut dst[start..])
            {
                // Nothing half-sealed goes out; the error ends the link.
                dst.truncate(before);
                return Err(ProtocolError::Malformed(format!("cannot encrypt: {e}")));
            }
            self.nonce += 1;
        }
        Ok(())
    }
}

impl Encoder<Frame> for Sealer {
    type Error = ProtocolError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let mut plain = std::mem::take(&mut self.plain);
        plain.clear();
        let sealed = encode_into(&frame, &mut plain).and_then(|()| self.seal(&plain, dst));
        self.plain = plain;
        sealed
    }
}

impl Encoder<Bytes> for Sealer {
    type Error = ProtocolError;

    fn encode(&mut self, bytes: Bytes, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        self.seal(&bytes, dst)
    }
}

/// Decrypts Noise transport messages and decodes the frames they carry.
pub(super) struct Opener {
    noise: Arc<StatelessTransportState>,
    /// The next incoming message's nonce: a replayed, dropped or reordered message fails.
    nonce: u64,
    /// Decrypted bytes not yet a whole frame.
    plain: BytesMut,
    /// Length prefix and MessagePack, as on a plain stream.
    frames: FrameCodec,
}

impl Opener {
    /// An opener starting at nonce 0, as a fresh link does.
    pub(super) fn new(noise: Arc<StatelessTransportState>) -> Self {
        Opener {
            noise,
            nonce: 0,
            plain: BytesMut::new(),
            frames: FrameCodec::default(),
        }
    }

    /// Decrypts the next whole Noise message in `src` onto the plain bytes; `false` if it has
    /// not all arrived yet (not enough bytes yet is not bad bytes).
    fn open_one(&mut self, src: &mut BytesMut) -> Result<bool, ProtocolError> {
        if src.len() < 2 {
            return Ok(false);
        }
        let len = u16::from_be_bytes([src[0], src[1]]) as usize;
        if len < TAG {
            return Err(ProtocolError::Decrypt);
        }
        if src.len() < 2 + len {
            // A big message means bulk data (a file): read far ahead, in few system calls.
            let ahead = if len > READ_BUFFER { BUFFER } else { 0 };
            src.reserve((2 + len - src.len()).max(ahead));
            return Ok(false);
        }
        src.advance(2);
        let message = src.split_to(len);
        let start = self.plain.len();
        self.plain.resize(start + len - TAG, 0);
        let n = self
            .noise
            .read_message(self.nonce, &message, &mut self.plain[start..])
            .map_err(|_| ProtocolError::Decrypt)?;
        self.plain.truncate(start + n);
        self.nonce += 1;
        Ok(true)
    }

    /// Decrypts every whole message in `src` (for tests of the record layer alone).
    #[cfg(test)]
    fn open_available(&mut self, src: &mut BytesMut) -> Result<(), ProtocolError> {
        while self.open_one(src)? {}
        Ok(())
    }
}

impl Decoder for Opener {
    type Item = Frame;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        loop {
            if let Some(frame) = self.frames.decode(&mut self.plain)? {
                return Ok(Some(frame));
            }
            if !self.open_one(src)? {
                return Ok(None);
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() && self.plain.is_empty() => Ok(None),
            None => Err(ProtocolError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::handshake::builder;
    use super::*;
    use crate::net::identity::Identity;
    use crate::protocol::MAX_FRAME_LEN;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Frame bytes of any length up to the cap are cut into Noise messages and put back
        /// together byte for byte, however the ciphertext arrives in pieces.
        #[test]
        fn bytes_survive_the_split_and_rejoin(
            len in 0usize..=MAX_FRAME_LEN + 4,
            seed in proptest::prelude::any::<u64>(),
            cuts in proptest::collection::vec(1usize..70_000, 1..8),
        ) {
            let (member, host) = transport_pair();
            let mut state = seed | 1;
            let plain: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let mut sealer = Sealer { noise: member, nonce: 0, plain: BytesMut::new() };
            let mut sealed = BytesMut::new();
            sealer.seal(&plain, &mut sealed).unwrap();
            sealer.seal(b"after", &mut sealed).unwrap();
            let mut opener = Opener {
                noise: host,
                nonce: 0,
                plain: BytesMut::new(),
                frames: FrameCodec::default(),
            };
            let mut src = BytesMut::new();
            let mut rest = &sealed[..];
            let mut i = 0;
            while !rest.is_empty() {
                let take = cuts[i % cuts.len()].min(rest.len());
                src.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                opener.open_available(&mut src).unwrap();
                i += 1;
            }
            proptest::prop_assert!(src.is_empty());
            proptest::prop_assert_eq!(opener.plain.len(), plain.len() + 5);
            proptest::prop_assert!(opener.plain[..plain.len()] == plain[..]);
            proptest::prop_assert_eq!(&opener.plain[plain.len()..], b"after");
        }
    }

    /// Two ends of a finished handshake, for the record layer alone.
    fn transport_pair() -> (Arc<StatelessTransportState>, Arc<StatelessTransportState>) {
        let (a, b) = (Identity::generate(), Identity::generate());
        let mut member = builder(b"test")
            .local_private_key(a.private())
            .unwrap()
            .build_initiator()
            .unwrap();
        let mut host = builder(b"test")
            .local_private_key(b.private())
            .unwrap()
            .build_responder()
            .unwrap();
        let (mut buf, mut out) = (vec![0u8; NOISE_MAX], vec![0u8; NOISE_MAX]);
        let n = member.write_message(&[], &mut buf).unwrap();
        host.read_message(&buf[..n], &mut out).unwrap();
        let n = host.write_message(&[], &mut buf).unwrap();
        member.read_message(&buf[..n], &mut out).unwrap();
        let n = member.write_message(&[], &mut buf).unwrap();
        host.read_message(&buf[..n], &mut out).unwrap();
        (
            Arc::new(member.into_stateless_transport_mode().unwrap()),
            Arc::new(host.into_stateless_transport_mode().unwrap()),
        )
    }
}
