//! Frames on a byte stream: a 4-byte big-endian length, then MessagePack.

use super::{Frame, MAX_FRAME_LEN};
use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// Why a session's byte stream could not be read as frames. Every variant but `Io` is the
/// peer's fault and ends that session only.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame longer than the {max} byte limit")]
    TooLarge { max: usize },
    #[error("connection ended in the middle of a frame")]
    Truncated,
    #[error("a message failed its integrity check (damaged, replayed or forged)")]
    Decrypt,
    #[error("undecodable frame: {0}")]
    Malformed(String),
    #[error("invalid {kind} frame: {reason}")]
    Invalid {
        kind: &'static str,
        reason: super::Invalid,
    },
    #[error("unexpected {kind} frame {context}")]
    OutOfOrder {
        kind: &'static str,
        context: &'static str,
    },
}

/// Length-prefixed MessagePack frames, with the size cap checked before any allocation.
#[derive(Debug)]
pub struct FrameCodec {
    /// Does the length prefix; rejects headers over [`MAX_FRAME_LEN`] before reserving.
    inner: LengthDelimitedCodec,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self {
            inner: LengthDelimitedCodec::builder()
                .length_field_length(4)
                .max_frame_length(MAX_FRAME_LEN)
                .new_codec(),
        }
    }
}

impl FrameCodec {
    fn map_inner_error(err: std::io::Error) -> ProtocolError {
        let too_large = err
            .get_ref()
            .is_some_and(|e| e.is::<tokio_util::codec::LengthDelimitedCodecError>());
        if too_large {
            ProtocolError::TooLarge { max: MAX_FRAME_LEN }
        } else {
            ProtocolError::Io(err)
        }
    }
}

/// Decodes and checks one frame body. A well-formed frame of a kind this version does not
/// know is [`Frame::Unknown`], so newer peers can add kinds.
fn decode_body(body: &[u8]) -> Result<Frame, ProtocolError> {
    let frame: Frame = match rmp_serde::from_slice(body) {
        Ok(frame) => frame,
        Err(e) => {
            /// Just the tag of a frame, whatever its content.
            #[derive(serde::Deserialize)]
            struct Tag {
                t: String,
            }
            match rmp_serde::from_slice::<Tag>(body) {
                Ok(tag) if !Frame::KINDS.contains(&tag.t.as_str()) => return Ok(Frame::Unknown),
                _ => return Err(ProtocolError::Malformed(e.to_string())),
            }
        }
    };
    frame.validate().map_err(|reason| ProtocolError::Invalid {
        kind: frame.kind(),
        reason,
    })?;
    Ok(frame)
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        match self.inner.decode(src).map_err(Self::map_inner_error)? {
            Some(body) => decode_body(&body).map(Some),
            None => Ok(None),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(ProtocolError::Truncated),
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = ProtocolError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        encode_into(&frame, dst)
    }
}

/// Encodes a frame once, length prefix included, so a host can send the same bytes to many.
pub fn encode_frame(frame: &Frame) -> Result<Bytes, ProtocolError> {
    let mut buf = BytesMut::new();
    encode_into(frame, &mut buf)?;
    Ok(buf.freeze())
}

pub(crate) fn encode_into(frame: &Frame, dst: &mut BytesMut) -> Result<(), ProtocolError> {
    let start = dst.len();
    dst.put_u32(0);
    let mut writer = dst.writer();
    let written = rmp_serde::encode::write_named(&mut writer, frame);
    let dst = writer.into_inner();
    if let Err(e) = written {
        dst.truncate(start); // leave nothing half-written behind
        return Err(ProtocolError::Malformed(e.to_string()));
    }
    let len = dst.len() - start - 4;
    if len > MAX_FRAME_LEN {
        dst.truncate(start);
        return Err(ProtocolError::TooLarge { max: MAX_FRAME_LEN });
    }
    dst[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}
