//! Join benchmark: how long a member takes to get into a room on loopback — dial, the
//! version check, the Noise handshake (two X25519 key pairs' worth of work each side), the
//! hello and the welcome — against a plain TCP connect and one round trip measured in the
//! same run (the least any join could cost).
//!
//! Run it with `cargo bench --bench join` (add `-- --joins N`, 500 by default). Everything is
//! on loopback (127.0.0.1); no timing is asserted. The host runs on its own 2-worker runtime
//! as in the app, the joining members on another; each join is a new connection of the same
//! device, which then says goodbye, so the room stays small. An open room and a password room
//! (which adds a SPAKE2 exchange and one more round trip) are both measured.

use lanchat::net::host::{HostConfig, RoomHost};
use lanchat::net::identity::Identity;
use lanchat::net::link::{self, Expect, Timeouts};
use lanchat::net::password::{MemberExchange, RoomSecret};
use lanchat::protocol::{APP_VERSION, Frame, Hello, RoomId};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    format!(
        "p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

/// One join: dial, handshake, hello (with the password exchange if `secret`), welcome, bye.
async fn join(
    addr: SocketAddr,
    room: &RoomId,
    me: &Identity,
    resume: u64,
    secret: Option<&RoomSecret>,
) -> Duration {
    let timeouts = Timeouts::default();
    let start = Instant::now();
    let mut link = link::dial(&[addr], me, Expect::Anyone, &timeouts)
        .await
        .expect("dial");
    let (exchange, password) = match secret {
        Some(secret) => {
            let (exchange, message) = MemberExchange::start(secret, link.handshake_hash);
            (Some(exchange), Some(message))
        }
        None => (None, None),
    };
    let hello = Hello {
        passing: false,
        app: APP_VERSION.into(),
        name: "bench".into(),
        room: room.clone(),
        since: None,
        epoch: None,
        resume,
        password,
    };
    link.writer.send(Frame::Hello(hello)).await.expect("hello");
    let mut exchange = exchange;
    loop {
        match link.reader.next().await.expect("answer") {
            Frame::Welcome(_) => break,
            Frame::Spake { msg, proof } => {
                let proof = exchange
                    .take()
                    .unwrap()
                    .finish(&msg, &proof)
                    .expect("password");
                link.writer
                    .send(Frame::Proof { proof })
                    .await
                    .expect("proof");
            }
            other => panic!("expected welcome, got {other:?}"),
        }
    }
    let took = start.elapsed();
    let _ = link.writer.send(Frame::Bye).await;
    link.writer.close().await;
    took
}

/// The least a join could cost: a TCP connect and one round trip to an echo server.
async fn baseline(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    stream.write_all(b"x").await.unwrap();
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).await.unwrap();
    start.elapsed()
}

fn main() {
    let mut joins = 500usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--joins" {
            joins = args.next().and_then(|n| n.parse().ok()).expect("--joins N");
        }
    }
    let (host_rt, member_rt) = (runtime("host"), runtime("members"));
    let dir = tempfile::tempdir().unwrap();
    let room = RoomId::random();
    let secret = RoomSecret::derive(&room, "correct horse");
    let start_host = |password: Option<RoomSecret>, sub: &str| {
        let config = HostConfig {
            bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
            password,
            // Every join here is one device's, from one machine.
            limits: lanchat::net::limits::Limits::unmetered(),
            ..HostConfig::new(
                room.clone(),
                "bench".into(),
                "bench host".into(),
                Identity::generate(),
                dir.path().join(sub),
            )
        };
        host_rt.block_on(RoomHost::start(config)).expect("host")
    };
    let open = start_host(None, "open");
    let locked = start_host(Some(secret.clone()), "locked");
    let echo = host_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let mut buf = [0u8; 64];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    });
    let me = Identity::generate();
    let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let (open_addr, locked_addr) = (at(open.port), at(locked.port));
    println!("join: {joins} joins each, one after another, on loopback");
    let (mut plain, mut lanchat, mut password) = (Vec::new(), Vec::new(), Vec::new());
    member_rt.block_on(async {
        // Warm up the code paths and the host's tasks.
        for i in 0..20 {
            baseline(echo).await;
            join(open_addr, &room, &me, i, None).await;
        }
        for i in 0..joins as u64 {
            plain.push(baseline(echo).await);
            lanchat.push(join(open_addr, &room, &me, 1000 + i, None).await);
            password.push(join(locked_addr, &room, &me, 1000 + i, Some(&secret)).await);
            // Paced a little, so the host's goodbyes do not pile up behind the joins.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    println!(
        "  baseline (TCP connect + one round trip): {}",
        percentiles(plain)
    );
    println!(
        "  lanchat join, open room:                 {}",
        percentiles(lanchat)
    );
    println!(
        "  lanchat join, password room:             {}",
        percentiles(password)
    );
    println!("  goal: a join under 5 ms at p50");
    host_rt.block_on(open.close(lanchat::protocol::CloseCode::Closed, Duration::from_secs(2)));
    host_rt.block_on(locked.close(lanchat::protocol::CloseCode::Closed, Duration::from_secs(2)));
}
