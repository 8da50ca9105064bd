//! A real room host on 127.0.0.1 with real clients, no mDNS: joining, fan-out, history,
//! leaving, closing, restarting, and peers that misbehave.

use futures::{SinkExt, StreamExt};
use lanchat::net::host::{HostConfig, RoomHost};
use lanchat::protocol::*;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const DEADLINE: Duration = Duration::from_secs(10);

type Conn = Framed<TcpStream, FrameCodec>;

fn room_id() -> RoomId {
    RoomId::parse("feedbeef00000001").unwrap()
}

async fn start_host(dir: &Path) -> RoomHost {
    RoomHost::start(HostConfig {
        room: room_id(),
        room_name: "Lab".into(),
        host_name: "Ada".into(),
        host_device: DeviceId::parse("ada").unwrap(),
        history: dir.join("history.jsonl"),
        port: 0,
        bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        problems: None,
        files: lanchat::files::FileStore::new(dir.join("files"), 0),
    })
    .await
    .expect("host starts")
}

fn addr(host: &RoomHost) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], host.port))
}

fn hello(name: &str, since: Option<u64>) -> Hello {
    Hello {
        protocol: PROTOCOL_VERSION,
        app: APP_VERSION.into(),
        name: name.into(),
        device: DeviceId::parse(&name.to_lowercase()).unwrap(),
        room: room_id(),
        since,
        resume: 1,
    }
}

async fn connect(addr: SocketAddr) -> Conn {
    Framed::new(
        TcpStream::connect(addr).await.unwrap(),
        FrameCodec::default(),
    )
}

/// Joins and returns the connection, the welcome, and the history that followed it.
async fn join(addr: SocketAddr, name: &str) -> (Conn, Welcome, Vec<ChatMessage>) {
    join_with(addr, hello(name, None)).await
}

async fn join_with(addr: SocketAddr, hello: Hello) -> (Conn, Welcome, Vec<ChatMessage>) {
    let mut conn = connect(addr).await;
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

async fn next(conn: &mut Conn) -> Frame {
    tokio::time::timeout(DEADLINE, conn.next())
        .await
        .expect("a frame within the deadline")
        .expect("connection open")
        .expect("a valid frame")
}

/// The next frame of the wanted kind, skipping others.
async fn next_kind(conn: &mut Conn, kind: &str) -> Frame {
    loop {
        let frame = next(conn).await;
        if frame.kind() == kind {
            return frame;
        }
    }
}

/// Waits until the host closes the connection (clean end or error).
async fn closed(conn: &mut Conn) {
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

async fn post(conn: &mut Conn, seq: u64, text: &str) -> u64 {
    conn.send(Frame::Post {
        seq,
        text: text.into(),
    })
    .await
    .unwrap();
    loop {
        match next(conn).await {
            Frame::Accepted { seq: s, id } if s == seq => return id,
            Frame::Message(_)
            | Frame::MemberJoined(_)
            | Frame::MemberLeft(_)
            | Frame::MemberRenamed(_) => {}
            other => panic!("expected accepted, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn join_fan_out_to_three_members_and_acknowledge() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut a, wa, _) = join(addr(&host), "Ann").await;
    assert_eq!(wa.members.len(), 1);
    assert_eq!(
        (wa.room_name.as_str(), wa.host_name.as_str()),
        ("Lab", "Ada")
    );
    let (mut b, wb, _) = join(addr(&host), "Ben").await;
    let (mut c, wc, _) = join(addr(&host), "Cat").await;
    assert_eq!(
        wc.members
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["Ann", "Ben", "Cat"]
    );
    assert_ne!(wb.you, wc.you);
    assert!(matches!(next(&mut a).await, Frame::MemberJoined(m) if m.name == "Ben"));

    let id = post(&mut b, 1, "hello all").await;
    for conn in [&mut a, &mut c] {
        let Frame::Message(m) = next_kind(conn, "message").await else {
            unreachable!()
        };
        assert_eq!(
            (m.id, m.from.as_str(), m.text.as_str()),
            (id, "Ben", "hello all")
        );
        assert_eq!(m.device.as_str(), "ben");
    }
    assert_eq!(*host.member_count().borrow(), 3);
    host.close("bye".into(), DEADLINE).await;
}

#[tokio::test]
async fn a_late_joiner_gets_the_history_tail_and_only_what_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut a, _, _) = join(addr(&host), "Ann").await;
    let total = HISTORY_TAIL as u64 + 20;
    for seq in 1..=total {
        a.feed(Frame::Post {
            seq,
            text: format!("m{seq}"),
        })
        .await
        .unwrap();
    }
    a.flush().await.unwrap();
    let mut last = 0;
    while last != total {
        if let Frame::Accepted { seq, .. } = next(&mut a).await {
            last = seq;
        }
    }
    let (_d, welcome, history) = join(addr(&host), "Dan").await;
    assert_eq!(welcome.history as usize, HISTORY_TAIL);
    assert_eq!(history.first().unwrap().text, "m21");
    assert_eq!(history.last().unwrap().text, format!("m{total}"));
    assert!(history.windows(2).all(|w| w[0].id + 1 == w[1].id));

    let since = history[history.len() - 3].id;
    let (_e, welcome, missed) = join_with(addr(&host), hello("Eve", Some(since))).await;
    assert_eq!(welcome.history, 2);
    assert_eq!(
        missed.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        [format!("m{}", total - 1), format!("m{total}")]
    );
    host.close("bye".into(), DEADLINE).await;
}

#[tokio::test]
async fn a_member_leaving_is_announced_and_the_room_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut a, _, _) = join(addr(&host), "Ann").await;
    let (mut b, _, _) = join(addr(&host), "Ben").await;
    let (c, _, _) = join(addr(&host), "Cat").await;
    b.send(Frame::Bye).await.unwrap();
    closed(&mut b).await;
    drop(c); // gone without a word
    let mut left = Vec::new();
    while left.len() < 2 {
        if let Frame::MemberLeft(m) = next(&mut a).await {
            left.push(m.name);
        }
    }
    left.sort();
    assert_eq!(left, ["Ben", "Cat"]);
    post(&mut a, 1, "still here").await;
    assert_eq!(*host.member_count().borrow(), 1);
    host.close("bye".into(), DEADLINE).await;
}

#[tokio::test]
async fn closing_tells_every_member_and_history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut a, _, _) = join(addr(&host), "Ann").await;
    let (mut b, _, _) = join(addr(&host), "Ben").await;
    post(&mut a, 1, "before the restart").await;
    host.close("Ada closed the room".into(), DEADLINE).await;
    for conn in [&mut a, &mut b] {
        assert_eq!(
            next_kind(conn, "closing").await,
            Frame::Closing {
                reason: "Ada closed the room".into()
            }
        );
        closed(conn).await;
    }

    let host = start_host(dir.path()).await;
    let (mut c, welcome, history) = join(addr(&host), "Cat").await;
    assert_eq!(welcome.history, 1);
    assert_eq!(history[0].text, "before the restart");
    let id = post(&mut c, 1, "after").await;
    assert_eq!(id, history[0].id + 1, "ids continue after a restart");
    host.close("bye".into(), DEADLINE).await;
}

#[tokio::test]
async fn a_post_resent_after_a_reconnect_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut a, _, _) = join(addr(&host), "Ann").await;
    let first = post(&mut a, 5, "only once").await;
    drop(a);
    let (mut a, _, _) = join(addr(&host), "Ann").await;
    assert_eq!(post(&mut a, 5, "only once").await, first);
    let (_b, _, history) = join(addr(&host), "Ben").await;
    assert_eq!(history.iter().filter(|m| m.text == "only once").count(), 1);
    host.close("bye".into(), DEADLINE).await;
}

/// Bad peers: each is cut off with the others unaffected.
#[tokio::test]
async fn misbehaving_peers_lose_only_their_own_session() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut good, _, _) = join(addr(&host), "Ann").await;

    // Garbage instead of a hello.
    let mut raw = TcpStream::connect(addr(&host)).await.unwrap();
    raw.write_all(&[0, 0, 0, 5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1])
        .await
        .unwrap();
    let mut conn = Framed::new(raw, FrameCodec::default());
    closed(&mut conn).await;

    // A header claiming 4 GiB after joining.
    let (conn, _, _) = join(addr(&host), "Big").await;
    let mut raw = conn.into_inner();
    raw.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    let mut conn = Framed::new(raw, FrameCodec::default());
    closed(&mut conn).await;

    // A host's frame from a member, and a second hello.
    for bad in [Frame::Pong, Frame::Hello(hello("Twice", None))] {
        let (mut conn, _, _) = join(addr(&host), "Odd").await;
        conn.send(bad).await.unwrap();
        closed(&mut conn).await;
    }

    // A post before the hello.
    let mut conn = connect(addr(&host)).await;
    conn.send(Frame::Post {
        seq: 1,
        text: "sneaky".into(),
    })
    .await
    .unwrap();
    closed(&mut conn).await;

    // A frame cut off by a hang-up.
    let (conn, _, _) = join(addr(&host), "Cut").await;
    let mut raw = conn.into_inner();
    raw.write_all(&[0, 0, 0, 50, 1, 2]).await.unwrap();
    drop(raw);
    loop {
        if let Frame::MemberLeft(m) = next(&mut good).await
            && m.name == "Cut"
        {
            break;
        }
    }

    // The good member saw joins and leaves, and chats on.
    let id = post(&mut good, 1, "still fine").await;
    let (_late, _, history) = join(addr(&host), "Late").await;
    assert_eq!(history.last().map(|m| m.id), Some(id));
    assert!(history.iter().all(|m| m.text != "sneaky"));
    host.close("bye".into(), DEADLINE).await;
}

#[tokio::test]
async fn an_incompatible_version_or_wrong_room_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let mut conn = connect(addr(&host)).await;
    conn.send(Frame::Hello(Hello {
        protocol: PROTOCOL_VERSION + 1,
        ..hello("Fut", None)
    }))
    .await
    .unwrap();
    let Frame::Refused { code, reason } = next(&mut conn).await else {
        panic!("expected a refusal")
    };
    assert_eq!(code, RefuseCode::Version);
    assert!(reason.contains("update lanchat"), "{reason}");
    closed(&mut conn).await;

    let mut conn = connect(addr(&host)).await;
    conn.send(Frame::Hello(Hello {
        room: RoomId::parse("other").unwrap(),
        ..hello("Lost", None)
    }))
    .await
    .unwrap();
    assert!(matches!(
        next(&mut conn).await,
        Frame::Refused {
            code: RefuseCode::WrongRoom,
            ..
        }
    ));
    host.close("bye".into(), DEADLINE).await;
}

#[tokio::test]
async fn who_names_the_room_without_joining_it() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut a, _, _) = join(addr(&host), "Ann").await;
    let about = lanchat::net::session::ask_who(&[addr(&host)])
        .await
        .unwrap();
    assert_eq!(
        (about.room, about.room_name.as_str(), about.members),
        (room_id(), "Lab", 1)
    );
    // Nobody saw a join: the next frame Ann gets is her own post's.
    a.send(Frame::Post {
        seq: 1,
        text: "x".into(),
    })
    .await
    .unwrap();
    assert!(matches!(next(&mut a).await, Frame::Message(_)));
    host.close("bye".into(), DEADLINE).await;
}

#[tokio::test]
async fn the_same_app_coming_back_takes_its_place_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut watcher, _, _) = join(addr(&host), "Wat").await;
    let (mut first, welcome, _) = join(addr(&host), "Ann").await;
    assert!(matches!(next(&mut watcher).await, Frame::MemberJoined(m) if m.name == "Ann"));
    // The same device and app run, on a new connection, before the old one timed out.
    let (_second, again, _) = join(addr(&host), "Ann").await;
    assert_eq!(again.you, welcome.you, "Ann keeps her member id");
    assert_eq!(again.members.iter().filter(|m| m.name == "Ann").count(), 1);
    closed(&mut first).await;
    // The watcher saw no leave and no join: the next thing it hears is a post.
    let (mut other, _, _) = join(addr(&host), "Ben").await;
    assert!(matches!(next(&mut watcher).await, Frame::MemberJoined(m) if m.name == "Ben"));
    post(&mut other, 1, "hi").await;
    assert!(matches!(next(&mut watcher).await, Frame::Message(_)));
    assert_eq!(*host.member_count().borrow(), 3);
    host.close("bye".into(), DEADLINE).await;
}

#[tokio::test]
async fn a_rename_is_told_to_everyone() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut ann, _, _) = join(addr(&host), "Ann").await;
    let (mut ben, _, _) = join(addr(&host), "Ben").await;
    ben.send(Frame::Rename {
        name: "Benjamin".into(),
    })
    .await
    .unwrap();
    let Frame::MemberRenamed(m) = next_kind(&mut ann, "member_renamed").await else {
        unreachable!()
    };
    assert_eq!(m.name, "Benjamin");
    let id = post(&mut ben, 1, "new name").await;
    let Frame::Message(m) = next_kind(&mut ann, "message").await else {
        unreachable!()
    };
    assert_eq!((m.id, m.from.as_str()), (id, "Benjamin"));
    host.close("bye".into(), DEADLINE).await;
}

/// A member that stops reading while the room is busy neither slows the others nor keeps
/// the room from closing.
#[tokio::test]
async fn a_member_that_stops_reading_cannot_hold_up_the_room() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (_stuck, _, _) = join(addr(&host), "Zed").await; // never read again
    let (mut ann, _, _) = join(addr(&host), "Ann").await;
    let text = "x".repeat(60 * 1024);
    for seq in 1..=200 {
        // Far more than the stuck member's socket buffers hold.
        post(&mut ann, seq, &text).await;
    }
    tokio::time::timeout(
        DEADLINE,
        host.close("bye".into(), Duration::from_millis(500)),
    )
    .await
    .expect("close finishes although a member stopped reading");
}
