//! A member that does not play fair, built on lanchat's own library, against a real host on
//! loopback: each test tries to break one thing SECURITY.md says a host holds against the
//! people in its room ("A dishonest member"), and would have broken it before issue 23.
//! Loopback addresses 127.x.y.z stand for other machines.

#[path = "support/client.rs"]
mod client;

use client::{Client, DEADLINE, identity, join_on, join_with, next, post};
use lanchat::net::host::{HostConfig, RoomHost};
use lanchat::net::limits::{Limits, Rate};
use lanchat::net::link::{self, Expect, Timeouts};
use lanchat::net::password::{MemberExchange, RoomSecret};
use lanchat::protocol::*;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

fn room() -> RoomId {
    RoomId::parse("d15b0e5700000001").unwrap()
}

fn hello(name: &str) -> Hello {
    Hello {
        passing: false,
        app: APP_VERSION.into(),
        name: name.into(),
        room: room(),
        since: None,
        epoch: None,
        resume: 1,
        password: None,
    }
}

/// A rate that never refills: what is spent of its burst stays spent, so a test counts
/// exactly what a flood got.
fn only(burst: f64) -> Rate {
    Rate {
        per_second: 0.0,
        burst,
    }
}

async fn host(dir: &Path, limits: Limits) -> RoomHost {
    host_with(dir, limits, None).await
}

async fn host_with(dir: &Path, limits: Limits, password: Option<RoomSecret>) -> RoomHost {
    RoomHost::start(HostConfig {
        bind: Some(std::net::Ipv4Addr::UNSPECIFIED.into()),
        limits,
        password,
        ..HostConfig::new(
            room(),
            "Lab".into(),
            "Ada".into(),
            identity("Ada"),
            dir.to_path_buf(),
        )
    })
    .await
    .expect("host starts")
}

/// A link to the host from loopback address `from`, as the device called `name`.
async fn connect_from(from: [u8; 4], host: &RoomHost, name: &str) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let stream = socket
        .connect(SocketAddr::from(([127, 0, 0, 1], host.port)))
        .await
        .unwrap();
    let link = link::connect(
        stream,
        &identity(name),
        Expect::Anyone,
        &Timeouts::default(),
    )
    .await
    .expect("the link opens");
    Client {
        reader: link.reader,
        writer: link.writer,
        host_key: link.remote,
        handshake_hash: link.handshake_hash,
        tap: None,
    }
}

/// Sends `hello` and returns the host's first answer: a welcome, or what turned it away.
async fn knock(conn: &mut Client, hello: Hello) -> Frame {
    conn.send(Frame::Hello(hello)).await.unwrap();
    next(conn).await
}

/// Waits until everything `conn` sent before has been through the room (its pong comes
/// after them), skipping what it is told meanwhile.
async fn barrier(conn: &mut Client) {
    conn.send(Frame::Ping).await.unwrap();
    while !matches!(next(conn).await, Frame::Pong) {}
}

/// How many of the room's newest messages `from` sent, as a newcomer sees them.
async fn stored_from(host: &RoomHost, from: &str) -> usize {
    let (_, _, history) =
        join_with(SocketAddr::from(([127, 0, 0, 1], host.port)), hello("Nia")).await;
    history.iter().filter(|m| m.from == from).count()
}

/// One key cannot multiply its allowance: more sessions are turned away, the ones it has
/// share one allowance, and leaving and joining again refills nothing (the attack
/// had 1,360 posts accepted in one second from 40 sessions of one key).
#[tokio::test]
async fn one_key_with_many_sessions_or_reconnects_gets_one_allowance() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        posts: only(30.0),
        machine_posts: only(1000.0),
        joins: only(6.0),
        ..Limits::default()
    };
    let host = host(dir.path(), limits).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], host.port));
    let mut sessions = Vec::new();
    for resume in 1..=10u64 {
        let mut conn = Client::connect(addr, &identity("Mallory")).await;
        match knock(
            &mut conn,
            Hello {
                resume,
                ..hello("Mallory")
            },
        )
        .await
        {
            Frame::Welcome(_) => sessions.push(conn),
            Frame::Refused(Refusal {
                code: RefuseCode::Sessions,
                ..
            }) => {}
            other => panic!("session {resume}: {other:?}"),
        }
    }
    assert_eq!(
        sessions.len(),
        limits.sessions_per_key,
        "sessions of one key are capped"
    );
    for (i, conn) in sessions.iter_mut().enumerate() {
        for n in 0..40u64 {
            let text = format!("flood {i}.{n}");
            conn.feed(Frame::Post {
                seq: i as u64 * 100 + n,
                text,
            })
            .await
            .unwrap();
        }
        conn.flush().await.unwrap();
    }
    for conn in &mut sessions {
        barrier(conn).await;
        conn.send(Frame::Bye).await.unwrap();
        client::closed(conn).await;
    }
    // It leaves and comes back, again and again: no new allowance, and soon no new joins.
    let mut turned_away = false;
    for resume in 100..110u64 {
        let mut conn = Client::connect(addr, &identity("Mallory")).await;
        match knock(
            &mut conn,
            Hello {
                resume,
                ..hello("Mallory")
            },
        )
        .await
        {
            Frame::Welcome(_) => {
                conn.send(Frame::Post {
                    seq: resume * 1000,
                    text: "again".into(),
                })
                .await
                .unwrap();
                barrier(&mut conn).await;
                conn.send(Frame::Bye).await.unwrap();
                client::closed(&mut conn).await;
            }
            Frame::TryLater { .. } => turned_away = true,
            Frame::Refused(Refusal {
                code: RefuseCode::Sessions,
                ..
            }) => {}
            other => panic!("rejoin: {other:?}"),
        }
    }
    assert!(turned_away, "joining without end is turned away");
    assert_eq!(
        stored_from(&host, "Mallory").await,
        30,
        "one key, one allowance"
    );
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Keys made up on one machine share that machine's allowance.
#[tokio::test]
async fn keys_made_up_on_one_machine_share_its_allowance() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        posts: only(30.0),
        machine_posts: only(45.0),
        ..Limits::default()
    };
    let host = host(dir.path(), limits).await;
    for k in 0..6 {
        let name = format!("Mal{k}");
        let conn = connect_from([127, 0, 3, 1], &host, &name).await;
        let (mut conn, _, _) = join_on(conn, hello(&name)).await;
        for n in 0..30u64 {
            conn.feed(Frame::Post {
                seq: n,
                text: format!("{name} {n}"),
            })
            .await
            .unwrap();
        }
        conn.flush().await.unwrap();
        barrier(&mut conn).await;
    }
    // Another machine is not held up.
    let conn = connect_from([127, 0, 3, 2], &host, "Bob").await;
    let (mut bob, _, _) = join_on(conn, hello("Bob")).await;
    post(&mut bob, 1, "still here").await;
    let (_, _, history) =
        join_with(SocketAddr::from(([127, 0, 0, 1], host.port)), hello("Nia")).await;
    let flood = history.iter().filter(|m| m.from.starts_with("Mal")).count();
    assert_eq!(
        flood, 45,
        "six keys of one machine got one machine's allowance"
    );
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Sessions passing through (`lanchat send`) take no member's place and hear nothing of the
/// room (255 of them once made a room "full" while it showed one member).
#[tokio::test]
async fn passing_sessions_take_no_member_place() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        passing: 4,
        ..Limits::unmetered()
    };
    let host = host(dir.path(), limits).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], host.port));
    let mut passing = Vec::new();
    let mut busy = 0;
    for k in 0..10 {
        let name = format!("Zed{k}");
        let mut conn = Client::connect(addr, &identity(&name)).await;
        match knock(
            &mut conn,
            Hello {
                passing: true,
                ..hello(&name)
            },
        )
        .await
        {
            Frame::Welcome(w) => {
                assert_eq!(w.members.len(), 1, "told nothing of who is in the room");
                passing.push(conn);
            }
            Frame::Refused(Refusal {
                code: RefuseCode::Passing,
                ..
            }) => busy += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((passing.len(), busy), (4, 6));
    let (mut ann, welcome, _) = join_with(addr, hello("Ann")).await;
    assert!(welcome.members.iter().all(|m| !m.name.starts_with("Zed")));
    assert_eq!(*host.member_count().borrow(), 1);
    post(&mut ann, 1, "hello").await;
    // None of them was told of Ann or her post: each one's pong is the next thing it hears.
    for conn in &mut passing {
        conn.send(Frame::Ping).await.unwrap();
        let heard = next(conn).await;
        assert!(
            matches!(heard, Frame::Pong),
            "a passing session was told {heard:?}"
        );
    }
    // Asking anything of the room ends a passing session, and the room hears nothing of it.
    let mut zed0 = passing.remove(0);
    zed0.send(Frame::Presence { away: true }).await.unwrap();
    zed0.send(Frame::Typing).await.unwrap();
    let ended = tokio::time::timeout(DEADLINE, async {
        while let Some(Ok(_)) = zed0.next().await {}
    });
    ended.await.expect("the passing session is closed");
    // The same app run coming back as a member is a newcomer, announced and counted, not a
    // hidden session turned member.
    let (_zed1, welcome, _) = join_with(addr, hello("Zed1")).await;
    assert_eq!(
        welcome.members.len(),
        2,
        "told who is in the room: Ann and itself"
    );
    ann.send(Frame::Ping).await.unwrap();
    let mut heard = Vec::new();
    loop {
        match next(&mut ann).await {
            Frame::Pong => break,
            frame => heard.push(frame),
        }
    }
    assert!(
        matches!(&heard[..], [Frame::MemberJoined(m)] if m.name == "Zed1"),
        "Ann heard {heard:?}"
    );
    assert_eq!(*host.member_count().borrow(), 2);
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Joining and leaving without end is turned away, so members are not told of it without end
/// (89 joins and leaves a second once reached every member).
#[tokio::test]
async fn joining_and_leaving_without_end_is_not_told_to_the_room_without_end() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        joins: only(5.0),
        machine_joins: only(8.0),
        ..Limits::unmetered()
    };
    let host = host(dir.path(), limits).await;
    let ann = connect_from([127, 0, 4, 1], &host, "Ann").await;
    let (mut ann, _, _) = join_on(ann, hello("Ann")).await;
    let mut later = 0;
    for k in 0..40 {
        let name = format!("Churn{}", k % 4);
        let mut conn = connect_from([127, 0, 4, 2], &host, &name).await;
        match knock(
            &mut conn,
            Hello {
                resume: k,
                ..hello(&name)
            },
        )
        .await
        {
            Frame::Welcome(_) => conn.send(Frame::Bye).await.unwrap(),
            Frame::TryLater { code, .. } => {
                assert_eq!(code, WaitCode::JoinsTooOften);
                later += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(later, 32, "the machine's eight joins, then none");
    post(&mut ann, 1, "barrier").await;
    let mut joined = 0;
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout(Duration::from_millis(300), ann.next()).await
    {
        joined += usize::from(matches!(frame, Frame::MemberJoined(_)));
    }
    assert!(joined <= 8, "Ann was told of {joined} joins");
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Asking for history pages without end costs the asker, not the host: one page is read from
/// disk at a time for a member, on a few shared reading threads, and each page costs a post
/// (four members asking a hundred pages each once took the host from 7 to 407 threads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_asked_for_without_end_costs_the_asker_not_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), Limits::unmetered()).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], host.port));
    let (mut ann, _, _) = join_with(addr, hello("Ann")).await;
    // Enough history that early pages are on disk only.
    let last = 3 * HISTORY_PAGE as u64;
    for n in 0..=last {
        let text = format!("m{n}");
        ann.feed(Frame::Post { seq: n, text }).await.unwrap();
    }
    ann.flush().await.unwrap();
    while !matches!(next(&mut ann).await, Frame::Accepted { seq, .. } if seq == last) {}
    host.close(CloseCode::Closed, DEADLINE).await;
    let limits = Limits {
        posts: only(5.0),
        ..Limits::unmetered()
    };
    let host = self::host(dir.path(), limits).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], host.port));
    let threads = || {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0)
    };
    let before = threads();
    let mut askers = Vec::new();
    for k in 0..4 {
        let (mut conn, welcome, _) = join_with(addr, hello(&format!("Asker{k}"))).await;
        for _ in 0..100 {
            conn.feed(Frame::History { after: Some(0) }).await.unwrap();
        }
        conn.flush().await.unwrap();
        askers.push((conn, welcome.epoch));
    }
    let mut pages = 0;
    for (conn, _) in &mut askers {
        // Each page that comes is a `Page` header; the pong follows what was answered.
        conn.send(Frame::Ping).await.unwrap();
        let until = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(until, conn.next()).await {
            pages += usize::from(matches!(frame, Frame::Page { .. }));
        }
    }
    let grew = threads().saturating_sub(before);
    assert!(
        pages <= 4 * 5,
        "{pages} pages for four members with five posts each"
    );
    assert!(grew <= 8, "the host grew by {grew} threads");
    // The room goes on.
    let (mut bob, _, _) = join_with(addr, hello("Bob")).await;
    post(&mut bob, 1, "still here").await;
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// A member that stops reading costs the host at most its byte budget, however large the
/// messages: it is dropped long before its queue's frame count is reached (ten such members
/// in a room of 60 KB messages once took a host from 99 MB to 1.17 GB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_large_messages_is_dropped_at_its_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        member_queue_bytes: 1024 * 1024,
        ..Limits::unmetered()
    };
    let host = host(dir.path(), limits).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], host.port));
    // Zed joins with a tiny receive buffer and never reads again.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let zed = link::connect(
        stream,
        &identity("Zed"),
        Expect::Anyone,
        &Timeouts::default(),
    )
    .await
    .unwrap();
    let zed = Client {
        reader: zed.reader,
        writer: zed.writer,
        host_key: zed.remote,
        handshake_hash: zed.handshake_hash,
        tap: None,
    };
    let (mut zed, _, _) = join_on(zed, hello("Zed")).await;
    let (mut ann, _, _) = join_with(addr, hello("Ann")).await;
    let (mut bob, _, _) = join_with(addr, hello("Bob")).await;
    // Bob reads everything as it comes, as members do.
    let bob_reads = tokio::spawn(async move {
        let (mut got, mut zed_left) = (0, false);
        while got < 200 {
            match next(&mut bob).await {
                Frame::Message(m) if m.from == "Ann" => got += 1,
                Frame::MemberLeft(m) if m.name == "Zed" => zed_left = true,
                _ => {}
            }
        }
        (bob, zed_left)
    });
    // Ann posts 200 messages of 60 KB, each once the last is stored: 12 MB, a tenth of the
    // queue's frames.
    let big = "x".repeat(60 * 1024);
    for n in 0..200u64 {
        post(&mut ann, n, &format!("{n} {big}")).await;
    }
    let (mut bob, mut left) = bob_reads.await.unwrap();
    // Zed was dropped: the room says it left, and its connection is closed.
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(2), bob.next()).await {
        left |= matches!(frame, Frame::MemberLeft(m) if m.name == "Zed");
    }
    assert!(left, "the member that stopped reading was dropped");
    let ended = tokio::time::timeout(DEADLINE, async {
        loop {
            match zed.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "its connection was closed");
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Addresses that open connections and say nothing cannot keep a member out: a newcomer takes
/// the place of the oldest silent connection of the address holding the most (eight
/// addresses with eight silent connections each once kept every join out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_from_many_addresses_do_not_keep_a_member_out() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), Limits::unmetered()).await;
    let target = SocketAddr::from(([127, 0, 0, 1], host.port));
    let mut silent = Vec::new();
    for a in 0..8u8 {
        for _ in 0..8 {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket
                .bind(SocketAddr::from(([127, 0, 5, 10 + a], 0)))
                .unwrap();
            silent.push(socket.connect(target).await.unwrap());
        }
    }
    // Every handshake place is taken (64 by default) before the member comes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let conn = tokio::time::timeout(
        Duration::from_secs(5),
        connect_from([127, 0, 5, 99], &host, "Ann"),
    )
    .await
    .expect("the handshake is not held up");
    let (mut ann, _, _) = tokio::time::timeout(Duration::from_secs(5), join_on(conn, hello("Ann")))
        .await
        .expect("joined while every place was taken");
    post(&mut ann, 1, "in").await;
    drop(silent);
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Junk password messages from many addresses cost their senders, not the room: the right
/// password still gets a newcomer in, and a past member on an address the guessers used
/// (the attack had the right password refused 18 times of 18).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_from_many_addresses_locks_out_neither_members_nor_newcomers() {
    let dir = tempfile::tempdir().unwrap();
    let secret = RoomSecret::derive(&room(), "tulip");
    let host = host_with(dir.path(), Limits::unmetered(), Some(secret.clone())).await;
    // Ann has been in the room before.
    let ann = connect_from([127, 0, 6, 1], &host, "Ann").await;
    let (mut ann, _) = enter(ann, &secret, "Ann").await;
    ann.send(Frame::Bye).await.unwrap();
    // Sixty addresses send junk for a password exchange, twice each.
    for round in 0..2 {
        for a in 1..=60u8 {
            let name = format!("Guess{a}.{round}");
            let mut conn = connect_from([127, 0, 6, a], &host, &name).await;
            let junk = Hello {
                password: Some(vec![a; 33]),
                ..hello(&name)
            };
            match knock(&mut conn, junk).await {
                Frame::Refused(Refusal {
                    code: RefuseCode::Password | RefuseCode::WrongPassword,
                    ..
                })
                | Frame::TryLater { .. } => {}
                other => panic!("junk was answered with {other:?}"),
            }
        }
    }
    // A newcomer on another machine, and Ann on an address the guessers used, get in.
    let bob = connect_from([127, 0, 6, 200], &host, "Bob").await;
    let (mut bob, _) = enter(bob, &secret, "Bob").await;
    post(&mut bob, 1, "in").await;
    let ann = connect_from([127, 0, 6, 7], &host, "Ann").await;
    let (mut ann, _) = enter(ann, &secret, "Ann").await;
    post(&mut ann, 2, "me too").await;
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Joins a password room with `secret`; panics if not let in.
async fn enter(mut conn: Client, secret: &RoomSecret, name: &str) -> (Client, Welcome) {
    let (exchange, message) = MemberExchange::start(secret, conn.handshake_hash);
    let hello = Hello {
        password: Some(message),
        ..hello(name)
    };
    conn.send(Frame::Hello(hello)).await.unwrap();
    let Frame::Spake { msg, proof } = next(&mut conn).await else {
        panic!("{name}: no password exchange")
    };
    let proof = exchange
        .finish(&msg, &proof)
        .expect("the host knows the password");
    conn.send(Frame::Proof { proof }).await.unwrap();
    match next(&mut conn).await {
        Frame::Welcome(welcome) => {
            for _ in 0..welcome.history {
                next(&mut conn).await;
            }
            (conn, welcome)
        }
        other => panic!("{name} was not let in: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// A dishonest host, and members that pose as others in direct messages
// ---------------------------------------------------------------------------------------------

use lanchat::bridge::{self, Event, EventReceiver};
use lanchat::net::identity::Identity;
use lanchat::net::session::{Session, SessionConfig};
use lanchat::net::trust::{KnownHosts, KnownPeople};

/// Waits for the first event `pick` takes.
async fn wait_for<T>(events: &mut EventReceiver, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let event = events.recv().await.expect("the session is alive");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("the event within the deadline")
}

/// Ada's real session, joining the room at `addrs`, with the keys she pinned kept in `dir`.
fn ada_at(dir: &Path, addrs: Vec<SocketAddr>) -> (Session, EventReceiver) {
    let (front, back) = bridge::channel();
    let config = SessionConfig {
        room: room(),
        addrs,
        name: "Ada".into(),
        identity: identity("Ada"),
        trust: KnownHosts::load(dir.join("known_hosts.json")).0,
        people: KnownPeople::load(dir.join("known_people.json")).0,
        password: None,
        resume: 1,
        passing: false,
        host_gone: None,
        timeouts: Timeouts::default(),
        store: None,
        directs: None,
    };
    (Session::spawn(config, back.events), front.events)
}

fn ada(dir: &Path, addr: SocketAddr) -> (Session, EventReceiver) {
    ada_at(dir, vec![addr])
}

/// A host that lists its own key under Bob's name cannot read what Ada writes to Bob once she
/// has written to the real Bob: the key is not Bob's, and nothing is sealed for it. (Such a
/// host once read "TOPSECRET-FOR-BOB-ONLY" while the window said only Bob could.)
#[tokio::test]
async fn a_host_listing_its_own_key_as_someone_ada_knows_gets_nothing_sealed_for_it() {
    let dir = tempfile::tempdir().unwrap();
    // Ada wrote to the real Bob before, in another room.
    let (people, _) = KnownPeople::load(dir.path().join("known_people.json"));
    assert_eq!(
        people.meet("Bob", identity("Bob").public()),
        lanchat::net::trust::Known::New
    );
    people.save().unwrap();
    drop(people);

    let mallory = Identity::generate();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let host = tokio::spawn({
        let mallory = mallory.clone();
        async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut link = link::accept(stream, &mallory, &Timeouts::default())
                .await
                .unwrap();
            let Some(Ok(Frame::Hello(_))) = link.reader.recv().await else {
                panic!("Ada says hello first");
            };
            let fake_bob = Member {
                id: 2,
                name: "Bob".into(),
                host: false,
                device: mallory.device(),
                away: false,
                key: Some(mallory.public()),
            };
            let ada = Member {
                id: 1,
                name: "Ada".into(),
                host: false,
                device: link.remote.device(),
                away: false,
                key: Some(link.remote),
            };
            let welcome = Welcome {
                room: room(),
                room_name: "Lab".into(),
                host_name: "Mallory".into(),
                you: 1,
                members: vec![ada, fake_bob],
                epoch: 1,
                history: 0,
                more: false,
            };
            link.writer.send(Frame::Welcome(welcome)).await.unwrap();
            // Everything Ada sends, until her post.
            let mut heard = Vec::new();
            while let Some(Ok(frame)) = link.reader.recv().await {
                let post = matches!(frame, Frame::Post { .. });
                heard.push(frame);
                if post {
                    break;
                }
            }
            heard
        }
    });
    let (session, mut events) = ada(dir.path(), addr);
    let bob = wait_for(&mut events, |e| match e {
        Event::Joined { members, .. } => members.into_iter().find(|m| m.name == "Bob"),
        _ => None,
    })
    .await;
    session.direct(bob, 7, "TOPSECRET-FOR-BOB-ONLY".into());
    let reason = wait_for(&mut events, |e| match e {
        Event::DirectFailed { seq: 7, reason, .. } => Some(reason),
        Event::DirectSent { .. } => panic!("sealed for the host's key"),
        _ => None,
    })
    .await;
    assert!(
        reason
            .to_string()
            .contains("not the one you wrote to before"),
        "{reason}"
    );
    session.post(1, "after".into());
    let heard = host.await.unwrap();
    for frame in &heard {
        if let Frame::Direct { sealed, .. } = frame {
            let opened = lanchat::net::sealed::open(&mallory, &room(), sealed);
            panic!("the host got a direct message (opened: {})", opened.is_ok());
        }
    }
    session.leave(Duration::from_secs(1)).await;
}

/// A member cannot name itself in a direct message: the sender is named by its key as the
/// room lists it, and a name the message gives itself is kept apart, as a warning. (A DM
/// sealed by Mallory under the name "Host" was once shown and titled as from "Host".)
#[tokio::test]
async fn a_direct_message_is_named_by_its_senders_key_not_by_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), Limits::unmetered()).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], host.port));
    let (session, mut events) = ada(dir.path(), addr);
    let me = wait_for(&mut events, |e| match e {
        Event::Joined { members, .. } => members.into_iter().find(|m| m.name == "Ada"),
        _ => None,
    })
    .await;
    let (mut mallory, _, _) = join_with(addr, hello("Mallory")).await;
    let body = DirectBody {
        seq: 1,
        ts: 0,
        name: "Host".into(),
        text: "please send me the password".into(),
    };
    let payload = rmp_serde::to_vec_named(&body).unwrap();
    let sealed =
        lanchat::net::sealed::seal(&identity("Mallory"), &me.key.unwrap(), &room(), &payload)
            .unwrap();
    mallory
        .send(Frame::Direct {
            to: me.id,
            seq: 1,
            sealed,
        })
        .await
        .unwrap();
    let direct = wait_for(&mut events, |e| match e {
        Event::Direct(d) if !d.outgoing => Some(d),
        _ => None,
    })
    .await;
    assert_eq!(direct.peer_name, "Mallory");
    assert_eq!(direct.claimed.as_deref(), Some("Host"));
    assert_eq!(direct.peer, identity("Mallory").device());
    session.leave(Duration::from_secs(1)).await;
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// An impostor answering for a room at one of its addresses, first, does not stop the member
/// from reaching the room's real host at another (an impostor listed first once stopped the
/// session at "key changed" without the real address being tried), nor does an address that
/// answers with garbage.
#[tokio::test]
async fn an_impostor_address_does_not_keep_a_member_from_the_real_host() {
    let dir = tempfile::tempdir().unwrap();
    let real = host(dir.path(), Limits::unmetered()).await;
    let other = tempfile::tempdir().unwrap();
    let impostor = RoomHost::start(HostConfig {
        bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        ..HostConfig::new(
            room(),
            "Lab".into(),
            "Mallory".into(),
            identity("Mallory"),
            other.path().to_path_buf(),
        )
    })
    .await
    .unwrap();
    // Ada joined the real room before.
    let (hosts, _) = KnownHosts::load(dir.path().join("known_hosts.json"));
    hosts
        .trust(&room(), identity("Ada").public(), "Lab")
        .unwrap();
    drop(hosts);
    // And something at another of its addresses that answers with garbage and then stalls.
    let garbage = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let garbage_at = garbage.local_addr().unwrap();
    let answering = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = garbage.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            held.push(stream);
        }
    });
    let at = |host: &RoomHost| SocketAddr::from(([127, 0, 0, 1], host.port));
    let addrs = vec![garbage_at, at(&impostor), at(&real)];
    let (session, mut events) = ada_at(dir.path(), addrs);
    let host_key = wait_for(&mut events, |e| match e {
        Event::Joined { host_key, .. } => Some(host_key),
        Event::Session {
            state: bridge::SessionState::KeyChanged { .. },
            ..
        } => panic!("stopped at the impostor"),
        _ => None,
    })
    .await;
    assert_eq!(host_key, identity("Ada").public());
    session.leave(Duration::from_secs(1)).await;
    answering.abort();
    impostor.close(CloseCode::Closed, DEADLINE).await;
    real.close(CloseCode::Closed, DEADLINE).await;
}

/// Headless, joining by address a room whose host now presents another key stops and says so,
/// with a failing exit status, instead of waiting without a word. The member runs as the real
/// binary; with `--addr` it does no discovery, so it only ever talks to loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_join_by_address_stops_at_a_changed_key_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let real = host(dir.path(), Limits::unmetered()).await;
    let port = real.port;
    let join = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lanchat"));
        cmd.arg("--data-dir")
            .arg(profile.path())
            .args(["join", "Lab", "--name", "Bea", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .env_remove("LANCHAT_DATA_DIR")
            .stdin(std::process::Stdio::null());
        cmd
    };
    let mut cmd = join();
    let first = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    real.close(CloseCode::Closed, DEADLINE).await;
    // Another machine on the same address, with a room of the same id and name.
    let other = tempfile::tempdir().unwrap();
    let impostor = RoomHost::start(HostConfig {
        bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        port,
        ..HostConfig::new(
            room(),
            "Lab".into(),
            "Mallory".into(),
            identity("Mallory"),
            other.path().to_path_buf(),
        )
    })
    .await
    .unwrap();
    assert_eq!(impostor.port, port);
    let mut cmd = join();
    let second = tokio::time::timeout(DEADLINE, tokio::task::spawn_blocking(move || cmd.output()))
        .await
        .expect("it stops instead of hanging")
        .unwrap()
        .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(said.contains("presents the key"), "{said}");
    impostor.close(CloseCode::Closed, DEADLINE).await;
}

// ---------------------------------------------------------------------------------------------
// Any sequence of frames from the sessions of one key
// ---------------------------------------------------------------------------------------------

use proptest::prelude::*;

/// One thing a dishonest member's session does.
#[derive(Debug, Clone)]
enum Act {
    /// A post of this many bytes.
    Post(usize),
    History(Option<u64>),
    Before(u64),
    Presence(bool),
    Typing,
    Rename(u8),
    /// A "sealed" direct message (any bytes) of this many bytes to member `to`.
    Direct(u32, usize),
    Ping,
    /// Hangs up and joins again, as a new run of the app.
    Rejoin,
    /// Bytes that are no frame at all.
    Junk,
}

fn act() -> impl Strategy<Value = (usize, Act)> {
    let act = prop_oneof![
        4 => (0..MAX_TEXT_BYTES).prop_map(Act::Post),
        1 => proptest::option::of(0..2000u64).prop_map(Act::History),
        1 => (0..2000u64).prop_map(Act::Before),
        1 => any::<bool>().prop_map(Act::Presence),
        1 => Just(Act::Typing),
        1 => any::<u8>().prop_map(Act::Rename),
        1 => (0..8u32, 1..60_000usize).prop_map(|(to, len)| Act::Direct(to, len)),
        1 => Just(Act::Ping),
        1 => Just(Act::Rejoin),
        1 => Just(Act::Junk),
    ];
    (0..4usize, act)
}

/// The bytes this process holds, as the system counts them.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Runs `acts` as the sessions of Mallory's one key (which never read what the host sends
/// them), against a host with the default budgets, and checks what the host holds for them.
async fn run_acts(acts: Vec<(usize, Act)>) {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    let host = host(dir.path(), limits).await;
    let before = resident();
    let mut sessions: Vec<Option<Client>> = (0..limits.sessions_per_key).map(|_| None).collect();
    let mut resume = 1;
    for (i, (which, act)) in acts.into_iter().enumerate() {
        let which = which % sessions.len();
        if sessions[which].is_none() || matches!(act, Act::Rejoin) {
            sessions[which] = None;
            resume += 1;
            let mut conn = connect_from([127, 0, 9, 1], &host, "Mallory").await;
            let hello = Hello {
                resume,
                ..hello("Mallory")
            };
            if let Frame::Welcome(_) = knock(&mut conn, hello).await {
                sessions[which] = Some(conn);
            }
            continue;
        }
        let Some(conn) = &mut sessions[which] else {
            continue;
        };
        let frame = match act {
            Act::Post(len) => Frame::Post {
                seq: i as u64,
                text: "x".repeat(len),
            },
            Act::History(after) => Frame::History { after },
            Act::Before(before) => Frame::Before { before },
            Act::Presence(away) => Frame::Presence { away },
            Act::Typing => Frame::Typing,
            Act::Rename(n) => Frame::Rename {
                name: format!("Mallory {n}"),
            },
            Act::Direct(to, len) => Frame::Direct {
                to,
                seq: i as u64,
                sealed: vec![7; len],
            },
            Act::Ping => Frame::Ping,
            Act::Rejoin => unreachable!("rejoined above"),
            Act::Junk => {
                let _ = conn.send_plain(b"\x00\x00\x00\x05junk!").await;
                sessions[which] = None;
                continue;
            }
        };
        // A session the host closed is gone; the next act of its slot joins again.
        let sent = tokio::time::timeout(Duration::from_secs(2), conn.send(frame)).await;
        if !matches!(sent, Ok(Ok(()))) {
            sessions[which] = None;
        }
        if i % 16 == 0 {
            let usage = host.usage().await;
            assert!(usage.most_queued <= limits.member_queue_bytes, "{usage:?}");
            assert!(
                usage.held <= usage.sessions * limits.held_bytes,
                "{usage:?}"
            );
        }
    }
    let usage = host.usage().await;
    assert!(usage.most_queued <= limits.member_queue_bytes, "{usage:?}");
    assert!(
        usage.held <= usage.sessions * limits.held_bytes,
        "{usage:?}"
    );
    // Whatever was going on in this process besides, the host did not grow past a few
    // members' budgets.
    let grew = resident().saturating_sub(before);
    assert!(grew < 256 << 20, "the process grew by {} MB", grew >> 20);
    // The room goes on, for someone else.
    let bob = connect_from([127, 0, 9, 2], &host, "Bob").await;
    let (mut bob, _, _) = join_on(bob, hello("Bob")).await;
    post(&mut bob, 1, "still here").await;
    drop(sessions);
    host.close(CloseCode::Closed, DEADLINE).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Whatever the sessions of one key send, in whatever order, the host holds no more for
    /// them than their budgets, and the room goes on.
    #[test]
    fn any_frames_from_the_sessions_of_one_key_stay_within_the_hosts_budgets(
        acts in proptest::collection::vec(act(), 1..150)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run_acts(acts));
    }
}

/// The members of one machine together cost the host at most the machine's byte budget,
/// however many keys and sessions it opens that never read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_members_of_one_machine_together_stay_within_its_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 2 * 1024 * 1024;
    let limits = Limits {
        member_queue_bytes: 1024 * 1024,
        machine_queue_bytes: budget,
        ..Limits::unmetered()
    };
    let host = host(dir.path(), limits).await;
    let mut stuck = Vec::new();
    for k in 0..2 {
        for s in 0..3u64 {
            let name = format!("Mal{k}");
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            socket.bind(SocketAddr::from(([127, 0, 21, 1], 0))).unwrap();
            let stream = socket
                .connect(SocketAddr::from(([127, 0, 0, 1], host.port)))
                .await
                .unwrap();
            let link = link::connect(
                stream,
                &identity(&name),
                Expect::Anyone,
                &Timeouts::default(),
            )
            .await
            .unwrap();
            let conn = Client {
                reader: link.reader,
                writer: link.writer,
                host_key: link.remote,
                handshake_hash: link.handshake_hash,
                tap: None,
            };
            let hello = Hello {
                resume: s + 1,
                ..hello(&name)
            };
            stuck.push(join_on(conn, hello).await.0);
        }
    }
    let ann = connect_from([127, 0, 21, 2], &host, "Ann").await;
    let (mut ann, _, _) = join_on(ann, hello("Ann")).await;
    let big = "x".repeat(60 * 1024);
    let mut most = 0;
    for n in 0..120u64 {
        post(&mut ann, n, &format!("{n} {big}")).await;
        most = most.max(host.usage().await.queued);
    }
    // Ann's own queue besides.
    assert!(
        most <= budget + limits.member_queue_bytes,
        "{most} bytes queued; the machine's budget is {budget}"
    );
    // Once its sessions are gone, what was queued for them no longer counts: the machine is
    // welcomed again, with a page of history (while it is still full, it is told to come
    // back, never left waiting for a welcome).
    drop(stuck);
    let welcomed = tokio::time::timeout(DEADLINE, async {
        loop {
            let mut conn = connect_from([127, 0, 21, 1], &host, "Mal0").await;
            let hello = Hello {
                resume: 9,
                ..hello("Mal0")
            };
            match knock(&mut conn, hello).await {
                Frame::Welcome(w) => return w,
                Frame::TryLater { .. } => tokio::time::sleep(Duration::from_millis(100)).await,
                other => panic!("{other:?}"),
            }
        }
    });
    assert!(welcomed.await.expect("welcomed again").history > 0);
    host.close(CloseCode::Closed, DEADLINE).await;
}
