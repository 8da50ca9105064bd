//! The frame decoder on arbitrary bytes: `lanchat::protocol::FrameCodec` (length prefix,
//! size cap, MessagePack, `Frame::validate`) fed the input in arbitrary pieces, the way a
//! socket hands it over, then told the stream ended.
//!
//! Input: byte 0 and 1 choose how the rest is cut into pieces; the rest is the stream.
//! Must hold for any input: no panic; every frame decoded passes `validate`, re-encodes, and
//! decodes back equal (and re-encodes to the same bytes); an error ends the stream, as it
//! ends a session.

#![no_main]

use bytes::BytesMut;
use lanchat::protocol::{Frame, FrameCodec, MAX_FRAME_LEN, ProtocolError, encode_frame};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let (cut, stream) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => return,
    };
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::new();
    let mut pieces = Pieces::new(cut);
    let mut rest = stream;
    while !rest.is_empty() {
        let take = pieces.next_len(rest.len());
        buf.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => check(&frame),
                Ok(None) => break,
                Err(e) => return check_error(&e),
            }
        }
    }
    // The stream ends: whatever is left is a frame, nothing, or a frame cut short.
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => check(&frame),
            Ok(None) => {
                assert!(buf.is_empty(), "decode_eof said done with bytes left");
                break;
            }
            Err(e) => return check_error(&e),
        }
    }
});

/// The piece sizes: one of a few regimes (byte by byte, small, around a header, large),
/// varied by a little xorshift so one input cuts the same way every run.
struct Pieces {
    state: u32,
    max: usize,
}

impl Pieces {
    fn new(cut: u16) -> Self {
        let max = match cut & 7 {
            0 => usize::MAX, // all at once
            1 => 1,
            2 => 3,
            3 => 5,
            4 => 16,
            5 => 64,
            6 => 1024,
            _ => 8192,
        };
        Self {
            state: u32::from(cut) | 0x9e37_0001,
            max,
        }
    }

    fn next_len(&mut self, left: usize) -> usize {
        if self.max == usize::MAX {
            return left;
        }
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        (1 + self.state as usize % self.max).min(left)
    }
}

/// Every frame the codec hands out is valid and survives a round trip unchanged.
fn check(frame: &Frame) {
    if let Err(reason) = frame.validate() {
        panic!(
            "the codec handed out an invalid {} frame: {reason}",
            frame.kind()
        );
    }
    if *frame == Frame::Unknown {
        return; // decoded from a newer kind; never sent
    }
    assert!(Frame::KINDS.contains(&frame.kind()));
    let bytes = match encode_frame(frame) {
        Ok(bytes) => bytes,
        // The input may have used MessagePack's compact forms (arrays for structs, small
        // ints): the named form of a frame near the cap can be over it. Nothing else fails.
        Err(ProtocolError::TooLarge { .. }) => return,
        Err(e) => panic!("a decoded {} frame does not encode: {e}", frame.kind()),
    };
    assert!(bytes.len() <= MAX_FRAME_LEN + 4);
    // The codec's own encoder writes the same bytes.
    let mut via_codec = BytesMut::new();
    FrameCodec::default()
        .encode(frame.clone(), &mut via_codec)
        .expect("encodes as encode_frame did");
    assert_eq!(&via_codec[..], &bytes[..]);
    let mut again = BytesMut::from(&bytes[..]);
    let decoded = FrameCodec::default()
        .decode_eof(&mut again)
        .unwrap_or_else(|e| panic!("a re-encoded {} frame does not decode: {e}", frame.kind()))
        .expect("a whole frame");
    assert!(again.is_empty());
    assert_eq!(&decoded, frame, "the frame changed in a round trip");
    let twice = encode_frame(&decoded).expect("encodes again");
    assert_eq!(twice, bytes, "re-encoding is not stable");
}

/// Errors are fine; each is one the codec means to give.
fn check_error(e: &ProtocolError) {
    match e {
        ProtocolError::TooLarge { max } => assert_eq!(*max, MAX_FRAME_LEN),
        ProtocolError::Truncated | ProtocolError::Malformed(_) | ProtocolError::Invalid { .. } => {}
        // The plain codec does no I/O, no decryption, and knows no conversation.
        ProtocolError::Io(_) | ProtocolError::Decrypt | ProtocolError::OutOfOrder { .. } => {
            panic!("the frame codec gave an error it has no cause for: {e}")
        }
    }
    let _ = e.to_string();
}
