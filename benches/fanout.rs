//! Fan-out benchmark: how fast, and how promptly, a room's host passes each message on to
//! every member — lanchat's real host against a minimal tokio fan-out host built here as the
//! baseline.
//!
//! Run it with `cargo bench --bench fanout` (add `-- --rounds 3` to repeat every measurement
//! and keep each round's figures, `-- --stuck` to measure lanchat a third time with a member
//! that stopped reading). Everything is on loopback (127.0.0.1); no timing is asserted.
//!
//! For N = 10 and N = 100 members, each host is measured twice:
//! - latency: one message every 5 ms, from each member in turn; every member (the sender too)
//!   receives it, and each receipt gives one end-to-end latency (the sender stamps the text
//!   with its send time; receivers subtract it from their own clock, both of them the same
//!   `Instant` epoch in this process): p50 / p99 / max over all receipts, and the p99 of the
//!   *last* member's receipt of each message.
//! - load: 4 members post as fast as the room passes their messages back to them, each with
//!   at most 32 of its own messages not yet seen back (a bounded window); deliveries/s counts
//!   every message received by every member during 3 s.
//!
//! The members are clients in this process speaking the real wire protocol over tokio:
//! `Hello`, `Welcome`, then `Post` out and `Message` in. To lanchat's host they connect
//! through lanchat's link (version, Noise handshake, AES-GCM on every frame), each from an
//! address of its own (127.0.0.2, .3, …) as members on a LAN would; to the baseline they send
//! the same MessagePack frames in plaintext (`Framed<TcpStream, FrameCodec>`; the minimal
//! host forwards bytes without decoding them). So the ratio is the cost of lanchat's host and
//! of encryption, on both ends, together. lanchat's per-member post limits are lifted for the
//! bench: the load phase posts far faster than a person, on purpose. lanchat's own
//! `net::session::Session` is not used, because it cannot talk to the baseline host and
//! would add its bridge queue to one side only.
//!
//! The minimal host: accept loop, one task per member (TCP_NODELAY on), frames read with
//! `LengthDelimitedCodec`, each frame re-queued as bytes to every member's unbounded queue, and
//! each member's task writes what is queued (as lanchat's host does: write all, then flush).
//! No handshake, no validation, no history, no acknowledgements.
//!
//! With `--stuck`, lanchat's host is also measured with one more member that joins and then
//! never reads (its receive buffer made small, so its backlog builds at once): the other
//! members' figures against lanchat's without it show whether one stuck member costs the
//! rest anything, and the table says whether the host dropped it (at its queue bound).
//!
//! The hosts run on their own 2-worker tokio runtime, as in the app; the members on another
//! 2-worker runtime. The machine has 2 cores, so members and host share them: the figures
//! are for the pair, and the ratio between the hosts is what to read.

use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use lanchat::net::host::{HostConfig, RoomHost};
use lanchat::net::identity::Identity;
use lanchat::net::limits::Limits;
use lanchat::net::link::{self, Expect, LinkReader, LinkWriter, Timeouts};
use lanchat::protocol::{
    APP_VERSION, ChatMessage, DeviceId, Frame, FrameCodec, Hello, ProtocolError, RoomId,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::codec::{Framed, FramedRead, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

/// Interval between messages in the latency phase.
const LATENCY_INTERVAL: Duration = Duration::from_millis(5);
/// Messages sent in the latency phase.
const LATENCY_MESSAGES: usize = 600;
/// Members posting in the load phase.
const LOAD_SENDERS: usize = 4;
/// Each load sender's own messages that may be on their way at once.
const LOAD_WINDOW: usize = 32;
/// Length of the load phase.
const LOAD_TIME: Duration = Duration::from_secs(3);
/// Chat text length (bytes), a typical short chat line.
const TEXT_LEN: usize = 80;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the bench's epoch: one monotonic clock shared by senders and receivers.
fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Lanchat,
    Minimal,
    /// lanchat's host with one more member that never reads.
    Stuck,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Lanchat => "lanchat",
            Kind::Minimal => "minimal",
            Kind::Stuck => "stuck",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The minimal fan-out host (baseline)
// ---------------------------------------------------------------------------------------------

type Registry = Arc<Mutex<Vec<(u64, mpsc::UnboundedSender<Bytes>)>>>;

struct MinimalHost {
    addr: SocketAddr,
    members: Registry,
    cancel: CancellationToken,
}

impl MinimalHost {
    async fn start() -> MinimalHost {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let members: Registry = Arc::default();
        let cancel = CancellationToken::new();
        let (reg, stop) = (members.clone(), cancel.clone());
        tokio::spawn(async move {
            let mut next = 0u64;
            loop {
                let (stream, _) = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                };
                stream.set_nodelay(true).unwrap();
                next += 1;
                let (tx, rx) = mpsc::unbounded_channel();
                reg.lock().unwrap().push((next, tx));
                tokio::spawn(minimal_member(
                    stream,
                    next,
                    rx,
                    reg.clone(),
                    stop.child_token(),
                ));
            }
        });
        MinimalHost {
            addr,
            members,
            cancel,
        }
    }

    fn count(&self) -> usize {
        self.members.lock().unwrap().len()
    }
}

async fn minimal_member(
    stream: TcpStream,
    id: u64,
    mut queue: mpsc::UnboundedReceiver<Bytes>,
    members: Registry,
    cancel: CancellationToken,
) {
    let (read, write) = stream.into_split();
    let mut frames = FramedRead::new(read, LengthDelimitedCodec::new());
    let mut write = BufWriter::new(write);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            frame = frames.next() => {
                let Some(Ok(body)) = frame else { break };
                let mut buf = BytesMut::with_capacity(4 + body.len());
                buf.put_u32(body.len() as u32);
                buf.extend_from_slice(&body);
                let bytes = buf.freeze();
                for (_, tx) in members.lock().unwrap().iter() {
                    let _ = tx.send(bytes.clone());
                }
            }
            queued = queue.recv() => {
                let Some(first) = queued else { break };
                if write.write_all(&first).await.is_err() { break }
                let mut ok = true;
                while let Ok(more) = queue.try_recv() {
                    if write.write_all(&more).await.is_err() { ok = false; break }
                }
                if !ok || write.flush().await.is_err() { break }
            }
        }
    }
    members.lock().unwrap().retain(|(m, _)| *m != id);
}

// ---------------------------------------------------------------------------------------------
// Hosts under test
// ---------------------------------------------------------------------------------------------

enum Host {
    Lanchat {
        host: RoomHost,
        room: RoomId,
        _dir: tempfile::TempDir,
    },
    Minimal(MinimalHost),
}

impl Host {
    async fn start(kind: Kind) -> Host {
        match kind {
            Kind::Lanchat | Kind::Stuck => {
                let dir = tempfile::tempdir().expect("tempdir");
                let room = RoomId::random();
                let host = RoomHost::start(HostConfig {
                    bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
                    limits: Limits::unmetered(),
                    ..HostConfig::new(
                        room.clone(),
                        "bench".into(),
                        "bench host".into(),
                        Identity::generate(),
                        dir.path().to_path_buf(),
                    )
                })
                .await
                .expect("start lanchat host");
                Host::Lanchat {
                    host,
                    room,
                    _dir: dir,
                }
            }
            Kind::Minimal => Host::Minimal(MinimalHost::start().await),
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Host::Lanchat { host, .. } => SocketAddr::from(([127, 0, 0, 1], host.port)),
            Host::Minimal(m) => m.addr,
        }
    }

    fn members(&self) -> usize {
        match self {
            Host::Lanchat { host, .. } => *host.member_count().borrow() as usize,
            Host::Minimal(m) => m.count(),
        }
    }

    async fn close(self) {
        match self {
            Host::Lanchat { host, .. } => {
                host.close(lanchat::protocol::CloseCode::Closed, Duration::from_secs(2))
                    .await
            }
            Host::Minimal(m) => m.cancel.cancel(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Members (clients)
// ---------------------------------------------------------------------------------------------

type Conn = Framed<TcpStream, FrameCodec>;

/// A member's sending half: through lanchat's link, or plain to the baseline.
enum Sink {
    Plain(SplitSink<Conn, Frame>),
    Link(LinkWriter),
}

impl Sink {
    async fn send(&mut self, frame: Frame) -> Result<(), String> {
        match self {
            Sink::Plain(sink) => sink.send(frame).await.map_err(|e| e.to_string()),
            Sink::Link(writer) => writer.send(frame).await.map_err(|e| e.to_string()),
        }
    }

    async fn feed(&mut self, frame: Frame) -> Result<(), String> {
        match self {
            Sink::Plain(sink) => sink.feed(frame).await.map_err(|e| e.to_string()),
            Sink::Link(writer) => writer.feed(frame).await.map_err(|e| e.to_string()),
        }
    }

    async fn flush(&mut self) -> Result<(), String> {
        match self {
            Sink::Plain(sink) => SinkExt::<Frame>::flush(sink)
                .await
                .map_err(|e| e.to_string()),
            Sink::Link(writer) => writer.flush().await.map_err(|e| e.to_string()),
        }
    }
}

/// A member's receiving half.
enum Stream {
    Plain(SplitStream<Conn>),
    Link(Box<LinkReader>),
}

impl Stream {
    async fn next(&mut self) -> Option<Result<Frame, ProtocolError>> {
        match self {
            Stream::Plain(stream) => stream.next().await,
            Stream::Link(reader) => reader.recv().await,
        }
    }
}

/// What the bench is doing now; receipts are filed by phase.
const WARMUP: u8 = 0;
const LATENCY: u8 = 1;
const LOAD: u8 = 2;

/// Shared by all members of one run.
struct Shared {
    phase: AtomicU8,
    /// Messages received by all members, all phases.
    deliveries: AtomicU64,
    /// Members whose connection ended or who were told someone left (drops by the host).
    troubles: AtomicU64,
    /// Latency receipts per phase: (message key, latency ns).
    receipts: [Mutex<Vec<(u64, u64)>>; 3],
}

struct Member {
    sink: tokio::sync::Mutex<Sink>,
    /// Permits for this member's own messages on their way (load window).
    window: Arc<Semaphore>,
    device: DeviceId,
    reader: tokio::task::JoinHandle<()>,
}

/// Text of a message: sender, sequence and send time, padded to a chat line's length.
fn stamp(sender: usize, seq: u64) -> String {
    let mut s = format!("{sender}|{seq}|{}|", now_ns());
    while s.len() < TEXT_LEN {
        s.push('x');
    }
    s
}

fn parse_stamp(text: &str) -> Option<(usize, u64, u64)> {
    let mut it = text.split('|');
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ))
}

fn frame_for(kind: Kind, sender: usize, device: &DeviceId, seq: u64) -> Frame {
    let text = stamp(sender, seq);
    match kind {
        Kind::Lanchat | Kind::Stuck => Frame::Post { seq, text },
        Kind::Minimal => Frame::Message(ChatMessage {
            id: seq,
            ts: 0,
            from: format!("member {sender}"),
            device: device.clone(),
            text,
            file: None,
        }),
    }
}

async fn read_loop(me: usize, mut stream: Stream, shared: Arc<Shared>, window: Arc<Semaphore>) {
    let mut local: Vec<(u8, u64, u64)> = Vec::new();
    while let Some(Ok(frame)) = stream.next().await {
        let now = now_ns();
        match frame {
            Frame::Message(m) => {
                shared.deliveries.fetch_add(1, Ordering::Relaxed);
                if let Some((sender, seq, sent)) = parse_stamp(&m.text) {
                    let phase = shared.phase.load(Ordering::Relaxed);
                    local.push((
                        phase,
                        ((sender as u64) << 40) | seq,
                        now.saturating_sub(sent),
                    ));
                    if local.len() >= 256 {
                        flush_receipts(&shared, &mut local);
                    }
                    if sender == me && phase == LOAD {
                        window.add_permits(1);
                    }
                }
            }
            Frame::MemberLeft(_) | Frame::Closing { .. } => {
                shared.troubles.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    flush_receipts(&shared, &mut local);
}

fn flush_receipts(shared: &Shared, local: &mut Vec<(u8, u64, u64)>) {
    for (phase, key, lat) in local.drain(..) {
        shared.receipts[phase as usize]
            .lock()
            .unwrap()
            .push((key, lat));
    }
}

/// Connects member `me` from an address of its own, as on a LAN (lanchat counts per
/// address); a `stuck` one with a small receive buffer.
async fn dial(host: &Host, me: usize, stuck: bool) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    let from = std::net::Ipv4Addr::new(127, 0, 1 + (me / 250) as u8, 2 + (me % 250) as u8);
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind a loopback address");
    if stuck {
        socket.set_recv_buffer_size(4096).expect("a small buffer");
    }
    let stream = socket.connect(host.addr()).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    stream
}

/// Joins lanchat's room through the link.
async fn join_link(stream: TcpStream, room: &RoomId, me: usize, identity: &Identity) -> link::Link {
    let mut conn = link::connect(stream, identity, Expect::Anyone, &Timeouts::default())
        .await
        .expect("link");
    conn.writer
        .send(Frame::Hello(Hello {
            passing: false,
            app: APP_VERSION.into(),
            name: format!("member {me}"),
            room: room.clone(),
            since: None,
            epoch: None,
            resume: rand_u64(),
            password: None,
        }))
        .await
        .expect("hello");
    match conn.reader.recv().await {
        Some(Ok(Frame::Welcome(_))) => {}
        other => panic!("expected welcome, got {other:?}"),
    }
    conn
}

/// A member that joins and then reads nothing: kept open until dropped.
async fn join_stuck(host: &Host, me: usize) -> link::Link {
    let Host::Lanchat { room, .. } = host else {
        panic!("only lanchat's host is measured with a stuck member")
    };
    join_link(dial(host, me, true).await, room, me, &Identity::generate()).await
}

async fn connect(host: &Host, me: usize, shared: &Arc<Shared>) -> Member {
    let stream = dial(host, me, false).await;
    let identity = Identity::generate();
    let device = identity.device();
    let (sink, stream) = match host {
        Host::Lanchat { room, .. } => {
            let conn = join_link(stream, room, me, &identity).await;
            (Sink::Link(conn.writer), Stream::Link(Box::new(conn.reader)))
        }
        Host::Minimal(_) => {
            let (sink, stream) = Framed::new(stream, FrameCodec::default()).split();
            (Sink::Plain(sink), Stream::Plain(stream))
        }
    };
    let window = Arc::new(Semaphore::new(0));
    let reader = tokio::spawn(read_loop(me, stream, shared.clone(), window.clone()));
    Member {
        sink: tokio::sync::Mutex::new(sink),
        window,
        device,
        reader,
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(now_ns())
}

// ---------------------------------------------------------------------------------------------
// One run: a host, N members, both phases
// ---------------------------------------------------------------------------------------------

struct Figures {
    members: usize,
    kind: Kind,
    deliveries_per_s: f64,
    /// Latency at a moderate rate, all receipts: p50, p99, max (µs).
    lat: [f64; 3],
    /// p99 over messages of the last member's receipt (µs).
    last_p99: f64,
    /// Latency under load, all receipts: p50, p99 (µs).
    load_lat: [f64; 2],
    lost: u64,
    troubles: u64,
    /// With a stuck member: whether the host had dropped it by the end.
    stuck_dropped: Option<bool>,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            eprintln!("  (gave up waiting for {what} after {limit:?})");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

async fn run_one(kind: Kind, n: usize, host_rt: tokio::runtime::Handle) -> Figures {
    // The host's tasks live on the host runtime: start (and later close) it there.
    let host = host_rt.spawn(Host::start(kind)).await.expect("host start");
    let shared = Arc::new(Shared {
        phase: AtomicU8::new(WARMUP),
        deliveries: AtomicU64::new(0),
        troubles: AtomicU64::new(0),
        receipts: Default::default(),
    });
    let mut members = Vec::with_capacity(n);
    for i in 0..n {
        members.push(connect(&host, i, &shared).await);
    }
    let stuck = match kind {
        Kind::Stuck => Some(join_stuck(&host, n).await),
        _ => None,
    };
    let everyone = n + stuck.is_some() as usize;
    wait_for("all members to join", Duration::from_secs(10), || {
        host.members() == everyone
    })
    .await;
    // Let the join announcements settle, then forget them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    shared.troubles.store(0, Ordering::SeqCst);
    let members = Arc::new(members);
    let mut seq = 0u64;

    // Warm-up: every member posts once.
    let base = shared.deliveries.load(Ordering::SeqCst);
    for (i, m) in members.iter().enumerate() {
        seq += 1;
        let frame = frame_for(kind, i, &m.device, seq);
        m.sink.lock().await.send(frame).await.expect("send");
    }
    let want = base + (n * n) as u64;
    wait_for("warm-up deliveries", Duration::from_secs(10), || {
        shared.deliveries.load(Ordering::SeqCst) >= want
    })
    .await;

    // Latency at a moderate rate: one message every LATENCY_INTERVAL from rotating senders.
    shared.phase.store(LATENCY, Ordering::SeqCst);
    let base = shared.deliveries.load(Ordering::SeqCst);
    let mut tick = tokio::time::interval(LATENCY_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for k in 0..LATENCY_MESSAGES {
        tick.tick().await;
        let i = k % n;
        seq += 1;
        let m = &members[i];
        let frame = frame_for(kind, i, &m.device, seq);
        m.sink.lock().await.send(frame).await.expect("send");
    }
    let want = base + (LATENCY_MESSAGES * n) as u64;
    wait_for("latency-phase deliveries", Duration::from_secs(10), || {
        shared.deliveries.load(Ordering::SeqCst) >= want
    })
    .await;
    let latency_lost = want.saturating_sub(shared.deliveries.load(Ordering::SeqCst));

    // Load: a few senders, each with a bounded window of its own messages on their way.
    shared.phase.store(LOAD, Ordering::SeqCst);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let senders = LOAD_SENDERS.min(n);
    let mut tasks = Vec::new();
    for s in 0..senders {
        let (members, stop, sent) = (members.clone(), stop.clone(), sent.clone());
        // Spread senders over the member list.
        let i = s * n / senders;
        let seq0 = seq + 1_000_000 * (s as u64 + 1);
        members[i].window.add_permits(LOAD_WINDOW);
        tasks.push(tokio::spawn(async move {
            let m = &members[i];
            let mut seq = seq0;
            let mut sink = m.sink.lock().await;
            while !stop.load(Ordering::Relaxed) {
                let Ok(permit) =
                    tokio::time::timeout(Duration::from_millis(100), m.window.acquire()).await
                else {
                    continue;
                };
                permit.expect("semaphore open").forget();
                seq += 1;
                let frame = frame_for(kind, i, &m.device, seq);
                // Feed while more permits are ready, so a burst goes out in one write.
                if m.window.available_permits() > 0 {
                    sink.feed(frame).await.expect("feed");
                } else {
                    sink.send(frame).await.expect("send");
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
            sink.flush().await.expect("flush");
        }));
    }
    let start = Instant::now();
    let d0 = shared.deliveries.load(Ordering::SeqCst);
    tokio::time::sleep(LOAD_TIME).await;
    let d1 = shared.deliveries.load(Ordering::SeqCst);
    let elapsed = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.expect("sender");
    }
    let want = base + (LATENCY_MESSAGES * n) as u64 + sent.load(Ordering::SeqCst) * n as u64;
    wait_for("load-phase deliveries", Duration::from_secs(20), || {
        shared.deliveries.load(Ordering::SeqCst) >= want
    })
    .await;
    let load_lost = want.saturating_sub(shared.deliveries.load(Ordering::SeqCst));
    let troubles = shared.troubles.load(Ordering::SeqCst);
    let stuck_dropped = stuck.as_ref().map(|_| host.members() == n);
    drop(stuck);

    // Tear down: close the host (members see the connection end), then collect receipts.
    host_rt.spawn(host.close()).await.expect("host close");
    let members = Arc::try_unwrap(members).ok().expect("senders done");
    for m in members {
        drop(m.sink);
        let _ = tokio::time::timeout(Duration::from_secs(5), m.reader).await;
    }

    let mut lat: Vec<u64> = shared.receipts[LATENCY as usize]
        .lock()
        .unwrap()
        .iter()
        .map(|&(_, l)| l)
        .collect();
    lat.sort_unstable();
    let mut last: std::collections::HashMap<u64, u64> = Default::default();
    for &(key, l) in shared.receipts[LATENCY as usize].lock().unwrap().iter() {
        let e = last.entry(key).or_default();
        *e = (*e).max(l);
    }
    let mut last: Vec<u64> = last.into_values().collect();
    last.sort_unstable();
    let mut load_lat: Vec<u64> = shared.receipts[LOAD as usize]
        .lock()
        .unwrap()
        .iter()
        .map(|&(_, l)| l)
        .collect();
    load_lat.sort_unstable();

    Figures {
        members: n,
        kind,
        deliveries_per_s: (d1 - d0) as f64 / elapsed.as_secs_f64(),
        lat: [
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            percentile(&lat, 1.0),
        ],
        last_p99: percentile(&last, 0.99),
        load_lat: [percentile(&load_lat, 0.5), percentile(&load_lat, 0.99)],
        lost: latency_lost + load_lost,
        troubles,
        stuck_dropped,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let with_stuck = args.iter().any(|a| a == "--stuck");
    now_ns();
    let host_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("host")
        .enable_all()
        .build()
        .unwrap();
    let member_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("members")
        .enable_all()
        .build()
        .unwrap();

    println!(
        "fanout: loopback, {LATENCY_MESSAGES} msgs @ 1/{LATENCY_INTERVAL:?} for latency; {LOAD_SENDERS} senders × window {LOAD_WINDOW} for {LOAD_TIME:?} for load; text {TEXT_LEN} B"
    );
    println!(
        "        hosts on a 2-worker runtime, members on another; {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut all: Vec<Figures> = Vec::new();
    for round in 0..rounds {
        for n in [10, 100] {
            // Alternate which host goes first, so neither always gets the warmer machine.
            let mut order = if round % 2 == 0 {
                vec![Kind::Minimal, Kind::Lanchat]
            } else {
                vec![Kind::Lanchat, Kind::Minimal]
            };
            if with_stuck {
                order.insert(1, Kind::Stuck);
            }
            for kind in order {
                eprintln!(
                    "round {} · {} members · {} host …",
                    round + 1,
                    n,
                    kind.name()
                );
                let f = member_rt.block_on(run_one(kind, n, host_rt.handle().clone()));
                all.push(f);
            }
        }
    }

    println!();
    println!(
        "{:>7} | {:<7} | {:>12} | {:>8} | {:>8} | {:>8} | {:>13} | {:>13} | {:>13} | {:>4} | {:>5}",
        "members",
        "host",
        "deliveries/s",
        "p50 µs",
        "p99 µs",
        "max µs",
        "last p99 µs",
        "load p50 µs",
        "load p99 µs",
        "lost",
        "drops"
    );
    println!("{}", "-".repeat(124));
    for f in &all {
        println!(
            "{:>7} | {:<7} | {:>12.0} | {:>8.0} | {:>8.0} | {:>8.0} | {:>13.0} | {:>13.0} | {:>13.0} | {:>4} | {:>5}",
            f.members,
            f.kind.name(),
            f.deliveries_per_s,
            f.lat[0],
            f.lat[1],
            f.lat[2],
            f.last_p99,
            f.load_lat[0],
            f.load_lat[1],
            f.lost,
            f.troubles
        );
    }
    println!();
    println!("ratio lanchat / minimal (medians over rounds; goal: p99 within 1.5x at 100 members)");
    println!(
        "{:>7} | {:>12} | {:>8} | {:>8} | {:>13}",
        "members", "deliveries/s", "p50", "p99", "last p99"
    );
    for n in [10, 100] {
        let ratio = |get: &dyn Fn(&Figures) -> f64| {
            median(&all, n, Kind::Lanchat, get) / median(&all, n, Kind::Minimal, get)
        };
        println!(
            "{:>7} | {:>11.2}x | {:>7.2}x | {:>7.2}x | {:>12.2}x",
            n,
            ratio(&|f| f.deliveries_per_s),
            ratio(&|f| f.lat[0]),
            ratio(&|f| f.lat[1]),
            ratio(&|f| f.last_p99),
        );
    }
    // The machine's noise moves both hosts of a round together: the ratio within each round,
    // then its median, is the steadier figure.
    println!("p99 ratio lanchat / minimal within each round, and its median");
    for n in [10, 100] {
        let of = |kind: Kind| -> Vec<f64> {
            all.iter()
                .filter(|f| f.members == n && f.kind == kind)
                .map(|f| f.lat[1])
                .collect()
        };
        let mut ratios: Vec<f64> = of(Kind::Lanchat)
            .iter()
            .zip(of(Kind::Minimal))
            .map(|(l, m)| l / m)
            .collect();
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        ratios.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{:>7} | {} | median {:.2}x",
            n,
            each.join(" "),
            ratios[ratios.len() / 2]
        );
    }
    println!(
        "(lost: receipts that never arrived; drops: MemberLeft/Closing frames seen during the run)"
    );
    if with_stuck {
        println!();
        println!(
            "ratio lanchat with a stuck member / lanchat (medians over rounds; the others' figures)"
        );
        println!(
            "{:>7} | {:>12} | {:>8} | {:>8} | {:>11} | {:>11} | stuck member dropped",
            "members", "deliveries/s", "p50", "p99", "load p50", "load p99"
        );
        for n in [10, 100] {
            let ratio = |get: &dyn Fn(&Figures) -> f64| {
                median(&all, n, Kind::Stuck, get) / median(&all, n, Kind::Lanchat, get)
            };
            let dropped = all
                .iter()
                .filter(|f| f.members == n && f.kind == Kind::Stuck)
                .filter(|f| f.stuck_dropped == Some(true))
                .count();
            let runs = all
                .iter()
                .filter(|f| f.members == n && f.kind == Kind::Stuck)
                .count();
            println!(
                "{:>7} | {:>11.2}x | {:>7.2}x | {:>7.2}x | {:>10.2}x | {:>10.2}x | in {dropped} of {runs} runs",
                n,
                ratio(&|f| f.deliveries_per_s),
                ratio(&|f| f.lat[0]),
                ratio(&|f| f.lat[1]),
                ratio(&|f| f.load_lat[0]),
                ratio(&|f| f.load_lat[1]),
            );
        }
    }
}

/// The median of one figure over the rounds of one host at `n` members.
fn median(all: &[Figures], n: usize, kind: Kind, get: &dyn Fn(&Figures) -> f64) -> f64 {
    let mut v: Vec<f64> = all
        .iter()
        .filter(|f| f.members == n && f.kind == kind)
        .map(get)
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
