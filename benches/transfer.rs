//! File-transfer benchmark: how fast a verified file moves through a room's host on loopback,
//! against a raw TCP copy of the same bytes measured in the same run, and how much a transfer
//! delays the chat of the same room.
//!
//! Run it with `cargo bench --bench transfer` (add `-- --rounds N` to change the number of
//! rounds, 3 by default, and `-- --mib N` to move N MiB instead of 1 GiB). Everything is on
//! loopback (127.0.0.1): the host binds 127.0.0.1 only. No timing is asserted.
//!
//! Once per run: a 1 GiB file of pseudo-random bytes (splitmix64) is written to a tempdir on
//! /dev/shm when that is a tmpfs with room (else the system temp dir; the header says which),
//! so the figures are of CPU and copies, not of a disk. Then, each round:
//! - raw memory copy: a 1 MiB buffer written to a socket 1024 times; the receiver reads into
//!   a 1 MiB buffer and discards it. The ceiling of loopback TCP with two tokio tasks.
//! - raw file copy: the file read in 1 MiB blocks on tokio's blocking pool (up to 4 blocks
//!   read ahead), written to a socket; the receiver gathers 1 MiB blocks and writes them to a
//!   file in the same folder on the blocking pool (up to 4 queued), then `sync_all`. A pipeline
//!   like lanchat's (read ahead, write behind), without frames, copies into frames, or hashes.
//! - hashing: `PieceHashes::compute` over the file (what a sender does before offering it);
//!   plain `blake3` over the same file is printed beside it.
//! - upload: `lanchat::files::transfer::upload` to a real `RoomHost` (files kept in a `FileStore`
//!   in the same folder, no size limit), timed until the host answers `Stored` (it has verified
//!   every piece, written, synced and kept the file).
//! - download: `transfer::download` of the kept file into another folder, timed until the
//!   verified file is saved; its blake3 is then checked against the original's.
//! - chat latency: two chat members of the same room (link clients as in
//!   `benches/fanout.rs`: `Hello`/`Welcome`, then `Post` out and `Message` in) post one message
//!   every 10 ms, in turn, for the whole life of the host; each message is stamped with its
//!   send time and phase, and each receipt (by the sender and by the other member) gives one
//!   latency. Phases: idle (2 s with no transfer, the baseline), during the raw file copy (the
//!   raw copies run while the room is open: the same load on the machine without lanchat's
//!   transfer code), during the upload, during the download.
//!
//! Every connection is an encrypted link (Noise, AES-GCM), as in the app; the raw copies are
//! plain TCP, so the ratio is what verification and encryption cost together.
//!
//! The host runs on its own 2-worker tokio runtime (as in the app), the uploading/downloading
//! member on another, the chat members on a third; the raw copies use the host runtime for the
//! receiver and the transfer runtime for the sender. MB is 10^6 bytes. Each round also prints
//! how much CPU other processes took meanwhile (and the hypervisor stole): on a small machine
//! a busy neighbour (a build, say) moves every figure, so read rounds with `others %` near 0.
//!
//! Memory warm-up: on a VM whose memory is backed lazily (free pages handed back to the
//! hypervisor after a few seconds, as with virtio-balloon free page reporting), the first
//! write to such a page costs far more than the copy itself: on the machine this was written
//! on, `dd` of 1 GiB into /dev/shm ran at 3.2 GB/s into warm pages and 0.42 GB/s into cold
//! ones, all of it system time. Every copy here creates a new 1 GiB file, so without care the
//! figures measure the hypervisor. Just before the raw file copy, the upload and the download,
//! the bench therefore writes and removes a ballast file of the same size (+128 MiB) in the
//! same folder, and prints the slowest warm-up rate of each round: a low one means the memory
//! was cold and the round's file figures are suspect.
//!
//! To profile only the upload (or the download) with perf:
//! ```text
//! mkfifo /tmp/ctl /tmp/ack
//! PERF_PHASE=upload PERF_CTL_FIFO=/tmp/ctl PERF_ACK_FIFO=/tmp/ack \
//!   perf record -D -1 --control fifo:/tmp/ctl,/tmp/ack --call-graph dwarf \
//!   -- target/release/deps/transfer-<hash> --rounds 1
//! ```
//! (release builds have no frame pointers, so `-g` alone gives broken stacks).

use lanchat::files::fetch::{self as transfer, Peer};
use lanchat::files::{FileService, FileStore, PieceHashes};
use lanchat::net::host::{HostConfig, RoomHost};
use lanchat::net::identity::Identity;
use lanchat::net::limits::Limits;
use lanchat::net::link::{self, Expect, LinkReader, LinkWriter, Timeouts};
use lanchat::protocol::{APP_VERSION, FileRef, Frame, Hello, RoomId};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Block size of the raw copies and of the generated file's writes.
const BLOCK: usize = 1 << 20;
/// Blocks the raw file copy lets its reader run ahead of the socket (and its writer behind).
const RAW_QUEUE: usize = 4;
/// Interval between chat messages (from the two members in turn).
const CHAT_INTERVAL: Duration = Duration::from_millis(10);
/// Length of the idle chat baseline per round.
const IDLE_TIME: Duration = Duration::from_secs(2);
/// Chat text length (bytes), a typical short chat line.
const TEXT_LEN: usize = 80;
/// Chat members in the room.
const CHAT_MEMBERS: usize = 2;
/// What the memory warm-up writes beyond the size of the file about to be copied.
const WARM_SLACK: u64 = 128 << 20;

/// Goals printed beside the figures.
const GOAL_MBPS: f64 = 1000.0;
const GOAL_RATIO: f64 = 0.50;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the bench's epoch: one monotonic clock shared by senders and receivers.
fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn localhost() -> std::net::IpAddr {
    Ipv4Addr::LOCALHOST.into()
}

// ---------------------------------------------------------------------------------------------
// The work folder and the file
// ---------------------------------------------------------------------------------------------

/// The file system type of the mount holding `path` (longest matching mount point).
fn fs_type(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut best: Option<(usize, String)> = None;
    for line in mounts.lines() {
        let mut it = line.split_whitespace();
        let (_, Some(point), Some(kind)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if path.starts_with(point) && best.as_ref().is_none_or(|(len, _)| point.len() > *len) {
            best = Some((point.len(), kind.to_owned()));
        }
    }
    best.map_or_else(|| "unknown".into(), |(_, kind)| kind)
}

/// A tempdir on /dev/shm when it is a tmpfs with room for the copies, else the system's.
fn work_dir(size: u64) -> (tempfile::TempDir, String) {
    let shm = Path::new("/dev/shm");
    // The source, the host's copy, the download and the raw copy, with some slack.
    let need = 4 * size + (256 << 20);
    if shm.is_dir()
        && fs_type(shm) == "tmpfs"
        && lanchat::files::disk::free_space(shm).is_ok_and(|free| free >= need)
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("lanchat-transfer-bench-")
            .tempdir_in(shm)
    {
        return (dir, "/dev/shm (tmpfs)".into());
    }
    let dir = tempfile::Builder::new()
        .prefix("lanchat-transfer-bench-")
        .tempdir()
        .expect("tempdir");
    let kind = fs_type(dir.path());
    let what = format!("{} ({kind}; /dev/shm unusable)", dir.path().display());
    (dir, what)
}

/// Fills `buf` with splitmix64 output.
fn fill_random(state: &mut u64, buf: &mut [u8]) {
    for word in buf.chunks_exact_mut(8) {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
}

fn write_random_file(path: &Path, size: u64) {
    let mut file = std::fs::File::create(path).expect("create source");
    let mut state = now_ns() ^ 0x5EED;
    let mut buf = vec![0u8; BLOCK];
    let mut left = size;
    while left > 0 {
        let n = (left as usize).min(BLOCK);
        fill_random(&mut state, &mut buf[..n]);
        file.write_all(&buf[..n]).expect("write source");
        left -= n as u64;
    }
}

/// Writes and removes `size` bytes in `dir`, so that the next copy's new file lands on memory
/// the VM has just touched (see the top of the file). Returns the write rate in MB/s: low
/// figures mean the memory was cold.
fn warm_memory(dir: &Path, size: u64) -> f64 {
    let path = dir.join("ballast.bin");
    let start = Instant::now();
    let mut file = std::fs::File::create(&path).expect("create ballast");
    let block = vec![0x55u8; BLOCK];
    let mut left = size;
    while left > 0 {
        let n = (left as usize).min(BLOCK);
        file.write_all(&block[..n]).expect("write ballast");
        left -= n as u64;
    }
    drop(file);
    let rate = mbps(size, start.elapsed());
    std::fs::remove_file(&path).expect("remove ballast");
    rate
}

/// Plain single-threaded blake3 of a file.
fn blake3_file(path: &Path) -> [u8; 32] {
    let file = std::fs::File::open(path).expect("open for blake3");
    *blake3::Hasher::new()
        .update_reader(file)
        .expect("read for blake3")
        .finalize()
        .as_bytes()
}

// ---------------------------------------------------------------------------------------------
// Raw TCP copies (baseline)
// ---------------------------------------------------------------------------------------------

/// Receives everything on one connection, into a file (1 MiB blocks written on the blocking
/// pool, up to RAW_QUEUE queued, then synced) or into nothing. Returns the bytes and when the
/// last one was stored.
async fn raw_receive(listener: TcpListener, dest: Option<PathBuf>) -> (u64, Instant) {
    let (mut sock, _) = listener.accept().await.expect("raw accept");
    let mut total = 0u64;
    match dest {
        None => {
            let mut buf = vec![0u8; BLOCK];
            loop {
                let n = sock.read(&mut buf).await.expect("raw read");
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
        }
        Some(path) => {
            let (tx, mut rx) = mpsc::channel::<Vec<u8>>(RAW_QUEUE);
            let writer = tokio::task::spawn_blocking(move || {
                let mut file = std::fs::File::create(path).expect("raw create");
                while let Some(block) = rx.blocking_recv() {
                    file.write_all(&block).expect("raw write");
                }
                file.sync_all().expect("raw sync");
            });
            loop {
                let mut block = vec![0u8; BLOCK];
                let mut filled = 0;
                while filled < BLOCK {
                    let n = sock.read(&mut block[filled..]).await.expect("raw read");
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                total += filled as u64;
                if filled == 0 {
                    break;
                }
                block.truncate(filled);
                let last = filled < BLOCK;
                tx.send(block).await.expect("raw writer gone");
                if last {
                    break;
                }
            }
            drop(tx);
            writer.await.expect("raw writer");
        }
    }
    (total, Instant::now())
}

/// Sends a file (read ahead in 1 MiB blocks on the blocking pool) or `size` bytes of one
/// buffer.
async fn raw_send(addr: SocketAddr, source: Option<PathBuf>, size: u64) {
    let mut sock = TcpStream::connect(addr).await.expect("raw connect");
    match source {
        None => {
            let mut buf = vec![0u8; BLOCK];
            fill_random(&mut 7, &mut buf);
            let mut left = size;
            while left > 0 {
                let n = (left as usize).min(BLOCK);
                sock.write_all(&buf[..n]).await.expect("raw write");
                left -= n as u64;
            }
        }
        Some(path) => {
            let (tx, mut rx) = mpsc::channel::<Vec<u8>>(RAW_QUEUE);
            let reader = tokio::task::spawn_blocking(move || {
                let mut file = std::fs::File::open(path).expect("raw open");
                loop {
                    let mut block = vec![0u8; BLOCK];
                    let mut filled = 0;
                    while filled < BLOCK {
                        let n = file.read(&mut block[filled..]).expect("raw file read");
                        if n == 0 {
                            break;
                        }
                        filled += n;
                    }
                    if filled == 0 {
                        break;
                    }
                    block.truncate(filled);
                    if tx.blocking_send(block).is_err() {
                        break;
                    }
                }
            });
            while let Some(block) = rx.recv().await {
                sock.write_all(&block).await.expect("raw write");
            }
            reader.await.expect("raw reader");
        }
    }
    sock.shutdown().await.expect("raw shutdown");
}

/// One raw copy: receiver on the host runtime, sender on the transfer runtime. MB/s.
fn raw_copy(
    host_rt: &Runtime,
    xfer_rt: &Runtime,
    source: Option<&Path>,
    dest: Option<&Path>,
    size: u64,
) -> f64 {
    let listener = host_rt
        .block_on(TcpListener::bind((localhost(), 0)))
        .expect("raw bind");
    let addr = listener.local_addr().unwrap();
    let start = Instant::now();
    let receiver = host_rt.spawn(raw_receive(listener, dest.map(Path::to_path_buf)));
    let sender = xfer_rt.spawn(raw_send(addr, source.map(Path::to_path_buf), size));
    let (got, end) = host_rt.block_on(receiver).expect("raw receiver");
    xfer_rt.block_on(sender).expect("raw sender");
    assert_eq!(got, size, "raw copy lost bytes");
    if let Some(dest) = dest {
        assert_eq!(std::fs::metadata(dest).unwrap().len(), size);
        std::fs::remove_file(dest).expect("remove raw copy");
    }
    mbps(size, end - start)
}

// ---------------------------------------------------------------------------------------------
// Chat members
// ---------------------------------------------------------------------------------------------

/// What the room is doing when a message is sent; receipts are filed by it.
const BETWEEN: u8 = 0;
const IDLE: u8 = 1;
const UPLOAD: u8 = 2;
const DOWNLOAD: u8 = 3;
const RAW: u8 = 4;
const PHASES: [(u8, &str); 4] = [
    (IDLE, "no transfer"),
    (RAW, "raw file copy"),
    (UPLOAD, "during upload"),
    (DOWNLOAD, "during download"),
];

#[derive(Default)]
struct ChatShared {
    phase: AtomicU8,
    /// Messages posted per phase.
    sent: [AtomicU64; 5],
    /// MemberLeft frames seen (the host dropped a member), or a post that could not be sent.
    troubles: AtomicU64,
    /// (phase, latency ns, received by its sender).
    receipts: Mutex<Vec<(u8, u64, bool)>>,
}

fn stamp(sender: usize, seq: u64, phase: u8) -> String {
    let mut s = format!("{sender}|{seq}|{phase}|{}|", now_ns());
    while s.len() < TEXT_LEN {
        s.push('x');
    }
    s
}

fn parse_stamp(text: &str) -> Option<(usize, u8, u64)> {
    let mut it = text.split('|');
    let sender = it.next()?.parse().ok()?;
    let _seq: u64 = it.next()?.parse().ok()?;
    let phase = it.next()?.parse().ok()?;
    let sent = it.next()?.parse().ok()?;
    Some((sender, phase, sent))
}

async fn chat_read(me: usize, mut stream: LinkReader, shared: Arc<ChatShared>) {
    let mut local = Vec::new();
    while let Some(frame) = stream.recv().await {
        let now = now_ns();
        match frame {
            Ok(Frame::Message(m)) => {
                if let Some((sender, phase, sent)) = parse_stamp(&m.text) {
                    local.push((phase, now.saturating_sub(sent), sender == me));
                }
            }
            // The host drops members too slow to keep up; its closing at the end is expected.
            Ok(Frame::MemberLeft(_)) => {
                shared.troubles.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    shared.receipts.lock().unwrap().extend(local);
}

/// Joins the room as `identity` over an encrypted link, as the app does.
async fn chat_connect(
    addr: SocketAddr,
    room: &RoomId,
    identity: &Identity,
    name: String,
) -> (LinkReader, LinkWriter) {
    let timeouts = Timeouts::default();
    let mut conn = link::dial(&[addr], identity, Expect::Anyone, &timeouts)
        .await
        .expect("chat connect");
    conn.writer
        .send(Frame::Hello(Hello {
            passing: false,
            app: APP_VERSION.into(),
            name,
            room: room.clone(),
            since: None,
            epoch: None,
            resume: now_ns(),
            password: None,
        }))
        .await
        .expect("hello");
    match conn.reader.recv().await {
        Some(Ok(Frame::Welcome(_))) => (conn.reader, conn.writer),
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// Keeps `identity` in the room (files are for members) until the connection ends.
async fn stay_in(addr: SocketAddr, room: &RoomId, identity: &Identity) {
    let (mut reader, mut writer) = chat_connect(addr, room, identity, "uploader".into()).await;
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                frame = reader.recv() => if !matches!(frame, Some(Ok(_))) { return },
                _ = ping.tick() => if writer.send(Frame::Ping).await.is_err() { return },
            }
        }
    });
}

/// The room's chat: members that post in turn every CHAT_INTERVAL until stopped.
struct Chat {
    stop: CancellationToken,
    poster: tokio::task::JoinHandle<()>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Chat {
    async fn start(addr: SocketAddr, room: RoomId, shared: Arc<ChatShared>) -> Chat {
        let mut sinks = Vec::new();
        let mut readers = Vec::new();
        for me in 0..CHAT_MEMBERS {
            let identity = Identity::generate();
            let (stream, sink) =
                chat_connect(addr, &room, &identity, format!("chatter {me}")).await;
            sinks.push(sink);
            readers.push(tokio::spawn(chat_read(me, stream, shared.clone())));
        }
        let stop = CancellationToken::new();
        let (poster_stop, poster_shared) = (stop.clone(), shared.clone());
        let poster = tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHAT_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seq = 0u64;
            loop {
                tokio::select! {
                    _ = poster_stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                seq += 1;
                let i = seq as usize % sinks.len();
                let phase = poster_shared.phase.load(Ordering::SeqCst);
                let text = stamp(i, seq, phase);
                if sinks[i].send(Frame::Post { seq, text }).await.is_err() {
                    poster_shared.troubles.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                poster_shared.sent[phase as usize].fetch_add(1, Ordering::Relaxed);
            }
            // Dropping the sinks here would close the write halves; keep them until the host
            // closes so late receipts still arrive.
            poster_stop.cancelled().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(sinks);
        });
        Chat {
            stop,
            poster,
            readers,
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1e6
}

// ---------------------------------------------------------------------------------------------
// One round
// ---------------------------------------------------------------------------------------------

/// Turns `perf record --control` on or off around one phase, when PERF_PHASE names it
/// (see the top of the file).
fn perf_control(phase: &str, enable: bool) {
    if std::env::var("PERF_PHASE").ok().as_deref() != Some(phase) {
        return;
    }
    let (Ok(ctl), Ok(ack)) = (
        std::env::var("PERF_CTL_FIFO"),
        std::env::var("PERF_ACK_FIFO"),
    ) else {
        return;
    };
    let command = if enable { "enable\n" } else { "disable\n" };
    std::fs::OpenOptions::new()
        .write(true)
        .open(ctl)
        .and_then(|mut f| f.write_all(command.as_bytes()))
        .expect("write the perf control fifo");
    let mut reply = [0u8; 5];
    std::fs::File::open(ack)
        .and_then(|mut f| f.read(&mut reply))
        .expect("read the perf ack fifo");
}

/// Clock ticks from /proc: (busy on all CPUs, total on all CPUs, stolen, this process).
fn cpu_ticks() -> Option<(u64, u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let [user, nice, system, idle, iowait, irq, softirq, steal] = cpu[..] else {
        return None;
    };
    let me = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<u64> = me
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let busy = user + nice + system + irq + softirq;
    Some((
        busy,
        busy + idle + iowait + steal,
        steal,
        fields.get(11)? + fields.get(12)?,
    ))
}

/// The share of the machine (all CPUs) that other processes used, and that the hypervisor
/// stole, between two `cpu_ticks` readings, in %.
fn noise(before: Option<(u64, u64, u64, u64)>, after: Option<(u64, u64, u64, u64)>) -> (f64, f64) {
    let (Some(b), Some(a)) = (before, after) else {
        return (f64::NAN, f64::NAN);
    };
    let total = (a.1 - b.1).max(1) as f64;
    let others = (a.0 - b.0).saturating_sub(a.3 - b.3) as f64;
    (100.0 * others / total, 100.0 * (a.2 - b.2) as f64 / total)
}

struct Round {
    /// The slowest memory warm-up of the round (MB/s).
    warm: f64,
    /// CPU used by other processes during the round, and stolen (% of the machine).
    others: f64,
    steal: f64,
    raw_mem: f64,
    raw_file: f64,
    hash: f64,
    blake3: f64,
    upload: f64,
    download: f64,
    verified: bool,
}

fn run_round(
    rts: &Runtimes,
    work: &Path,
    source: &Path,
    size: u64,
    original: [u8; 32],
    chat: &Arc<ChatShared>,
) -> Round {
    let ticks = cpu_ticks();
    // What a sender does before offering a file, and plain blake3 for reference.
    let start = Instant::now();
    let file = std::fs::File::open(source).expect("open source");
    let hashes = PieceHashes::compute(file, size).expect("piece hashes");
    let hash = mbps(size, start.elapsed());
    let start = Instant::now();
    let plain = blake3_file(source);
    let blake3 = mbps(size, start.elapsed());
    assert_eq!(
        hashes.root(),
        plain,
        "piece hashes' root is not the file's blake3"
    );
    assert_eq!(plain, original, "the source file changed");

    // A real room, bound to loopback only, keeping files in the work folder.
    let room_dir = work.join("room");
    let room = RoomId::random();
    let host_identity = Identity::generate();
    // The chat posts far faster than a person would, to measure latency finely.
    let mut config = HostConfig {
        bind: Some(localhost()),
        limits: Limits::unmetered(),
        ..HostConfig::new(
            room.clone(),
            "bench".into(),
            "bench host".into(),
            host_identity.clone(),
            room_dir.clone(),
        )
    };
    FileService::register(
        &mut config,
        FileStore::new(room_dir.join("files"), u64::MAX),
    );
    let host = rts
        .host
        .block_on(RoomHost::start(config))
        .expect("start host");
    let addr = SocketAddr::new(localhost(), host.port);
    let chatters = rts
        .chat
        .block_on(Chat::start(addr, room.clone(), chat.clone()));

    // Idle chat baseline.
    chat.phase.store(IDLE, Ordering::SeqCst);
    std::thread::sleep(IDLE_TIME);
    chat.phase.store(BETWEEN, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));

    // The raw copies, while the chat goes on: the file copy loads the machine as a transfer
    // would, without lanchat's transfer code.
    let raw_mem = raw_copy(&rts.host, &rts.xfer, None, None, size);
    let raw_dest = work.join("raw-copy.bin");
    let mut warm = vec![warm_memory(work, size + WARM_SLACK)];
    chat.phase.store(RAW, Ordering::SeqCst);
    let raw_file = raw_copy(&rts.host, &rts.xfer, Some(source), Some(&raw_dest), size);
    chat.phase.store(BETWEEN, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));

    let uploader = Identity::generate();
    rts.xfer.block_on(stay_in(addr, &room, &uploader));
    let peer = Peer {
        addrs: vec![addr],
        room,
        host: host_identity.public(),
        identity: uploader,
        timeouts: Timeouts::default(),
    };
    let hashes = Arc::new(hashes);

    // Upload: sender → host's verified, kept copy.
    warm.push(warm_memory(work, size + WARM_SLACK));
    chat.phase.store(UPLOAD, Ordering::SeqCst);
    perf_control("upload", true);
    let start = Instant::now();
    let (p, s, h) = (peer.clone(), source.to_path_buf(), hashes.clone());
    let uploaded = rts.xfer.block_on(rts.xfer.spawn(async move {
        let (progress, _) = watch::channel(0);
        transfer::upload(&p, &s, &h, &progress, &CancellationToken::new()).await
    }));
    let upload_time = start.elapsed();
    perf_control("upload", false);
    chat.phase.store(BETWEEN, Ordering::SeqCst);
    let (file_ref, _id): (FileRef, u64) = uploaded.expect("upload task").expect("upload");
    assert_eq!(file_ref.size, size);
    std::thread::sleep(Duration::from_millis(100));

    // Download: host → receiver's verified file.
    warm.push(warm_memory(work, size + WARM_SLACK));
    let downloads = work.join("downloads");
    chat.phase.store(DOWNLOAD, Ordering::SeqCst);
    perf_control("download", true);
    let start = Instant::now();
    let (p, f, d) = (peer.clone(), file_ref.clone(), downloads.clone());
    let downloaded = rts.xfer.block_on(rts.xfer.spawn(async move {
        let (progress, _) = watch::channel(0);
        transfer::download(&p, &f, &d, &progress, &CancellationToken::new()).await
    }));
    let download_time = start.elapsed();
    perf_control("download", false);
    chat.phase.store(BETWEEN, Ordering::SeqCst);
    let saved = downloaded.expect("download task").expect("download");
    let verified = blake3_file(&saved) == original;

    // Tear down: stop posting, let the last receipts arrive, close the room.
    chatters.stop.cancel();
    rts.chat.block_on(chatters.poster).expect("poster");
    rts.host
        .block_on(host.close(lanchat::protocol::CloseCode::Closed, Duration::from_secs(2)));
    for reader in chatters.readers {
        let _ = rts
            .chat
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), reader).await });
    }
    std::fs::remove_dir_all(&downloads).expect("remove downloads");
    std::fs::remove_dir_all(&room_dir).expect("remove room");

    let (others, steal) = noise(ticks, cpu_ticks());
    Round {
        warm: warm.iter().copied().fold(f64::INFINITY, f64::min),
        others,
        steal,
        raw_mem,
        raw_file,
        hash,
        blake3,
        upload: mbps(size, upload_time),
        download: mbps(size, download_time),
        verified,
    }
}

struct Runtimes {
    host: Runtime,
    xfer: Runtime,
    chat: Runtime,
}

fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|r| r.parse::<u64>().ok())
    };
    let rounds = arg("--rounds").unwrap_or(3).max(1) as usize;
    let size = arg("--mib").unwrap_or(1024).max(1) << 20;
    now_ns();
    let rts = Runtimes {
        host: runtime("host"),
        xfer: runtime("transfer"),
        chat: runtime("chat"),
    };

    let (work, where_) = work_dir(size);
    let source = work.path().join("source.bin");
    let start = Instant::now();
    write_random_file(&source, size);
    let written = start.elapsed();
    let original = blake3_file(&source);

    println!(
        "transfer: {} MiB ({:.1} MB) of pseudo-random bytes on loopback, {rounds} round(s); MB = 10^6 bytes",
        size >> 20,
        size as f64 / 1e6
    );
    println!(
        "          files in {where_}; source written at {:.0} MB/s; {} CPUs",
        mbps(size, written),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "          host, transfer member and chat members each on a 2-worker runtime; chat: {CHAT_MEMBERS} members, one post every {CHAT_INTERVAL:?} in turn"
    );

    let chat = Arc::new(ChatShared::default());
    let mut all = Vec::new();
    for round in 0..rounds {
        eprintln!("round {} …", round + 1);
        all.push(run_round(&rts, work.path(), &source, size, original, &chat));
    }

    println!();
    println!(
        "{:>5} | {:>12} | {:>13} | {:>13} | {:>12} | {:>11} | {:>13} | {:>8} | {:>8} | {:>7} | {:>9}",
        "round",
        "raw mem MB/s",
        "raw file MB/s",
        "hashing MB/s",
        "blake3 MB/s",
        "upload MB/s",
        "download MB/s",
        "verified",
        "others %",
        "steal %",
        "warm MB/s"
    );
    println!("{}", "-".repeat(144));
    for (i, r) in all.iter().enumerate() {
        println!(
            "{:>5} | {:>12.0} | {:>13.0} | {:>13.0} | {:>12.0} | {:>11.0} | {:>13.0} | {:>8} | {:>8.1} | {:>7.1} | {:>9.0}",
            i + 1,
            r.raw_mem,
            r.raw_file,
            r.hash,
            r.blake3,
            r.upload,
            r.download,
            if r.verified { "yes" } else { "NO" },
            r.others,
            r.steal,
            r.warm
        );
    }
    println!(
        "(others %: CPU time of other processes during the round, as a share of all CPUs; steal %: taken by the hypervisor;"
    );
    println!(
        " warm MB/s: the slowest of the round's memory warm-ups before the raw file copy, the upload and the download)"
    );

    let med = |get: &dyn Fn(&Round) -> f64| median(all.iter().map(get).collect());
    let (raw_mem, raw_file) = (med(&|r| r.raw_mem), med(&|r| r.raw_file));
    println!();
    println!(
        "medians over rounds; goals: ≥ {GOAL_MBPS:.0} MB/s and ≥ {:.0} % of the raw file copy",
        GOAL_RATIO * 100.0
    );
    println!(
        "{:<10} | {:>7} | {:>11} | {:>13} | {:>12} | {:>12}",
        "", "MB/s", "≥ 1 GB/s?", "/ raw file", "≥ 50 %?", "/ raw memory"
    );
    println!("{}", "-".repeat(80));
    let yes = |ok: bool| if ok { "yes" } else { "no" };
    println!(
        "{:<10} | {:>7.0} | {:>11} | {:>13} | {:>12} | {:>13}",
        "hashing",
        med(&|r| r.hash),
        yes(med(&|r| r.hash) >= GOAL_MBPS),
        "",
        "",
        ""
    );
    for (name, value) in [
        ("upload", med(&|r| r.upload)),
        ("download", med(&|r| r.download)),
    ] {
        let ratio = value / raw_file;
        println!(
            "{:<10} | {:>7.0} | {:>11} | {:>11.0} % | {:>12} | {:>11.0} %",
            name,
            value,
            yes(value >= GOAL_MBPS),
            100.0 * ratio,
            yes(ratio >= GOAL_RATIO),
            100.0 * value / raw_mem
        );
    }
    println!(
        "(raw file copy {raw_file:.0} MB/s, raw memory copy {raw_mem:.0} MB/s; all {} transfer(s) verified: {})",
        2 * all.len(),
        yes(all.iter().all(|r| r.verified))
    );

    println!();
    println!(
        "chat latency, all rounds (a receipt per member per message; own = back to its sender)"
    );
    println!(
        "{:<16} | {:>5} | {:>4} | {:>8} | {:>8} | {:>8} | {:>12} | {:>12}",
        "phase", "posts", "lost", "p50 ms", "p99 ms", "max ms", "own p99 ms", "other p99 ms"
    );
    println!("{}", "-".repeat(96));
    let receipts = chat.receipts.lock().unwrap();
    for (phase, name) in PHASES {
        let pick = |filter: &dyn Fn(bool) -> bool| {
            let mut v: Vec<u64> = receipts
                .iter()
                .filter(|&&(p, _, own)| p == phase && filter(own))
                .map(|&(_, l, _)| l)
                .collect();
            v.sort_unstable();
            v
        };
        let all_r = pick(&|_| true);
        let own = pick(&|own| own);
        let other = pick(&|own| !own);
        let posts = chat.sent[phase as usize].load(Ordering::SeqCst);
        let lost = (posts * CHAT_MEMBERS as u64).saturating_sub(all_r.len() as u64);
        println!(
            "{:<16} | {:>5} | {:>4} | {:>8.2} | {:>8.2} | {:>8.2} | {:>12.2} | {:>12.2}",
            name,
            posts,
            lost,
            percentile(&all_r, 0.5),
            percentile(&all_r, 0.99),
            percentile(&all_r, 1.0),
            percentile(&own, 0.99),
            percentile(&other, 0.99),
        );
    }
    println!(
        "(lost: receipts that never arrived; members dropped by the host or failed posts: {})",
        chat.troubles.load(Ordering::SeqCst)
    );
}
