//! The one seam every connection goes through: dialling (racing a room's addresses) or
//! accepting, the version check, the Noise handshake that proves both devices' keys, the
//! deadlines, and the codec that turns frames into encrypted records and back. Chat
//! sessions, uploads, downloads and `Who` probes all get a [`Link`] from here and never
//! touch a socket; tests hand it an in-memory `tokio::io::duplex` pair instead.
//!
//! On the wire (see [`crate::protocol`] for the whole spec): a 6-byte version preamble each
//! way, then `Noise_XX_25519_AESGCM_SHA256` with 2-byte-length-prefixed handshake messages,
//! then the length-prefixed MessagePack frames cut into Noise transport messages of at most
//! 65,535 bytes, each with a 2-byte length. AES-GCM because every desktop CPU of the last
//! decade (x86-64 AES-NI, ARMv8 crypto extensions) runs it in hardware: through ring it
//! seals and opens about 4–5 GB/s on one core here, against about 1 GB/s for
//! ChaCha20-Poly1305, and a file transfer spends a core on each side.
//!
//! Here: the [`Link`] and its two halves, its deadlines and errors. Beside: `dial.rs` (racing
//! a room's addresses), `handshake.rs` (version preamble and Noise, both sides) and
//! `record.rs` (the codec that seals frames into Noise messages and opens them).

mod dial;
mod handshake;
mod record;

pub use dial::{dial, listening};
pub use handshake::{NOISE_PARAMS, accept, connect};

use crate::net::identity::PublicKey;
use crate::protocol::{Frame, PROTOCOL_VERSION, ProtocolError};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use record::{Opener, Sealer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{FramedRead, FramedWrite};

/// The longest Noise message, tag included.
const NOISE_MAX: usize = 65535;
/// Bytes a writer buffers before it waits for the socket: room for a few file data frames.
const BUFFER: usize = 256 * 1024;
/// What a reader starts with; it grows to a file data frame's size when one comes.
const READ_BUFFER: usize = 8 * 1024;

/// Every deadline a connection keeps, in one place so tests can shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest a single TCP connection attempt may take.
    pub dial: Duration,
    /// Delay between starting attempts to a room's successive addresses.
    pub dial_stagger: Duration,
    /// Time from accepting a connection to its first frame (version, Noise, and the frame
    /// that says what the connection is for); likewise for a member waiting for its welcome.
    pub handshake: Duration,
    /// Time from accepting a connection to the member's first handshake message: a member
    /// sends it at once, so a connection that says nothing gives its place up early.
    pub first_message: Duration,
    /// Longest a write may wait for the other side to take it before that side counts as gone.
    pub write: Duration,
    /// Silence after which either side gives the other up.
    pub idle: Duration,
    /// How often a member pings its host when nothing else is said.
    pub ping: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            dial: Duration::from_secs(5),
            dial_stagger: Duration::from_millis(150),
            handshake: crate::protocol::HANDSHAKE_TIMEOUT,
            first_message: Duration::from_secs(3),
            write: crate::protocol::WRITE_TIMEOUT,
            idle: crate::protocol::IDLE_TIMEOUT,
            ping: crate::protocol::PING_INTERVAL,
        }
    }
}

/// Why a link could not be made, or ended.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    #[error("cannot connect: {0}")]
    Unreachable(String),
    #[error("{0}")]
    TimedOut(&'static str),
    #[error("{}", version_words(*theirs))]
    Version { theirs: u16 },
    #[error("a lanchat of protocol version 1 tried to connect; it was told to update")]
    OldPeer,
    #[error("the other side is not a lanchat room")]
    NotLanchat,
    #[error("the host's key is not the one this room had before")]
    KeyChanged {
        /// The key pinned for the room.
        pinned: PublicKey,
        /// The key the host presented.
        presented: PublicKey,
    },
    #[error("the encrypted handshake failed: {0}")]
    Noise(String),
    #[error("the connection ended")]
    Ended,
}

/// What a version mismatch means for the user of this app.
fn version_words(theirs: u16) -> String {
    if theirs > PROTOCOL_VERSION {
        format!(
            "it runs a newer lanchat (protocol {theirs}, this app speaks {PROTOCOL_VERSION}) — update lanchat to join"
        )
    } else {
        format!(
            "it runs an older lanchat (protocol {theirs}, this app speaks {PROTOCOL_VERSION}) — it needs to update lanchat"
        )
    }
}

/// A byte stream a link can run over: TCP, or an in-memory pipe in tests.
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// Splits into halves a reader task and a writer task can own.
    fn halves(
        self,
    ) -> (
        Box<dyn AsyncRead + Send + Unpin>,
        Box<dyn AsyncWrite + Send + Unpin>,
    );
    /// The other end's address, if it has one.
    fn peer(&self) -> Option<SocketAddr>;
}

impl Transport for TcpStream {
    fn halves(
        self,
    ) -> (
        Box<dyn AsyncRead + Send + Unpin>,
        Box<dyn AsyncWrite + Send + Unpin>,
    ) {
        let (read, write) = self.into_split();
        (Box::new(read), Box::new(write))
    }

    fn peer(&self) -> Option<SocketAddr> {
        self.peer_addr().ok()
    }
}

impl Transport for tokio::io::DuplexStream {
    fn halves(
        self,
    ) -> (
        Box<dyn AsyncRead + Send + Unpin>,
        Box<dyn AsyncWrite + Send + Unpin>,
    ) {
        let (read, write) = tokio::io::split(self);
        (Box::new(read), Box::new(write))
    }

    fn peer(&self) -> Option<SocketAddr> {
        None
    }
}

/// An open, authenticated, encrypted connection.
pub struct Link {
    /// Frames from the other side.
    pub reader: LinkReader,
    /// Frames to the other side.
    pub writer: LinkWriter,
    /// The other side's key, proved in the handshake: everything it says is attributed to it.
    pub remote: PublicKey,
    /// The other side's address (none for in-memory links), for logs and per-address limits.
    pub peer: Option<SocketAddr>,
    /// This handshake's hash, to bind what runs inside the link (the password exchange) to it.
    pub handshake_hash: [u8; 32],
}

impl Link {
    /// Sends one frame and closes: answers and refusals that end a connection.
    pub async fn answer_and_close(mut self, frame: Frame) {
        let _ = self.writer.send(frame).await;
        self.writer.close().await;
    }
}

/// The reading half of a link.
pub struct LinkReader {
    frames: FramedRead<Box<dyn AsyncRead + Send + Unpin>, Opener>,
    /// The link's deadlines, for [`LinkReader::next`].
    timeouts: Timeouts,
}

impl LinkReader {
    /// The next frame, with no deadline; `None` when the other side closed cleanly.
    pub async fn recv(&mut self) -> Option<Result<Frame, ProtocolError>> {
        self.frames.next().await
    }

    /// The idle deadline of this link.
    pub fn idle(&self) -> Duration {
        self.timeouts.idle
    }

    /// The next frame within the idle deadline; the end of the connection is an error here.
    pub async fn next(&mut self) -> Result<Frame, LinkError> {
        self.next_within(self.timeouts.idle).await
    }

    /// The next frame within `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> Result<Frame, LinkError> {
        match tokio::time::timeout(limit, self.frames.next()).await {
            Ok(Some(frame)) => Ok(frame?),
            Ok(None) => Err(LinkError::Ended),
            Err(_) => Err(LinkError::TimedOut("the other side went silent")),
        }
    }
}

/// The writing half of a link.
pub struct LinkWriter {
    sink: FramedWrite<Box<dyn AsyncWrite + Send + Unpin>, Sealer>,
    /// The link's deadlines, for every write.
    timeouts: Timeouts,
}

impl LinkWriter {
    /// Sends one frame, giving up if the other side has not taken it within the write deadline.
    pub async fn send(&mut self, frame: Frame) -> Result<(), LinkError> {
        within(self.timeouts.write, self.sink.send(frame)).await
    }

    /// Queues a frame to go with the next flush (it waits only if the buffer is full).
    pub async fn feed(&mut self, frame: Frame) -> Result<(), LinkError> {
        within(self.timeouts.write, self.sink.feed(frame)).await
    }

    /// Queues frame bytes encoded once for many (see [`crate::protocol::encode_frame`]).
    pub async fn feed_encoded(&mut self, bytes: Bytes) -> Result<(), LinkError> {
        within(self.timeouts.write, self.sink.feed(bytes)).await
    }

    /// Sends frames encoded once for many, as one batch under one write deadline (a host
    /// fanning out to a hundred members would otherwise arm a timer per frame per member).
    pub async fn send_encoded(
        &mut self,
        frames: impl IntoIterator<Item = Bytes>,
    ) -> Result<(), LinkError> {
        let sink = &mut self.sink;
        let batch = async move {
            for bytes in frames {
                sink.feed(bytes).await?;
            }
            <_ as SinkExt<Frame>>::flush(sink).await
        };
        within(self.timeouts.write, batch).await
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> Result<(), LinkError> {
        within(
            self.timeouts.write,
            <_ as SinkExt<Frame>>::flush(&mut self.sink),
        )
        .await
    }

    /// Flushes and closes our side, within a second: the other side then reads the end.
    pub async fn close(mut self) {
        let close = async {
            let _ = <_ as SinkExt<Frame>>::flush(&mut self.sink).await;
            let _ = self.sink.get_mut().shutdown().await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
    }
}

/// A write given up after `limit`: the other side stopped reading.
async fn within(
    limit: Duration,
    write: impl std::future::Future<Output = Result<(), ProtocolError>>,
) -> Result<(), LinkError> {
    match tokio::time::timeout(limit, write).await {
        Ok(done) => Ok(done?),
        Err(_) => Err(LinkError::TimedOut("the other side stopped reading")),
    }
}

/// Whom a member expects to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Anyone: a first contact (the key is pinned once the room lets us in), or a probe.
    Anyone,
    /// Only the holder of this key: a room seen before, or a file connection.
    Key(PublicKey),
}

/// Turns a finished handshake into the link's two halves, one nonce counter each.
fn finish<T: Transport>(
    stream: T,
    noise: snow::HandshakeState,
    remote: PublicKey,
    peer: Option<SocketAddr>,
    timeouts: &Timeouts,
) -> Link {
    let handshake_hash: [u8; 32] = noise
        .get_handshake_hash()
        .try_into()
        .expect("SHA-256 handshake hash");
    let noise = Arc::new(
        noise
            .into_stateless_transport_mode()
            .expect("the handshake is finished"),
    );
    let (read, write) = stream.halves();
    let opener = Opener::new(noise.clone());
    let sealer = Sealer::new(noise);
    let mut sink = FramedWrite::new(write, sealer);
    sink.set_backpressure_boundary(BUFFER);
    Link {
        reader: LinkReader {
            frames: FramedRead::with_capacity(read, opener, READ_BUFFER),
            timeouts: *timeouts,
        },
        writer: LinkWriter {
            sink,
            timeouts: *timeouts,
        },
        remote,
        peer,
        handshake_hash,
    }
}
