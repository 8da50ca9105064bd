//! What members that do not play fair can make a host do, measured: a real `RoomHost` in a
//! process of its own (this bench run again as `--child-host`, so its memory is the host's
//! alone), and clients speaking the real protocol over lanchat's link, each from a loopback
//! address of its own (127.x.y.z) as members on a LAN would be. Each figure beside a baseline
//! from the same run:
//!
//! (a) memory: 100 members in a room where 500 messages of 60 KB are posted, 10 of them never
//!     reading — the host's peak and final resident memory, against the same room with every
//!     member reading. Posts and joins are not metered here (the memory budgets are the
//!     defaults), so the poster fills the room at once.
//! (b) joining while eight addresses hold eight silent connections each: how long a member
//!     from another address takes from connecting to its welcome, against the same join with
//!     no flood (10 joins each).
//! (c) posts accepted per second from one key with 40 sessions, each posting as fast as it
//!     can for 3 s, against one session of one key (default limits).
//!
//! Run it with `cargo bench --bench abuse`. Everything is on loopback; no timing is asserted.

use lanchat::net::host::{HostConfig, RoomHost};
use lanchat::net::identity::Identity;
use lanchat::net::limits::Limits;
use lanchat::net::link::{self, Expect, Link, Timeouts};
use lanchat::protocol::{APP_VERSION, Frame, Hello, RoomId};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn room() -> RoomId {
    RoomId::parse("ab05e0000001").unwrap()
}

fn identity(name: &str) -> Identity {
    Identity::from_secret(*blake3::hash(name.as_bytes()).as_bytes())
}

fn hello(name: &str, resume: u64) -> Hello {
    Hello {
        passing: false,
        app: APP_VERSION.into(),
        name: name.into(),
        room: room(),
        since: None,
        epoch: None,
        resume,
        password: None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child-host") {
        return child_host(args.get(i + 1).map(String::as_str) == Some("unmetered"));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("abuse: a real host in its own process, members on loopback addresses");
    rt.block_on(async {
        memory().await;
        joins_under_flood().await;
        posts_from_one_key().await;
    });
}

/// The host process: a room on 127.0.0.1, its port on stdout, until stdin closes.
fn child_host(unmetered: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let limits = match unmetered {
            true => Limits::unmetered(),
            false => Limits::default(),
        };
        let host = RoomHost::start(HostConfig {
            bind: Some(std::net::Ipv4Addr::UNSPECIFIED.into()),
            limits,
            ..HostConfig::new(
                room(),
                "Bench".into(),
                "Host".into(),
                identity("Host"),
                dir.path().to_path_buf(),
            )
        })
        .await
        .unwrap();
        println!("port {}", host.port);
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        })
        .await;
        host.close(lanchat::protocol::CloseCode::Closed, Duration::from_secs(2))
            .await;
    });
}

/// A host process and its port.
struct HostProcess {
    child: Child,
    port: u16,
}

impl HostProcess {
    fn start(unmetered: bool) -> HostProcess {
        let me = std::env::current_exe().unwrap();
        let mut cmd = std::process::Command::new(me);
        cmd.arg("--child-host");
        if unmetered {
            cmd.arg("unmetered");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().strip_prefix("port ").unwrap().parse().unwrap();
        HostProcess { child, port }
    }

    /// Resident and peak resident memory, in MB.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A link to the host at `port` from loopback address `from`, as `name`; `small`: a tiny
/// receive buffer, for a member that will not read.
async fn connect(from: [u8; 4], port: u16, name: &str, small: bool) -> Link {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if small {
        socket.set_recv_buffer_size(4096).unwrap();
    }
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let stream = socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap();
    // As lanchat's own dialling does: no waiting to fill a packet.
    stream.set_nodelay(true).unwrap();
    link::connect(
        stream,
        &identity(name),
        Expect::Anyone,
        &Timeouts::default(),
    )
    .await
    .unwrap()
}

/// Joins and waits for the welcome.
async fn join(mut link: Link, name: &str, resume: u64) -> Option<Link> {
    link.writer
        .send(Frame::Hello(hello(name, resume)))
        .await
        .ok()?;
    match link.reader.next_within(Duration::from_secs(10)).await {
        Ok(Frame::Welcome(_)) => Some(link),
        _ => None,
    }
}

/// (a) host memory with members that stop reading, in a room of large messages.
async fn memory() {
    const MEMBERS: usize = 100;
    const STUCK: usize = 10;
    const POSTS: u64 = 500;
    println!();
    println!(
        "(a) {MEMBERS} members, {POSTS} messages of 60 KB posted; host memory, MB (resident now / peak)"
    );
    for stuck in [0, STUCK] {
        let host = HostProcess::start(true);
        let idle = host.memory();
        let mut readers = Vec::new();
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let mut keep = Vec::new();
        for m in 0..MEMBERS - 1 {
            let from = [127, 0, 10 + (m / 200) as u8, 1 + (m % 200) as u8];
            let name = format!("member{m}");
            let never_reads = m < stuck;
            let link = connect(from, host.port, &name, never_reads).await;
            let Some(link) = join(link, &name, 1).await else {
                println!("  {name} was not let in");
                continue;
            };
            if never_reads {
                keep.push(link);
                continue;
            }
            let seen = seen_tx.clone();
            readers.push(tokio::spawn(async move {
                let Link {
                    mut reader, writer, ..
                } = link;
                let mut got = 0;
                while let Some(Ok(frame)) = reader.recv().await {
                    if matches!(frame, Frame::Message(_)) {
                        got += 1;
                        if got == POSTS {
                            let _ = seen.send(());
                        }
                    }
                }
                drop(writer);
            }));
        }
        let joined = host.memory();
        let poster = connect([127, 0, 11, 1], host.port, "poster", false).await;
        let Some(mut poster) = join(poster, "poster", 1).await else {
            println!("  the poster was not let in");
            return;
        };
        let text = "x".repeat(60 * 1024);
        let started = Instant::now();
        let mut accepted = 0;
        let mut sent = 0;
        while accepted < POSTS {
            while sent < POSTS && sent - accepted < 32 {
                poster
                    .writer
                    .send(Frame::Post {
                        seq: sent,
                        text: text.clone(),
                    })
                    .await
                    .unwrap();
                sent += 1;
            }
            match poster.reader.recv().await {
                Some(Ok(Frame::Accepted { .. })) => accepted += 1,
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        let readers_done = tokio::time::timeout(Duration::from_secs(60), async {
            for _ in 0..readers.len() {
                seen.recv().await;
            }
        })
        .await
        .is_ok();
        let took = started.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = host.memory();
        println!(
            "  {} stuck: idle {:.0} / {:.0}; {} joined {:.0} / {:.0}; after the posts {:.0} / {:.0}   ({} readers got all {POSTS} in {:.1} s{})",
            stuck,
            idle.0,
            idle.1,
            MEMBERS,
            joined.0,
            joined.1,
            after.0,
            after.1,
            readers.len(),
            took.as_secs_f64(),
            if readers_done { "" } else { ", NOT ALL" }
        );
        drop(keep);
        for r in readers {
            r.abort();
        }
        host.stop();
    }
    println!("  goal: bounded by the budgets, ≤ 300 MB with 10 stuck");
}

/// (b) a member's join while eight addresses hold eight silent connections each.
async fn joins_under_flood() {
    println!();
    println!("(b) join time, connect → welcome, ms (p50 / max of 10)");
    let host = HostProcess::start(false);
    let times = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        format!("{:.1} / {:.1}", v[v.len() / 2], v[v.len() - 1])
    };
    let mut quiet = Vec::new();
    for i in 0..10u8 {
        let started = Instant::now();
        let link = connect([127, 0, 12, 1 + i], host.port, &format!("quiet{i}"), false).await;
        if join(link, &format!("quiet{i}"), 1).await.is_some() {
            quiet.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    let mut silent = Vec::new();
    for a in 0..8u8 {
        for _ in 0..8 {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket
                .bind(SocketAddr::from(([127, 0, 13, 1 + a], 0)))
                .unwrap();
            if let Ok(s) = socket
                .connect(SocketAddr::from(([127, 0, 0, 1], host.port)))
                .await
            {
                silent.push(s);
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut flooded = Vec::new();
    for i in 0..10u8 {
        let started = Instant::now();
        let link = connect([127, 0, 14, 1 + i], host.port, &format!("member{i}"), false).await;
        if join(link, &format!("member{i}"), 1).await.is_some() {
            flooded.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!(
        "  no flood: {}   ({} of 10 let in)",
        times(&mut quiet),
        quiet.len()
    );
    println!(
        "  beside {} silent connections from 8 addresses: {}   ({} of 10 let in; goal < 2000)",
        silent.len(),
        if flooded.is_empty() {
            "none".to_owned()
        } else {
            times(&mut flooded)
        },
        flooded.len()
    );
    drop(silent);
    host.stop();
}

/// (c) posts accepted per second from one key, with one session and with forty.
async fn posts_from_one_key() {
    println!();
    println!("(c) posts accepted per second from one key, posting as fast as it can for 3 s");
    for sessions in [1usize, 40] {
        let host = HostProcess::start(false);
        let mut links = Vec::new();
        for s in 0..sessions {
            let link = connect([127, 0, 15, 1], host.port, "mallory", false).await;
            if let Some(link) = join(link, "mallory", 1 + s as u64).await {
                links.push(link);
            }
        }
        let admitted = links.len();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (s, link) in links.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                let Link {
                    mut reader,
                    mut writer,
                    ..
                } = link;
                let counting = tokio::spawn(async move {
                    let mut accepted = 0u64;
                    let until = tokio::time::Instant::now() + Duration::from_secs(3);
                    while let Ok(Some(Ok(frame))) =
                        tokio::time::timeout_at(until, reader.recv()).await
                    {
                        accepted += u64::from(matches!(frame, Frame::Accepted { .. }));
                    }
                    accepted
                });
                let until = Instant::now() + Duration::from_secs(3);
                let mut seq = (s as u64) << 32;
                while Instant::now() < until {
                    let post = Frame::Post {
                        seq,
                        text: "flood".into(),
                    };
                    if writer.send(post).await.is_err() {
                        break;
                    }
                    seq += 1;
                    tokio::task::yield_now().await;
                }
                counting.await.unwrap_or(0)
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            accepted += t.await.unwrap_or(0);
        }
        let secs = started.elapsed().as_secs_f64().max(3.0);
        println!(
            "  {sessions} session(s) asked, {admitted} let in: {:.1} posts/s accepted",
            accepted as f64 / secs
        );
        host.stop();
    }
    let limits = Limits::default();
    println!(
        "  goal: one member's allowance, {} at once then {} a second ({:.1}/s over 3 s)",
        limits.posts.burst,
        limits.posts.per_second,
        (limits.posts.burst + 3.0 * limits.posts.per_second) / 3.0
    );
}
