//! The link's handshake on both sides, against a peer the fuzzer plays, over an in-memory
//! `tokio::io::duplex` (no sockets) on a current-thread runtime with paused time, so every
//! deadline passes at once instead of costing real time.
//!
//! - `Accept` / `Connect`: `lanchat::net::link::accept` (the host) or `connect` (a member)
//!   against a peer that is nothing but fuzzer bytes, written in pieces, then closed: the
//!   version preamble (and the version 1 refusal), the 2-byte-length Noise messages.
//! - `AcceptDeep` / `ConnectDeep`: the peer runs a real Noise XX handshake (snow, in this
//!   harness) with a key the fuzzer picks, possibly with one byte of its preamble or a Noise
//!   message flipped, and then sends records: frames encrypted with the right nonce, any
//!   bytes encrypted, raw bytes, replays, skipped nonces. The lanchat side reads frames until
//!   the link fails: this is the record layer (Noise transport messages cut and rejoined,
//!   then the frame codec) after a real handshake.
//!
//! Must hold: no panic, no hang; a raw peer never completes a handshake; a real one does
//! unless it tampered (or a member expects another host key: `KeyChanged`); a version 1
//! peer gets a refusal this version's codec reads; every frame read passes `validate`.

#![no_main]

mod common;

use arbitrary::Arbitrary;
use bytes::BytesMut;
use common::{Ctx, FuzzFrame, HOST, HOST_SECRET, MEMBER_SECRETS, MEMBERS};
use lanchat::net::identity::Identity;
use lanchat::net::link::{self, Expect, Link, LinkError, NOISE_PARAMS, Timeouts};
use lanchat::protocol::{Frame, FrameCodec, PROTOCOL_VERSION, Refusal, RefuseCode, encode_frame};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_util::codec::Decoder;

#[derive(Arbitrary, Debug)]
enum Input {
    Accept(Raw),
    Connect(Raw),
    AcceptDeep(Deep),
    ConnectDeep(Deep),
}

/// A peer that is only bytes.
#[derive(Arbitrary, Debug)]
struct Raw {
    /// Start with this version's preamble (so the fuzzer need not find it first).
    preamble: bool,
    /// A member expects the host's key (a room seen before).
    pinned: bool,
    cut: u16,
    bytes: Vec<u8>,
}

/// A peer that runs a real handshake, then sends records.
#[derive(Arbitrary, Debug)]
struct Deep {
    key: Key,
    pinned: bool,
    /// Another protocol version in the preamble.
    version: Option<u16>,
    tamper: Option<Tamper>,
    records: Vec<Record>,
}

#[derive(Arbitrary, Debug)]
enum Key {
    /// The host's key (as a host: the one a pinned member expects).
    Host,
    Member(bool),
    Any([u8; 32]),
}

/// Flip bits of one byte of what the harness sends: 0 the preamble, 1 its first Noise
/// message, 2 its second (a member's third message of XX; a host has one message only).
#[derive(Arbitrary, Debug)]
struct Tamper {
    message: u8,
    at: u16,
    xor: u8,
}

#[derive(Arbitrary, Debug)]
enum Record {
    /// Plain bytes (a frame's length prefix and body, or anything), encrypted.
    Sealed(Vec<u8>),
    /// A frame, encoded and encrypted.
    Frame(FuzzFrame),
    /// Bytes on the wire as they are.
    Raw(Vec<u8>),
    /// The last encrypted message again.
    Replay,
    /// Use a nonce further on.
    SkipNonce(u8),
    /// Let the other side run.
    Pause,
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
}

fuzz_target!(|input: Input| {
    RUNTIME.with(|rt| {
        rt.block_on(async {
            // Paused time: this fires only if nothing else can happen, i.e. a hang.
            tokio::time::timeout(Duration::from_secs(24 * 3600), run(input))
                .await
                .expect("the handshake hangs");
        })
    });
});

const PIPE: usize = 64 * 1024;
const MAX_PLAIN: usize = 65535 - 16;

async fn run(input: Input) {
    let timeouts = Timeouts::default();
    let (ours, theirs) = tokio::io::duplex(PIPE);
    match input {
        Input::Accept(raw) => {
            let host = async {
                let result = link::accept(ours, &HOST, &timeouts).await;
                result.map(drop) // the stream closes here
            };
            let (result, answer) = tokio::join!(host, raw_peer(theirs, &raw));
            let err = match result {
                Ok(()) => panic!("a handshake completed with a peer of raw bytes"),
                Err(e) => e,
            };
            let magic = raw.preamble || raw.bytes.starts_with(b"LCHT");
            if matches!(err, LinkError::OldPeer) {
                assert!(!magic, "a peer with the magic taken for version 1");
                if !answer.is_empty() {
                    // What a version 1 member reads: a `Refused` it understands.
                    let mut answer = BytesMut::from(&answer[..]);
                    let frame = FrameCodec::default()
                        .decode_eof(&mut answer)
                        .expect("the version 1 refusal decodes")
                        .expect("a whole frame");
                    assert!(
                        matches!(
                            frame,
                            Frame::Refused(Refusal {
                                code: RefuseCode::Version,
                                ..
                            })
                        ),
                        "{frame:?}"
                    );
                }
            } else if answer.len() >= 6 {
                assert_eq!(&answer[..6], &preamble(PROTOCOL_VERSION));
            }
            let _ = err.to_string();
        }
        Input::Connect(raw) => {
            let expect = expect(raw.pinned);
            let member = async {
                let result = link::connect(ours, &MEMBERS[0], expect, &timeouts).await;
                result.map(drop)
            };
            let (result, answer) = tokio::join!(member, raw_peer(theirs, &raw));
            if result.is_ok() {
                panic!("a handshake completed with a host of raw bytes");
            }
            assert_eq!(
                &answer[..6.min(answer.len())],
                &preamble(PROTOCOL_VERSION)[..6.min(answer.len())]
            );
        }
        Input::AcceptDeep(deep) => {
            let key = deep.key.secret();
            let host = async {
                let result = link::accept(ours, &HOST, &timeouts).await;
                read_all(result).await
            };
            let (result, peer) = tokio::join!(host, deep_peer(theirs, &deep, key, true));
            check_deep(result, peer, key, None);
        }
        Input::ConnectDeep(deep) => {
            let key = deep.key.secret();
            let expect = expect(deep.pinned);
            let member = async {
                let result = link::connect(ours, &MEMBERS[0], expect, &timeouts).await;
                read_all(result).await
            };
            let (result, peer) = tokio::join!(member, deep_peer(theirs, &deep, key, false));
            check_deep(result, peer, key, Some(expect));
        }
    }
}

fn expect(pinned: bool) -> Expect {
    if pinned {
        Expect::Key(HOST.public())
    } else {
        Expect::Anyone
    }
}

impl Key {
    fn secret(&self) -> [u8; 32] {
        match self {
            Key::Host => HOST_SECRET,
            Key::Member(second) => MEMBER_SECRETS[usize::from(*second)],
            Key::Any(bytes) => *bytes,
        }
    }
}

fn preamble(version: u16) -> [u8; 6] {
    let v = version.to_be_bytes();
    [b'L', b'C', b'H', b'T', v[0], v[1]]
}

/// The piece sizes the raw peer writes in.
fn pieces(cut: u16, len: usize) -> Vec<usize> {
    let max = match cut & 7 {
        0 => len.max(1),
        1 => 1,
        2 => 2,
        3 => 5,
        4 => 17,
        5 => 64,
        _ => 1024,
    };
    let mut state = u32::from(cut) | 0x9e37_0001;
    let mut out = Vec::new();
    let mut left = len;
    while left > 0 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (1 + state as usize % max).min(left);
        out.push(n);
        left -= n;
    }
    out
}

/// Writes the raw bytes in pieces, then closes, while reading everything the other side
/// says; returns that.
async fn raw_peer(stream: DuplexStream, raw: &Raw) -> Vec<u8> {
    let (mut read, mut write) = tokio::io::split(stream);
    let mut bytes = Vec::new();
    if raw.preamble {
        bytes.extend_from_slice(&preamble(PROTOCOL_VERSION));
    }
    bytes.extend_from_slice(&raw.bytes);
    let writing = async move {
        let mut rest = &bytes[..];
        for n in pieces(raw.cut, bytes.len()) {
            if write.write_all(&rest[..n]).await.is_err() {
                return;
            }
            rest = &rest[n..];
            tokio::task::yield_now().await;
        }
        let _ = write.shutdown().await;
    };
    let reading = async move {
        let mut answer = Vec::new();
        let _ = read.read_to_end(&mut answer).await;
        answer
    };
    tokio::join!(writing, reading).1
}

/// What the lanchat side of a deep run saw.
enum Side {
    Failed(LinkError),
    /// The link opened with this remote key; frames read until it failed.
    Opened(lanchat::net::identity::PublicKey),
}

/// Reads frames until the link fails; each must be valid (the codec checks them).
async fn read_all(result: Result<Link, LinkError>) -> Side {
    let mut link = match result {
        Ok(link) => link,
        Err(e) => return Side::Failed(e),
    };
    loop {
        match link.reader.next().await {
            Ok(frame) => {
                if let Err(reason) = frame.validate() {
                    panic!(
                        "an invalid {} frame came through a link: {reason}",
                        frame.kind()
                    );
                }
            }
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
    Side::Opened(link.remote)
}

/// How the harness's handshake went.
struct Peer {
    /// The harness sent this version's preamble (after any tamper).
    preamble_ok: bool,
    /// A tamper changed a byte of a Noise message the harness sent.
    tampered: bool,
    /// The harness finished its side of the handshake.
    finished: bool,
}

fn check_deep(side: Side, peer: Peer, key: [u8; 32], expect: Option<Expect>) {
    let version_ok = peer.preamble_ok;
    let key_public = Identity::from_secret(key).public();
    let key_refused = matches!(expect, Some(Expect::Key(pinned)) if pinned != key_public);
    match side {
        Side::Opened(remote) => {
            assert!(!peer.tampered, "a handshake with a flipped byte completed");
            assert!(version_ok, "a handshake with another version completed");
            assert!(!key_refused, "a member took a host key it did not expect");
            assert_eq!(
                remote, key_public,
                "the link names another key than the peer's"
            );
        }
        Side::Failed(e) => {
            if key_refused && version_ok && !peer.tampered {
                assert!(matches!(e, LinkError::KeyChanged { .. }), "{e}");
            } else if !peer.tampered && version_ok && peer.finished {
                panic!("a real handshake failed: {e}");
            }
            let _ = e.to_string();
        }
    }
}

fn flip(tamper: &Option<Tamper>, message: u8, bytes: &mut [u8], tampered: &mut bool) {
    if let Some(t) = tamper
        && t.message % 3 == message
        && t.xor != 0
        && (t.at as usize) < bytes.len()
    {
        bytes[t.at as usize] ^= t.xor;
        *tampered = true;
    }
}

async fn write_message<W: AsyncWrite + Unpin>(w: &mut W, message: &[u8]) -> std::io::Result<()> {
    let mut out = (message.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(message);
    w.write_all(&out).await
}

async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len).await?;
    let mut message = vec![0u8; u16::from_be_bytes(len) as usize];
    r.read_exact(&mut message).await?;
    Ok(message)
}

/// The harness's side of a deep run: a real handshake as member (`initiator`) or host, then
/// the records, then it closes. Reads everything the other side sends meanwhile.
async fn deep_peer(stream: DuplexStream, deep: &Deep, key: [u8; 32], initiator: bool) -> Peer {
    let (mut read, mut write) = tokio::io::split(stream);
    let mut peer = Peer {
        preamble_ok: false,
        tampered: false,
        finished: false,
    };
    let handshake = async {
        let mut ours = preamble(deep.version.unwrap_or(PROTOCOL_VERSION));
        flip(&deep.tamper, 0, &mut ours, &mut false);
        peer.preamble_ok = ours == preamble(PROTOCOL_VERSION);
        let mut theirs = [0u8; 6];
        if initiator {
            write.write_all(&ours).await.ok()?;
            read.read_exact(&mut theirs).await.ok()?;
        } else {
            read.read_exact(&mut theirs).await.ok()?;
            write.write_all(&ours).await.ok()?;
        }
        let prologue = if initiator {
            [ours, theirs].concat()
        } else {
            [theirs, ours].concat()
        };
        let builder = snow::Builder::new(NOISE_PARAMS.parse().unwrap())
            .prologue(&prologue)
            .unwrap()
            .local_private_key(&key)
            .unwrap();
        let mut buf = vec![0u8; 65535];
        let mut out = vec![0u8; 65535];
        let noise = if initiator {
            let mut noise = builder.build_initiator().unwrap();
            let n = noise.write_message(&[], &mut buf).unwrap();
            flip(&deep.tamper, 1, &mut buf[..n], &mut peer.tampered);
            write_message(&mut write, &buf[..n]).await.ok()?;
            let message = read_message(&mut read).await.ok()?;
            noise.read_message(&message, &mut out).ok()?;
            let n = noise.write_message(&[], &mut buf).unwrap();
            flip(&deep.tamper, 2, &mut buf[..n], &mut peer.tampered);
            write_message(&mut write, &buf[..n]).await.ok()?;
            noise
        } else {
            let mut noise = builder.build_responder().unwrap();
            let message = read_message(&mut read).await.ok()?;
            noise.read_message(&message, &mut out).ok()?;
            let n = noise.write_message(&[], &mut buf).unwrap();
            flip(&deep.tamper, 1, &mut buf[..n], &mut peer.tampered);
            write_message(&mut write, &buf[..n]).await.ok()?;
            let message = read_message(&mut read).await.ok()?;
            noise.read_message(&message, &mut out).ok()?;
            noise
        };
        let hash: [u8; 32] = noise.get_handshake_hash().try_into().unwrap();
        let transport = noise.into_stateless_transport_mode().unwrap();
        Some((transport, hash))
    };
    let Some((transport, hash)) = handshake.await else {
        let _ = write.shutdown().await;
        return peer;
    };
    peer.finished = true;
    let records = async {
        let mut nonce = 0u64;
        let mut last: Vec<u8> = Vec::new();
        let mut ctx = Ctx {
            handshake_hash: hash,
            ..Ctx::default()
        };
        let seal = |plain: &[u8], nonce: &mut u64, last: &mut Vec<u8>| {
            let mut wire = Vec::new();
            for chunk in plain.chunks(MAX_PLAIN) {
                let mut sealed = vec![0u8; chunk.len() + 16];
                let n = transport.write_message(*nonce, chunk, &mut sealed).unwrap();
                *nonce += 1;
                wire.extend_from_slice(&(n as u16).to_be_bytes());
                wire.extend_from_slice(&sealed[..n]);
                *last = wire[wire.len() - n - 2..].to_vec();
            }
            wire
        };
        for record in &deep.records {
            let wire = match record {
                Record::Sealed(plain) => seal(plain, &mut nonce, &mut last),
                Record::Frame(frame) => {
                    let mut plain = Vec::new();
                    for frame in frame.frames(&mut ctx) {
                        if let Ok(bytes) = encode_frame(&frame) {
                            plain.extend_from_slice(&bytes);
                        }
                    }
                    seal(&plain, &mut nonce, &mut last)
                }
                Record::Raw(bytes) => bytes.clone(),
                Record::Replay => last.clone(),
                Record::SkipNonce(n) => {
                    nonce += u64::from(*n);
                    continue;
                }
                Record::Pause => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
            };
            if write.write_all(&wire).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    };
    let draining = async {
        let mut sink = Vec::new();
        let _ = read.read_to_end(&mut sink).await;
    };
    tokio::join!(records, draining);
    peer
}
