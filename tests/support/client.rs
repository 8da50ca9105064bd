//! A test client that talks to a real host through the real link (version, Noise, encrypted
//! frames), optionally through a tap that records what it sends and lets a test slip raw
//! bytes onto the wire after it: garbage, a replayed message, a message cut short.

#![allow(dead_code)]

use bytes::Bytes;
use lanchat::net::identity::{Identity, PublicKey};
use lanchat::net::link::{self, Expect, Link, LinkError, LinkReader, LinkWriter, Timeouts};
use lanchat::protocol::{ChatMessage, Frame, Hello, ProtocolError, Welcome};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// A device's identity made from a name, so a test's "Ann" is the same device each time.
pub fn identity(name: &str) -> Identity {
    Identity::from_secret(*blake3::hash(name.as_bytes()).as_bytes())
}

/// One connection to a host, as a member or a file client would have it.
pub struct Client {
    pub reader: LinkReader,
    pub writer: LinkWriter,
    /// The host's key, as its handshake proved it.
    pub host_key: PublicKey,
    /// This link's handshake hash (for the password exchange).
    pub handshake_hash: [u8; 32],
    /// Set for a tapped client.
    pub tap: Option<Tap>,
}

impl Client {
    /// Connects straight to `addr` as `identity`.
    pub async fn connect(addr: SocketAddr, identity: &Identity) -> Client {
        let link = link::dial(&[addr], identity, Expect::Anyone, &Timeouts::default())
            .await
            .expect("the link opens");
        Client::from_link(link, None)
    }

    /// Connects to `addr` as `identity` through a tap.
    pub async fn tapped(addr: SocketAddr, identity: &Identity) -> Client {
        let (ours, pump) = tokio::io::duplex(1 << 20);
        let server = TcpStream::connect(addr).await.unwrap();
        let tap = Tap::start(pump, server);
        let link = link::connect(ours, identity, Expect::Anyone, &Timeouts::default())
            .await
            .expect("the link opens");
        Client::from_link(link, Some(tap))
    }

    fn from_link(link: Link, tap: Option<Tap>) -> Client {
        Client {
            reader: link.reader,
            writer: link.writer,
            host_key: link.remote,
            handshake_hash: link.handshake_hash,
            tap,
        }
    }

    pub async fn send(&mut self, frame: Frame) -> Result<(), LinkError> {
        self.writer.send(frame).await
    }

    pub async fn feed(&mut self, frame: Frame) -> Result<(), LinkError> {
        self.writer.feed(frame).await
    }

    pub async fn flush(&mut self) -> Result<(), LinkError> {
        self.writer.flush().await
    }

    /// Sends bytes as if they were an encoded frame: they are encrypted, but need not be a
    /// frame at all (a header claiming 4 GiB, a frame cut short).
    pub async fn send_plain(&mut self, bytes: &'static [u8]) -> Result<(), LinkError> {
        self.writer.feed_encoded(Bytes::from_static(bytes)).await?;
        self.writer.flush().await
    }

    /// The next frame, like a stream's `next`.
    pub async fn next(&mut self) -> Option<Result<Frame, ProtocolError>> {
        self.reader.recv().await
    }
}

/// Sits between a link and the host: records each message the client sends (2-byte length
/// and body, after the 6-byte version preamble) and lets a test send raw bytes after them.
pub struct Tap {
    inject: mpsc::UnboundedSender<Option<Vec<u8>>>,
    /// Every message the client sent so far, length prefix included: the two handshake
    /// messages, then one per Noise transport message.
    pub sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Tap {
    fn start(pump: tokio::io::DuplexStream, server: TcpStream) -> Tap {
        let (inject, mut injected) = mpsc::unbounded_channel::<Option<Vec<u8>>>();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let record = sent.clone();
        let (mut from_client, mut to_client) = tokio::io::split(pump);
        let (mut from_server, mut to_server) = server.into_split();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
            let _ = to_client.shutdown().await;
        });
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1 << 16];
            let mut pending: Vec<u8> = Vec::new();
            let mut preamble = 6;
            loop {
                tokio::select! {
                    read = from_client.read(&mut buf) => {
                        let n = match read {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        pending.extend_from_slice(&buf[..n]);
                        let skip = preamble.min(pending.len());
                        pending.drain(..skip);
                        preamble -= skip;
                        while pending.len() >= 2 {
                            let len = u16::from_be_bytes([pending[0], pending[1]]) as usize;
                            if pending.len() < 2 + len {
                                break;
                            }
                            record.lock().unwrap().push(pending.drain(..2 + len).collect());
                        }
                    }
                    bytes = injected.recv() => match bytes {
                        Some(Some(bytes)) => {
                            if to_server.write_all(&bytes).await.is_err() {
                                break;
                            }
                        }
                        // Hang up on the host.
                        Some(None) | None => break,
                    },
                }
            }
            let _ = to_server.shutdown().await;
        });
        Tap { inject, sent }
    }

    /// Sends raw bytes to the host after what the client sent.
    pub fn inject(&self, bytes: Vec<u8>) {
        let _ = self.inject.send(Some(bytes));
    }

    /// Hangs up on the host.
    pub fn hang_up(&self) {
        let _ = self.inject.send(None);
    }

    /// The `i`th message the client sent (0 and 1 are the handshake's).
    pub fn message(&self, i: usize) -> Vec<u8> {
        self.sent.lock().unwrap()[i].clone()
    }
}

/// How long a test waits for anything the host should do.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Joins as the device `hello` names and returns the connection, the welcome, and the
/// history that followed it.
pub async fn join_with(addr: SocketAddr, hello: Hello) -> (Client, Welcome, Vec<ChatMessage>) {
    let conn = Client::connect(addr, &identity(&hello.name)).await;
    join_on(conn, hello).await
}

/// Joins on a connection that has said nothing yet.
pub async fn join_on(mut conn: Client, hello: Hello) -> (Client, Welcome, Vec<ChatMessage>) {
    conn.send(Frame::Hello(hello)).await.unwrap();
    let Frame::Welcome(welcome) = next(&mut conn).await else {
        panic!("expected welcome")
    };
    let mut history = Vec::new();
    for _ in 0..welcome.history {
        match next(&mut conn).await {
            Frame::Message(m) => history.push(m),
            other => panic!("expected history, got {other:?}"),
        }
    }
    (conn, welcome, history)
}

/// The next frame, within [`DEADLINE`].
pub async fn next(conn: &mut Client) -> Frame {
    tokio::time::timeout(DEADLINE, conn.next())
        .await
        .expect("a frame within the deadline")
        .expect("connection open")
        .expect("a valid frame")
}

/// The next frame of the wanted kind, skipping others.
pub async fn next_kind(conn: &mut Client, kind: &str) -> Frame {
    loop {
        let frame = next(conn).await;
        if frame.kind() == kind {
            return frame;
        }
    }
}

/// Waits until the host closes the connection (clean end or error).
pub async fn closed(conn: &mut Client) {
    let end = tokio::time::timeout(DEADLINE, async {
        loop {
            match conn.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    });
    end.await.expect("the host closes the session");
}

/// Posts `text` and waits for its acknowledgement; returns the message's id.
pub async fn post(conn: &mut Client, seq: u64, text: &str) -> u64 {
    conn.send(Frame::Post {
        seq,
        text: text.into(),
    })
    .await
    .unwrap();
    loop {
        match next(conn).await {
            Frame::Accepted { seq: s, id } if s == seq => return id,
            Frame::Rejected { seq: s, code } if s == seq => panic!("refused: {code:?}"),
            // What others do in the room meanwhile.
            Frame::Message(_)
            | Frame::MemberJoined(_)
            | Frame::MemberLeft(_)
            | Frame::MemberRenamed(_)
            | Frame::MemberAway { .. }
            | Frame::MemberTyping { .. }
            // Another member's direct message to this one.
            | Frame::DirectFrom { .. } => {}
            other => panic!("expected accepted, got {other:?}"),
        }
    }
}
