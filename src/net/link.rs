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

use crate::net::identity::{Identity, PublicKey};
use crate::protocol::{
    Frame, FrameCodec, MAX_FRAME_LEN, PROTOCOL_VERSION, ProtocolError, encode_into,
};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use snow::StatelessTransportState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite};

/// The Noise protocol every link runs.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_AESGCM_SHA256";
/// The first bytes of every connection, before the version.
const MAGIC: [u8; 4] = *b"LCHT";
/// The longest Noise message, tag included.
const NOISE_MAX: usize = 65535;
/// The AEAD tag on every Noise transport message.
const TAG: usize = 16;
/// The most frame bytes one Noise message carries.
const MAX_PLAIN: usize = NOISE_MAX - TAG;
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

fn noise_err(e: snow::Error) -> LinkError {
    LinkError::Noise(e.to_string())
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

/// Connects to the first of `addrs` that answers (starting one attempt every
/// `dial_stagger`) and runs the member's side of the handshake. An address whose handshake
/// fails — another key than the one expected, a stall, garbage — does not stop the others
/// from being tried (an impostor may answer for a room beside its real host); a key change
/// is told before any other failure, and only if no address has the key.
pub async fn dial(
    addrs: &[SocketAddr],
    identity: &Identity,
    expect: Expect,
    timeouts: &Timeouts,
) -> Result<Link, LinkError> {
    let mut left = addrs.to_vec();
    let mut failed: Option<LinkError> = None;
    // Each turn takes one address off: at most one turn per address.
    for _ in 0..addrs.len() {
        let (stream, answered) = match connect_tcp(&left, timeouts).await {
            Ok(answered) => answered,
            Err(e) => return Err(failed.unwrap_or(e)),
        };
        match connect(stream, identity, expect, timeouts).await {
            Ok(link) => return Ok(link),
            Err(e) => {
                tracing::info!("{answered}: {e}; trying the room's other addresses");
                left.retain(|a| *a != answered);
                if !matches!(failed, Some(LinkError::KeyChanged { .. })) {
                    failed = Some(e);
                }
                if left.is_empty() {
                    break;
                }
            }
        }
    }
    Err(failed.unwrap_or_else(|| LinkError::Unreachable("no known address".into())))
}

/// Whether anything listens at one of `addrs` (a TCP connection opens within `limit`); the
/// connection is closed at once, which a host takes as someone leaving before the handshake.
/// Discovery asks this of every listed room to notice a host that crashed without a goodbye.
pub async fn listening(addrs: &[SocketAddr], limit: Duration) -> bool {
    let timeouts = Timeouts {
        dial: limit,
        dial_stagger: Duration::ZERO,
        ..Timeouts::default()
    };
    connect_tcp(addrs, &timeouts).await.is_ok()
}

/// A TCP connection to the first address that answers, and which one of `addrs` it is.
async fn connect_tcp(
    addrs: &[SocketAddr],
    timeouts: &Timeouts,
) -> Result<(TcpStream, SocketAddr), LinkError> {
    if addrs.is_empty() {
        return Err(LinkError::Unreachable("no known address".into()));
    }
    let mut ordered = addrs.to_vec();
    // IPv4 and routable IPv6 before link-local IPv6, which needs the right scope to work.
    ordered.sort_by_key(|a| match a {
        SocketAddr::V4(_) => 0,
        SocketAddr::V6(v6) if v6.ip().is_unicast_link_local() => 2,
        SocketAddr::V6(_) => 1,
    });
    let mut attempts = JoinSet::new();
    for (i, addr) in ordered.into_iter().enumerate() {
        let (stagger, limit) = (timeouts.dial_stagger * i as u32, timeouts.dial);
        attempts.spawn(async move {
            tokio::time::sleep(stagger).await;
            match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => Ok((stream, addr)),
                Ok(Err(e)) => Err(format!("{addr}: {e}")),
                Err(_) => Err(format!("{addr}: timed out")),
            }
        });
    }
    let mut last_error = String::new();
    while let Some(result) = attempts.join_next().await {
        match result {
            Ok(Ok((stream, addr))) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Ok(Err(e)) => last_error = e,
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(LinkError::Unreachable(last_error))
}

fn preamble(version: u16) -> [u8; 6] {
    let v = version.to_be_bytes();
    [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], v[0], v[1]]
}

fn builder(prologue: &[u8]) -> snow::Builder<'_> {
    // With snow's `ring-accelerated` feature, ring runs AES-GCM (in hardware) and SHA-256,
    // and the default resolver the X25519.
    let params = NOISE_PARAMS.parse().expect("valid Noise parameters");
    snow::Builder::new(params)
        .prologue(prologue)
        .expect("a prologue is accepted once")
}

/// The member's side of the handshake on an open stream.
pub async fn connect<T: Transport>(
    mut stream: T,
    identity: &Identity,
    expect: Expect,
    timeouts: &Timeouts,
) -> Result<Link, LinkError> {
    let peer = stream.peer();
    let handshake = async {
        let ours = preamble(PROTOCOL_VERSION);
        stream.write_all(&ours).await?;
        let mut theirs = [0u8; 6];
        stream.read_exact(&mut theirs).await.map_err(ended)?;
        if theirs[..4] != MAGIC {
            return Err(LinkError::NotLanchat);
        }
        let version = u16::from_be_bytes([theirs[4], theirs[5]]);
        if version != PROTOCOL_VERSION {
            return Err(LinkError::Version { theirs: version });
        }
        let prologue = [ours, theirs].concat();
        let mut noise = builder(&prologue)
            .local_private_key(identity.private())
            .map_err(noise_err)?
            .build_initiator()
            .map_err(noise_err)?;
        let mut buf = vec![0u8; NOISE_MAX];
        let n = noise.write_message(&[], &mut buf).map_err(noise_err)?;
        write_message(&mut stream, &buf[..n]).await?;
        let message = read_message(&mut stream).await?;
        noise.read_message(&message, &mut buf).map_err(noise_err)?;
        let presented = noise
            .get_remote_static()
            .and_then(PublicKey::from_slice)
            .ok_or_else(|| LinkError::Noise("the host sent no key".into()))?;
        // Checked before our key and anything else of ours goes out.
        if let Expect::Key(pinned) = expect
            && pinned != presented
        {
            return Err(LinkError::KeyChanged { pinned, presented });
        }
        let n = noise.write_message(&[], &mut buf).map_err(noise_err)?;
        write_message(&mut stream, &buf[..n]).await?;
        stream.flush().await?;
        Ok((noise, presented))
    };
    let (noise, remote) = tokio::time::timeout(timeouts.handshake, handshake)
        .await
        .map_err(|_| LinkError::TimedOut("the host did not finish the handshake"))??;
    Ok(finish(stream, noise, remote, peer, timeouts))
}

/// The host's side of the handshake on an accepted stream.
pub async fn accept<T: Transport>(
    mut stream: T,
    identity: &Identity,
    timeouts: &Timeouts,
) -> Result<Link, LinkError> {
    let peer = stream.peer();
    let first_message = tokio::time::Instant::now() + timeouts.first_message;
    let handshake = async {
        let mut theirs = [0u8; 6];
        let silent = |_| LinkError::TimedOut("nothing said in time");
        tokio::time::timeout_at(first_message, stream.read_exact(&mut theirs[..4]))
            .await
            .map_err(silent)?
            .map_err(ended)?;
        if theirs[..4] != MAGIC {
            refuse_version_1(
                &mut stream,
                u32::from_be_bytes(theirs[..4].try_into().unwrap()),
            )
            .await;
            return Err(LinkError::OldPeer);
        }
        tokio::time::timeout_at(first_message, stream.read_exact(&mut theirs[4..]))
            .await
            .map_err(silent)?
            .map_err(ended)?;
        let ours = preamble(PROTOCOL_VERSION);
        stream.write_all(&ours).await?;
        let version = u16::from_be_bytes([theirs[4], theirs[5]]);
        if version != PROTOCOL_VERSION {
            let _ = stream.shutdown().await;
            return Err(LinkError::Version { theirs: version });
        }
        let prologue = [theirs, ours].concat();
        let mut noise = builder(&prologue)
            .local_private_key(identity.private())
            .map_err(noise_err)?
            .build_responder()
            .map_err(noise_err)?;
        let mut buf = vec![0u8; NOISE_MAX];
        let message = tokio::time::timeout_at(first_message, read_message(&mut stream))
            .await
            .map_err(|_| LinkError::TimedOut("no handshake begun in time"))??;
        noise.read_message(&message, &mut buf).map_err(noise_err)?;
        let n = noise.write_message(&[], &mut buf).map_err(noise_err)?;
        write_message(&mut stream, &buf[..n]).await?;
        let message = read_message(&mut stream).await?;
        noise.read_message(&message, &mut buf).map_err(noise_err)?;
        let remote = noise
            .get_remote_static()
            .and_then(PublicKey::from_slice)
            .ok_or_else(|| LinkError::Noise("the member sent no key".into()))?;
        Ok((noise, remote))
    };
    let (noise, remote) = tokio::time::timeout(timeouts.handshake, handshake)
        .await
        .map_err(|_| LinkError::TimedOut("no handshake in time"))??;
    Ok(finish(stream, noise, remote, peer, timeouts))
}

/// A lanchat of protocol 1 opened with a frame (`len` is its length): read it, answer with
/// a version 1 refusal its user can read, and close.
async fn refuse_version_1<T: AsyncRead + AsyncWrite + Unpin>(stream: &mut T, len: u32) {
    if len as usize > MAX_FRAME_LEN {
        return; // not lanchat at all
    }
    let mut frame = vec![0u8; len as usize];
    if stream.read_exact(&mut frame).await.is_err() {
        return;
    }
    /// A version 1 `Refused` frame, as version 1 encodes it.
    #[derive(serde::Serialize)]
    struct Refused<'a> {
        t: &'a str,
        c: Body<'a>,
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        code: &'a str,
        reason: &'a str,
    }
    let reason = format!(
        "this room runs a newer lanchat (protocol {PROTOCOL_VERSION}); update lanchat to join"
    );
    let refused = Refused {
        t: "refused",
        c: Body {
            code: "version",
            reason: &reason,
        },
    };
    let body = rmp_serde::to_vec_named(&refused).expect("a refusal encodes");
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

/// A clean end while reading the handshake is the other side hanging up, not an I/O fault.
fn ended(e: std::io::Error) -> LinkError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        LinkError::Ended
    } else {
        LinkError::Io(e)
    }
}

async fn write_message<T: AsyncWrite + Unpin>(
    stream: &mut T,
    message: &[u8],
) -> Result<(), LinkError> {
    let mut out = Vec::with_capacity(2 + message.len());
    out.extend_from_slice(&(message.len() as u16).to_be_bytes());
    out.extend_from_slice(message);
    stream.write_all(&out).await?;
    Ok(())
}

async fn read_message<T: AsyncRead + Unpin>(stream: &mut T) -> Result<Vec<u8>, LinkError> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(ended)?;
    let mut message = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut message).await.map_err(ended)?;
    Ok(message)
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
    let opener = Opener {
        noise: noise.clone(),
        nonce: 0,
        plain: BytesMut::new(),
        frames: FrameCodec::default(),
    };
    let sealer = Sealer {
        noise,
        nonce: 0,
        plain: BytesMut::new(),
    };
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

/// Encrypts frame bytes into Noise transport messages.
struct Sealer {
    noise: Arc<StatelessTransportState>,
    /// The next outgoing message's nonce; the other side counts the same way.
    nonce: u64,
    /// Scratch space for a frame's plain bytes.
    plain: BytesMut,
}

impl Sealer {
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
struct Opener {
    noise: Arc<StatelessTransportState>,
    /// The next incoming message's nonce: a replayed, dropped or reordered message fails.
    nonce: u64,
    /// Decrypted bytes not yet a whole frame.
    plain: BytesMut,
    /// Length prefix and MessagePack, as on a plain stream.
    frames: FrameCodec,
}

impl Opener {
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
    use super::*;

    /// Two ends of an in-memory link.
    async fn pair(host: &Identity, member: &Identity, expect: Expect) -> (Link, Link) {
        let (a, b) = tokio::io::duplex(1 << 20);
        let timeouts = Timeouts::default();
        let (h, m) = tokio::join!(
            accept(a, host, &timeouts),
            connect(b, member, expect, &timeouts)
        );
        (h.unwrap(), m.unwrap())
    }

    #[tokio::test]
    async fn both_sides_learn_the_other_key_and_frames_cross() {
        let (host, member) = (Identity::generate(), Identity::generate());
        let (mut h, mut m) = pair(&host, &member, Expect::Key(host.public())).await;
        assert_eq!(h.remote, member.public());
        assert_eq!(m.remote, host.public());
        assert_eq!(h.handshake_hash, m.handshake_hash);
        m.writer.send(Frame::Ping).await.unwrap();
        assert_eq!(h.reader.next().await.unwrap(), Frame::Ping);
        h.writer.send(Frame::Pong).await.unwrap();
        assert_eq!(m.reader.next().await.unwrap(), Frame::Pong);
    }

    #[tokio::test]
    async fn a_host_with_another_key_is_left_before_the_member_says_anything() {
        let (host, member) = (Identity::generate(), Identity::generate());
        let pinned = Identity::generate().public();
        let (a, b) = tokio::io::duplex(1 << 20);
        let timeouts = Timeouts::default();
        let (h, m) = tokio::join!(
            accept(a, &host, &timeouts),
            connect(b, &member, Expect::Key(pinned), &timeouts)
        );
        assert!(
            matches!(m, Err(LinkError::KeyChanged { pinned: p, presented }) if p == pinned && presented == host.public())
        );
        // The host never got the member's key: its handshake did not finish.
        assert!(h.is_err());
    }

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

    /// Whole frames of many sizes, up to the largest file data frame, through a real link.
    #[tokio::test]
    async fn frames_of_many_sizes_cross_a_link_intact() {
        let (host, member) = (Identity::generate(), Identity::generate());
        let (mut h, mut m) = pair(&host, &member, Expect::Anyone).await;
        let sizes = [0, 1, 100, MAX_PLAIN - 30, MAX_PLAIN, MAX_PLAIN + 1, 65_536];
        let sending = async {
            for (i, &len) in sizes.iter().enumerate() {
                let bytes = (0..len).map(|b| (b * 7 + i) as u8).collect();
                m.writer
                    .feed(Frame::Data {
                        offset: i as u64,
                        bytes,
                    })
                    .await
                    .unwrap();
            }
            m.writer.flush().await.unwrap();
        };
        let receiving = async {
            for (i, &len) in sizes.iter().enumerate() {
                let Frame::Data { offset, bytes } = h.reader.next().await.unwrap() else {
                    panic!("expected data")
                };
                assert_eq!(offset, i as u64);
                assert!(
                    bytes
                        .iter()
                        .enumerate()
                        .all(|(b, &v)| v == (b * 7 + i) as u8)
                );
                assert_eq!(bytes.len(), len);
            }
        };
        tokio::join!(sending, receiving);
    }

    #[tokio::test]
    async fn another_version_is_told_apart() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let host =
            tokio::spawn(
                async move { accept(a, &Identity::generate(), &Timeouts::default()).await },
            );
        b.write_all(&preamble(PROTOCOL_VERSION + 1)).await.unwrap();
        let mut answer = [0u8; 6];
        b.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer, preamble(PROTOCOL_VERSION));
        assert!(matches!(
            host.await.unwrap(),
            Err(LinkError::Version { theirs }) if theirs == PROTOCOL_VERSION + 1
        ));
        let words = LinkError::Version {
            theirs: PROTOCOL_VERSION + 1,
        }
        .to_string();
        assert!(words.contains("newer lanchat"), "{words}");
    }
}
