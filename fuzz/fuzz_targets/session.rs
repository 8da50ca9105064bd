//! The host's session state machine: a real `RoomHost` (two, an open room and a locked
//! one) on 127.0.0.1 only, started once per process and kept across runs, each with a
//! well-behaved member (the "watcher") that stays joined. Each run, the harness opens up to
//! a few real connections (real version check and Noise handshake, through
//! `lanchat::net::link::dial`) and sends what the fuzzer chose: a shortcut join (a good
//! hello, the password exchange, the welcome), frames of every kind in any order (hello with any fields and a real or wrong SPAKE2 start, posts, history requests,
//! renames, pings, password proofs, uploads with made-up or real piece hashes and their data,
//! downloads, cancels, frames only a host sends), or bytes that are not frames at all
//! (encrypted, so they reach the codec behind the record layer). Then it closes them.
//!
//! Must hold: no panic (in the host's tasks too: a panic aborts the process under
//! libFuzzer); the host closes each connection once the harness has closed its side; every
//! frame the host sends passes the codec (no undecodable or invalid frame, no decryption
//! failure); and after every run the watcher is still joined and answered a ping.
//!
//! Host state persists across runs (history, kept files, members coming and going), so a
//! crash may need the runs before it; libFuzzer's crash file is the last input.

#![no_main]

mod common;

use arbitrary::Arbitrary;
use bytes::Bytes;
use common::{Ctx, FuzzFrame, HOST, MEMBERS, WATCHER, room, secret};
use lanchat::files::{FileService, FileStore};
use lanchat::net::host::{HostConfig, RoomHost};
use lanchat::net::identity::Identity;
use lanchat::net::limits::{Limits, Rate};
use lanchat::net::link::{self, Expect, LinkWriter, Timeouts};
use lanchat::net::password::MemberExchange;
use lanchat::protocol::{APP_VERSION, Frame, Hello, ProtocolError};
use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

#[derive(Arbitrary, Debug)]
struct Input {
    /// The locked room instead of the open one.
    locked: bool,
    /// Whose key the third connection has: 0 a second member device, 1 the host's own.
    third: bool,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
struct Step {
    /// Which of three connections: 0 and 1 are the same device, 2 another (or the host).
    conn: u8,
    action: Action,
}

#[derive(Arbitrary, Debug)]
enum Action {
    /// Join as a well-behaved member would: a good hello (in the locked room with the right
    /// password, the exchange done), then wait for the welcome. A shortcut to the states
    /// after a join, which `Frame(Hello)` reaches too but in more bytes.
    Join {
        resume: u8,
        /// Name the history epoch the host sent before (a member coming back).
        known: bool,
        since: Option<u8>,
    },
    Frame(FuzzFrame),
    /// Bytes in place of frame bytes (length prefix and MessagePack), encrypted.
    Plain(Vec<u8>),
    /// A frame body of any bytes, behind the right length prefix, encrypted.
    Body(Vec<u8>),
    /// Wait a moment (10 ms at most) for the host's next frame on this connection.
    Await,
    /// Close this connection (the next step on it opens a new one).
    Close,
}

/// Connections opened in one run at most.
const MAX_CONNECTIONS: usize = 8;
/// Time one run may spend waiting on purpose (`Await`, the password exchange).
const WAIT_BUDGET: Duration = Duration::from_millis(200);
/// Longest the host may take to close a connection after the harness closed its side (a
/// second upload of one file waits up to 5 s for the first's turn).
const CLOSE_LIMIT: Duration = Duration::from_secs(20);
/// Longest the watcher may wait for its pong.
const PONG_LIMIT: Duration = Duration::from_secs(10);

struct Fixture {
    rt: tokio::runtime::Runtime,
    rooms: [Mutex<RoomFixture>; 2],
}

struct RoomFixture {
    host: Option<RoomHost>,
    addr: SocketAddr,
    epoch: u64,
    locked: bool,
    dir: PathBuf,
    watcher: Watcher,
    /// The host said "try later" to a password: its per-room budget of wrong tries is spent,
    /// and it turns every try away for a while. Restarted after the run (history kept).
    restart: bool,
}

/// The well-behaved member: joined once, pings every 5 s like a real member, and on demand.
struct Watcher {
    writer: Arc<tokio::sync::Mutex<LinkWriter>>,
    pongs: watch::Receiver<u64>,
    alive: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    // A Rust `main` ignores SIGPIPE before it starts; libFuzzer's `main` does not, and a
    // vectored write (`writev`, as tokio-util's framed writer does) to a socket the other
    // side has closed would kill the process instead of returning EPIPE.
    // SAFETY: setting a signal's disposition to "ignore" before any thread is started here.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let base = work_dir();
    let rooms = rt.block_on(async {
        [
            Mutex::new(RoomFixture::start(base.join("open"), false).await),
            Mutex::new(RoomFixture::start(base.join("locked"), true).await),
        ]
    });
    Fixture { rt, rooms }
});

/// A directory of this process's own, in memory where there is a /dev/shm (the history is
/// written with fsync). Directories of processes that have ended are removed first.
fn work_dir() -> PathBuf {
    let parent = std::env::var_os("LANCHAT_FUZZ_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let shm = PathBuf::from("/dev/shm");
            if shm.is_dir() {
                shm
            } else {
                std::env::temp_dir()
            }
        });
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("lanchat-fuzz-")
                && !PathBuf::from(format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = parent.join(format!("lanchat-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a work directory");
    dir
}

fn limits() -> Limits {
    Limits {
        handshakes_per_address: 64,
        connections_per_address: 256,
        transfers_per_address: 16,
        // Tight enough that a run can reach the held and refused posts.
        posts: Rate {
            per_second: 20.0,
            burst: 10.0,
        },
        post_bytes: Rate {
            per_second: 256.0 * 1024.0,
            burst: 512.0 * 1024.0,
        },
        // Every run comes from 127.0.0.1: no growing wait between password tries.
        password_wait: Duration::ZERO,
        password_wait_max: Duration::ZERO,
        ..Limits::default()
    }
}

impl RoomFixture {
    async fn start(dir: PathBuf, locked: bool) -> RoomFixture {
        let (host, addr) = start_host(&dir, locked, 0).await;
        let (watcher, epoch) = Watcher::join(addr, locked).await;
        RoomFixture {
            host: Some(host),
            addr,
            epoch,
            locked,
            dir,
            watcher,
            restart: false,
        }
    }

    async fn restart(&mut self) {
        self.watcher.stop();
        if let Some(host) = self.host.take() {
            host.close(lanchat::protocol::CloseCode::Closed, Duration::from_secs(5))
                .await;
        }
        let (host, addr) = start_host(&self.dir, self.locked, self.addr.port()).await;
        let (watcher, epoch) = Watcher::join(addr, self.locked).await;
        *self = RoomFixture {
            host: Some(host),
            addr,
            epoch,
            locked: self.locked,
            dir: self.dir.clone(),
            watcher,
            restart: false,
        };
    }
}

async fn start_host(dir: &std::path::Path, locked: bool, port: u16) -> (RoomHost, SocketAddr) {
    let mut config = HostConfig::new(
        room(),
        "Lab".into(),
        "Ada".into(),
        HOST.clone(),
        dir.to_path_buf(),
    );
    config.bind = Some(Ipv4Addr::LOCALHOST.into());
    config.port = port;
    config.limits = limits();
    config.password = locked.then(secret);
    config.problems = Some(Arc::new(|_| {}));
    FileService::register(&mut config, FileStore::new(dir.join("files"), 4 << 20));
    let host = RoomHost::start(config).await.expect("the host starts");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, host.port));
    (host, addr)
}

impl Watcher {
    /// Joins (with the password in the locked room) and returns the history's epoch.
    async fn join(addr: SocketAddr, locked: bool) -> (Watcher, u64) {
        let link = link::dial(
            &[addr],
            &WATCHER,
            Expect::Key(HOST.public()),
            &Timeouts::default(),
        )
        .await
        .expect("the watcher connects");
        let (mut reader, mut writer) = (link.reader, link.writer);
        let exchange = locked.then(|| MemberExchange::start(&secret(), link.handshake_hash));
        let hello = Hello {
            passing: false,
            app: APP_VERSION.into(),
            name: "Watcher".into(),
            room: room(),
            since: None,
            epoch: None,
            resume: 1,
            password: exchange.as_ref().map(|(_, message)| message.clone()),
        };
        writer.send(Frame::Hello(hello)).await.unwrap();
        if let Some((exchange, _)) = exchange {
            let Frame::Spake { msg, proof } = reader.next().await.unwrap() else {
                panic!("the locked room asks for the password")
            };
            let proof = exchange.finish(&msg, &proof).expect("the right password");
            writer.send(Frame::Proof { proof }).await.unwrap();
        }
        let welcome = match reader.next().await.unwrap() {
            Frame::Welcome(welcome) => welcome,
            other => panic!("the watcher was not let in: {other:?}"),
        };
        let (pong_tx, pongs) = watch::channel(0u64);
        let alive = Arc::new(AtomicBool::new(true));
        let still = alive.clone();
        let reading = tokio::spawn(async move {
            loop {
                match reader.recv().await {
                    Some(Ok(Frame::Pong)) => pong_tx.send_modify(|n| *n += 1),
                    Some(Ok(Frame::Closing { .. })) | None => break,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        check_error(&e);
                        break;
                    }
                }
            }
            still.store(false, Ordering::SeqCst);
        });
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let pinging = {
            let writer = writer.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lanchat::protocol::PING_INTERVAL).await;
                    let _ = writer.lock().await.send(Frame::Ping).await;
                }
            })
        };
        let watcher = Watcher {
            writer,
            pongs,
            alive,
            tasks: vec![reading, pinging],
        };
        (watcher, welcome.epoch)
    }

    /// The host still serves the watcher: it is joined, and a ping gets its pong.
    async fn check(&mut self) {
        assert!(
            self.alive.load(Ordering::SeqCst),
            "the host dropped the well-behaved member"
        );
        let before = *self.pongs.borrow_and_update();
        self.writer
            .lock()
            .await
            .send(Frame::Ping)
            .await
            .expect("the watcher's ping goes out");
        let answered = tokio::time::timeout(PONG_LIMIT, self.pongs.wait_for(|&n| n > before)).await;
        assert!(
            matches!(answered, Ok(Ok(_))),
            "the host did not answer the well-behaved member's ping"
        );
    }

    fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

/// A frame stream from the real host never fails but by the connection ending.
fn check_error(e: &ProtocolError) {
    match e {
        ProtocolError::Io(_) | ProtocolError::Truncated => {}
        other => panic!("the host sent what its own codec refuses: {other}"),
    }
}

/// One of the run's connections.
struct Conn {
    writer: Option<LinkWriter>,
    frames: mpsc::UnboundedReceiver<Result<Frame, ProtocolError>>,
    ctx: Ctx,
    /// The host's side has ended (or ours broke): the next step opens a new connection.
    done: bool,
}

struct Run {
    locked: bool,
    addr: SocketAddr,
    epoch: u64,
    identities: [Identity; 3],
    conns: [Option<Conn>; 3],
    /// Closed connections, waited for at the end.
    closing: Vec<Conn>,
    opened: usize,
    wait_left: Duration,
    /// The locked room said "try later".
    try_later: bool,
}

fuzz_target!(|input: Input| {
    let fixture = &*FIXTURE;
    let index = usize::from(input.locked);
    let mut room = fixture.rooms[index].lock().unwrap();
    fixture.rt.block_on(async {
        let run = Run {
            locked: input.locked,
            addr: room.addr,
            epoch: room.epoch,
            identities: [
                MEMBERS[0].clone(),
                MEMBERS[0].clone(),
                if input.third {
                    HOST.clone()
                } else {
                    MEMBERS[1].clone()
                },
            ],
            conns: [None, None, None],
            closing: Vec::new(),
            opened: 0,
            wait_left: WAIT_BUDGET,
            try_later: false,
        };
        let try_later = run.go(&input.steps).await;
        room.watcher.check().await;
        if try_later {
            room.restart = true;
        }
        if room.restart {
            room.restart().await;
        }
    });
});

impl Run {
    /// Runs the steps, closes every connection and waits for the host to close them.
    async fn go(mut self, steps: &[Step]) -> bool {
        for step in steps {
            let slot = usize::from(step.conn % 3);
            if self.conns[slot].as_ref().is_some_and(|c| c.done) {
                let old = self.conns[slot].take().unwrap();
                self.closing.push(old);
            }
            if self.conns[slot].is_none() {
                if self.opened == MAX_CONNECTIONS {
                    continue;
                }
                self.opened += 1;
                self.conns[slot] = Some(self.open(slot).await);
            }
            let conn = self.conns[slot].as_mut().unwrap();
            let try_later = conn
                .act(&step.action, self.locked, &mut self.wait_left)
                .await;
            self.try_later |= try_later;
        }
        let open: Vec<Conn> = self.conns.iter_mut().filter_map(Option::take).collect();
        self.closing.extend(open);
        for conn in self.closing {
            self.try_later |= conn.finish().await;
        }
        self.try_later
    }

    async fn open(&self, slot: usize) -> Conn {
        let link = link::dial(
            &[self.addr],
            &self.identities[slot],
            Expect::Key(HOST.public()),
            &Timeouts::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("the host does not take a connection: {e}"));
        let (mut reader, writer) = (link.reader, link.writer);
        let (tx, frames) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(item) = reader.recv().await {
                let end = item.is_err();
                if tx.send(item).is_err() || end {
                    break;
                }
            }
        });
        Conn {
            writer: Some(writer),
            frames,
            ctx: Ctx {
                epoch: Some(self.epoch),
                handshake_hash: link.handshake_hash,
                ..Ctx::default()
            },
            done: false,
        }
    }
}

impl Conn {
    /// One step; true if the host said "try later" to a password.
    async fn act(&mut self, action: &Action, locked: bool, wait_left: &mut Duration) -> bool {
        let mut try_later = self.absorb_ready();
        let Some(writer) = self.writer.as_mut() else {
            self.done = true;
            return try_later;
        };
        let sent = match action {
            Action::Frame(frame) => {
                if matches!(frame, FuzzFrame::Proof(common::ProofChoice::Right))
                    && locked
                    && self.ctx.exchange.is_some()
                    && self.ctx.spake.is_none()
                {
                    // The right proof needs the host's SPAKE2 message: wait for it.
                    try_later |= self.wait(Duration::from_millis(300), wait_left).await;
                }
                let writer = self.writer.as_mut().unwrap();
                let mut sent = Ok(());
                for frame in frame.frames(&mut self.ctx) {
                    match writer.feed(frame).await {
                        // Too large to encode: not sent, the link carries on.
                        Err(link::LinkError::Protocol(ProtocolError::TooLarge { .. })) => {}
                        Err(e) => {
                            sent = Err(e);
                            break;
                        }
                        Ok(()) => {}
                    }
                }
                match sent {
                    Ok(()) => writer.flush().await,
                    Err(e) => Err(e),
                }
            }
            Action::Plain(bytes) => send_plain(writer, Bytes::from(bytes.clone())).await,
            Action::Body(body) => {
                let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
                bytes.extend_from_slice(body);
                send_plain(writer, bytes.into()).await
            }
            Action::Await => {
                try_later |= self.wait(Duration::from_millis(10), wait_left).await;
                Ok(())
            }
            Action::Join {
                resume,
                known,
                since,
            } => {
                let (result, later) = self.join(*resume, *known, *since, locked).await;
                try_later |= later;
                result
            }
            Action::Close => {
                self.done = true;
                Ok(())
            }
        };
        if sent.is_err() {
            self.done = true;
        }
        try_later
    }

    /// A good hello, the password exchange in the locked room, and the welcome (each answer
    /// awaited for 1 s at most). Returns the send result and whether the host said "try
    /// later".
    async fn join(
        &mut self,
        resume: u8,
        known: bool,
        since: Option<u8>,
        locked: bool,
    ) -> (Result<(), link::LinkError>, bool) {
        let exchange = locked.then(|| MemberExchange::start(&secret(), self.ctx.handshake_hash));
        let hello = Hello {
            passing: false,
            app: APP_VERSION.into(),
            name: "Ann".into(),
            room: room(),
            since: since.map(u64::from),
            epoch: if known { self.ctx.epoch } else { None },
            resume: u64::from(resume % 4),
            password: exchange.as_ref().map(|(_, message)| message.clone()),
        };
        let writer = self.writer.as_mut().unwrap();
        if let Err(e) = writer.send(Frame::Hello(hello)).await {
            return (Err(e), false);
        }
        let mut try_later = false;
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut exchange = exchange.map(|(exchange, _)| exchange);
        loop {
            let item = match tokio::time::timeout_at(deadline, self.frames.recv()).await {
                Ok(Some(item)) => item,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(_) => break,
            };
            let (spake, welcome) = (
                matches!(item, Ok(Frame::Spake { .. })),
                matches!(item, Ok(Frame::Welcome(_))),
            );
            try_later |= self.absorb(item);
            if spake
                && let (Some(exchange), Some((msg, proof))) = (exchange.take(), &self.ctx.spake)
            {
                let proof = exchange.finish(msg, proof).unwrap_or_default();
                let writer = self.writer.as_mut().unwrap();
                if let Err(e) = writer.send(Frame::Proof { proof }).await {
                    return (Err(e), try_later);
                }
            }
            if welcome || self.done || try_later {
                break;
            }
        }
        (Ok(()), try_later)
    }

    /// Takes in what has arrived; true on a "try later".
    fn absorb_ready(&mut self) -> bool {
        let mut try_later = false;
        while let Ok(item) = self.frames.try_recv() {
            try_later |= self.absorb(item);
        }
        try_later
    }

    fn absorb(&mut self, item: Result<Frame, ProtocolError>) -> bool {
        match item {
            Ok(Frame::Spake { msg, proof }) => self.ctx.spake = Some((msg, proof)),
            Ok(Frame::Welcome(welcome)) => {
                assert!(
                    welcome.members.iter().any(|m| m.id == welcome.you),
                    "a welcome without the member it welcomes"
                );
                self.ctx.epoch = Some(welcome.epoch);
            }
            Ok(Frame::TryLater { .. }) => return true,
            Ok(_) => {}
            Err(e) => {
                check_error(&e);
                self.done = true;
            }
        }
        false
    }

    /// Waits for the next frame from the host, within `limit` and what is left of the run's
    /// budget for waiting.
    async fn wait(&mut self, limit: Duration, wait_left: &mut Duration) -> bool {
        let limit = limit.min(*wait_left);
        let start = Instant::now();
        let got = tokio::time::timeout(limit, self.frames.recv()).await;
        *wait_left = wait_left.saturating_sub(start.elapsed());
        match got {
            Ok(Some(item)) => self.absorb(item) | self.absorb_ready(),
            Ok(None) => {
                self.done = true;
                false
            }
            Err(_) => false,
        }
    }

    /// Closes our side, then reads until the host closes its side.
    async fn finish(mut self) -> bool {
        if let Some(writer) = self.writer.take() {
            writer.close().await;
        }
        let mut try_later = false;
        let deadline = Instant::now() + CLOSE_LIMIT;
        loop {
            match tokio::time::timeout_at(deadline, self.frames.recv()).await {
                Ok(Some(item)) => try_later |= self.absorb(item),
                Ok(None) => return try_later,
                Err(_) => panic!("the host kept a connection open after the member closed it"),
            }
        }
    }
}

async fn send_plain(writer: &mut LinkWriter, bytes: Bytes) -> Result<(), link::LinkError> {
    writer.feed_encoded(bytes).await?;
    writer.flush().await
}
