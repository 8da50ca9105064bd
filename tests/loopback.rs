//! A real room host on 127.0.0.1 with real clients through the real link, no mDNS: joining,
//! fan-out, history, leaving, closing, restarting, who is who, and peers that misbehave.

#[path = "support/client.rs"]
mod client;

use client::{Client, DEADLINE, closed, identity, join_on, join_with, next, next_kind, post};
use lanchat::net::host::{HostConfig, RoomHost};
use lanchat::net::limits::Limits;
use lanchat::protocol::*;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Conn = Client;

fn room_id() -> RoomId {
    RoomId::parse("feedbeef00000001").unwrap()
}

/// Ada's room, with no limit on posts or joins (tests that flood on purpose set their own;
/// every test client here connects from one machine).
async fn start_host(dir: &Path) -> RoomHost {
    start_host_with(dir, Limits::unmetered()).await
}

async fn start_host_with(dir: &Path, limits: Limits) -> RoomHost {
    RoomHost::start(HostConfig {
        bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        limits,
        ..HostConfig::new(
            room_id(),
            "Lab".into(),
            "Ada".into(),
            identity("Ada"),
            dir.to_path_buf(),
        )
    })
    .await
    .expect("host starts")
}

fn addr(host: &RoomHost) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], host.port))
}

fn hello(name: &str, since: Option<u64>) -> Hello {
    Hello {
        passing: false,
        app: APP_VERSION.into(),
        name: name.into(),
        room: room_id(),
        since,
        epoch: None,
        resume: 1,
        password: None,
    }
}

/// A connection as the device called `name`, that has said nothing yet.
async fn connect(addr: SocketAddr, name: &str) -> Conn {
    Client::connect(addr, &identity(name)).await
}

/// Joins as the device called `name` and returns the connection, the welcome, and the
/// history that followed it.
async fn join(addr: SocketAddr, name: &str) -> (Conn, Welcome, Vec<ChatMessage>) {
    join_with(addr, hello(name, None)).await
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
        assert_eq!(m.device, identity("Ben").device());
    }
    assert_eq!(*host.member_count().borrow(), 3);
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// `lanchat send` passes through: its post reaches the room, but nobody sees it join or
/// leave, newcomers do not see it listed, and the member count stays.
#[tokio::test]
async fn a_member_passing_through_is_not_announced_or_counted() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut ann, _, _) = join(addr(&host), "Ann").await;
    let (mut zed, welcome, _) = join_with(
        addr(&host),
        Hello {
            passing: true,
            ..hello("Zed", None)
        },
    )
    .await;
    // Passing through, it is told nothing of the room: not who is in it, not who joins,
    // not what is said (its own post included); only the answers to what it asks.
    assert_eq!(welcome.members.len(), 1, "Zed sees only itself");
    assert_eq!(welcome.history, 0);
    let (_ben, ben_sees, _) = join(addr(&host), "Ben").await;
    assert!(ben_sees.members.iter().all(|m| m.name != "Zed"));
    assert_eq!(*host.member_count().borrow(), 2);
    zed.send(Frame::Post {
        seq: 1,
        text: "the build is on the share".into(),
    })
    .await
    .unwrap();
    let id = match next(&mut zed).await {
        Frame::Accepted { seq: 1, id } => id,
        other => panic!("Zed was told {other:?}"),
    };
    zed.send(Frame::Bye).await.unwrap();
    closed(&mut zed).await;
    // Ann hears Ben join and Zed's post, and nothing of Zed itself, up to her own post
    // made after Zed had gone.
    assert!(matches!(next(&mut ann).await, Frame::MemberJoined(m) if m.name == "Ben"));
    assert!(matches!(next(&mut ann).await, Frame::Message(m) if m.id == id && m.from == "Zed"));
    ann.send(Frame::Post {
        seq: 1,
        text: "thanks".into(),
    })
    .await
    .unwrap();
    loop {
        match next(&mut ann).await {
            Frame::Accepted { seq: 1, .. } => break,
            Frame::MemberJoined(m) | Frame::MemberLeft(m) => panic!("{} announced", m.name),
            _ => {}
        }
    }
    assert_eq!(*host.member_count().borrow(), 2);
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn a_late_joiner_gets_the_history_tail_and_only_what_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut a, _, _) = join(addr(&host), "Ann").await;
    let total = HISTORY_PAGE as u64 + 20;
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
    assert_eq!(welcome.history as usize, HISTORY_PAGE);
    assert_eq!(history.first().unwrap().text, "m21");
    assert_eq!(history.last().unwrap().text, format!("m{total}"));
    assert!(history.windows(2).all(|w| w[0].id + 1 == w[1].id));

    let since = history[history.len() - 3].id;
    let eve = Hello {
        passing: false,
        epoch: Some(welcome.epoch),
        ..hello("Eve", Some(since))
    };
    let (_e, welcome, missed) = join_with(addr(&host), eve).await;
    assert_eq!(welcome.history, 2);
    assert_eq!(
        missed.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        [format!("m{}", total - 1), format!("m{total}")]
    );
    host.close(CloseCode::Closed, DEADLINE).await;
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
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn closing_tells_every_member_and_history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut a, _, _) = join(addr(&host), "Ann").await;
    let (mut b, _, _) = join(addr(&host), "Ben").await;
    post(&mut a, 1, "before the restart").await;
    host.close(CloseCode::Closed, DEADLINE).await;
    for conn in [&mut a, &mut b] {
        assert_eq!(
            next_kind(conn, "closing").await,
            Frame::Closing {
                code: CloseCode::Closed
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
    host.close(CloseCode::Closed, DEADLINE).await;
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
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Waits until the host closes a raw connection.
async fn raw_closed(raw: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let end = tokio::time::timeout(DEADLINE, async {
        while let Ok(n) = raw.read(&mut buf).await
            && n > 0
        {}
    });
    end.await.expect("the host closes the connection");
}

/// Bad peers: each is cut off with the others unaffected.
#[tokio::test]
async fn misbehaving_peers_lose_only_their_own_session() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut good, _, _) = join(addr(&host), "Ann").await;

    // Garbage instead of a handshake.
    let mut raw = TcpStream::connect(addr(&host)).await.unwrap();
    raw.write_all(&[0xc1; 64]).await.unwrap();
    raw_closed(&mut raw).await;

    // A header claiming 4 GiB after joining, inside the encrypted link.
    let (mut conn, _, _) = join(addr(&host), "Big").await;
    conn.send_plain(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    closed(&mut conn).await;

    // A host's frame from a member, and a second hello.
    for bad in [Frame::Pong, Frame::Hello(hello("Twice", None))] {
        let (mut conn, _, _) = join(addr(&host), "Odd").await;
        conn.send(bad).await.unwrap();
        closed(&mut conn).await;
    }

    // A post before the hello.
    let mut conn = connect(addr(&host), "Sly").await;
    conn.send(Frame::Post {
        seq: 1,
        text: "sneaky".into(),
    })
    .await
    .unwrap();
    closed(&mut conn).await;

    // A frame cut off by a hang-up.
    let (mut conn, _, _) = join(addr(&host), "Cut").await;
    conn.send_plain(&[0, 0, 0, 50, 1, 2]).await.unwrap();
    drop(conn);
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
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Ciphertext that is garbage, replayed, or cut short ends only that member's session.
#[tokio::test]
async fn damaged_replayed_or_truncated_ciphertext_closes_only_that_session() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut good, _, _) = join(addr(&host), "Ann").await;
    type Tamper = fn(&client::Tap) -> Vec<u8>;
    let tampered: [(&str, Tamper); 3] = [
        // A well-framed message of random bytes.
        ("Gar", |_| {
            let mut garbage = vec![0u8, 48];
            garbage.extend((0..48).map(|i| (i * 37 + 11) as u8));
            garbage
        }),
        // The hello again, byte for byte: its nonce is spent.
        ("Rep", |tap| tap.message(2)),
        // The start of a message, then nothing more.
        ("Cut", |tap| tap.message(2)[..20].to_vec()),
    ];
    for (name, bytes) in tampered {
        let conn = Client::tapped(addr(&host), &identity(name)).await;
        let (mut conn, _, _) = join_on(conn, hello(name, None)).await;
        assert!(matches!(next(&mut good).await, Frame::MemberJoined(m) if m.name == name));
        let tap = conn.tap.take().unwrap();
        tap.inject(bytes(&tap));
        if name == "Cut" {
            tap.hang_up();
        }
        closed(&mut conn).await;
        assert!(matches!(next(&mut good).await, Frame::MemberLeft(m) if m.name == name));
        post(&mut good, 1, "the room carries on").await;
    }
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Who a member is comes from the key it proved, never from what it says: a member calling
/// itself by the host's name gets neither the host's badge nor its messages' attribution.
#[tokio::test]
async fn a_member_cannot_wear_the_hosts_badge_or_post_as_someone_else() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut ann, _, _) = join(addr(&host), "Ann").await;
    // Mallory joins calling herself Ada, like the host.
    let (mut mallory, welcome, _) =
        join_on(connect(addr(&host), "Mallory").await, hello("Ada", None)).await;
    let me = welcome
        .members
        .iter()
        .find(|m| m.id == welcome.you)
        .unwrap();
    assert!(!me.host, "no host badge for a name");
    assert_eq!(me.device, identity("Mallory").device());
    let id = post(&mut mallory, 1, "I am the host").await;
    let Frame::Message(m) = next_kind(&mut ann, "message").await else {
        unreachable!()
    };
    assert_eq!(m.id, id);
    assert_eq!(
        m.device,
        identity("Mallory").device(),
        "attributed to her key"
    );
    assert_ne!(m.device, identity("Ada").device());
    // The real host's device is the host, whatever it is called.
    let (_ada, welcome, _) =
        join_on(connect(addr(&host), "Ada").await, hello("Someone", None)).await;
    let ada = welcome
        .members
        .iter()
        .find(|m| m.id == welcome.you)
        .unwrap();
    assert!(ada.host);
    // And two members of one name are two devices, told apart by fingerprint.
    let fingerprints: std::collections::BTreeSet<_> = welcome
        .members
        .iter()
        .filter(|m| m.name == "Ada" || m.name == "Someone")
        .map(|m| m.device.fingerprint().unwrap())
        .collect();
    assert_eq!(fingerprints.len(), 2);
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// A member posting as fast as it can is slowed down: past its burst its posts are held and
/// stored at the room's rate, in order, and past what the room holds they are turned away
/// with a reason; the others are not pushed out, nor kept waiting.
#[tokio::test]
async fn a_flood_is_turned_away_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host_with(dir.path(), Limits::default()).await;
    let (mut flood, _, _) = join(addr(&host), "Fld").await;
    let (mut calm, _, _) = join(addr(&host), "Calm").await;
    let sent = 500u64;
    for seq in 1..=sent {
        flood
            .feed(Frame::Post {
                seq,
                text: format!("flood {seq}"),
            })
            .await
            .unwrap();
    }
    flood.flush().await.unwrap();
    // The burst is stored at once and the excess turned away; 256 are held.
    let (mut accepted, mut rejected, mut last) = (0, 0, 0);
    while accepted + rejected < sent - 256 {
        match next(&mut flood).await {
            Frame::Accepted { seq, .. } => {
                assert!(seq > last, "stored in order");
                last = seq;
                accepted += 1;
            }
            Frame::Rejected { code, .. } => {
                assert_eq!(code, RejectCode::TooFast);
                rejected += 1;
            }
            _ => {}
        }
    }
    assert!(rejected > 0, "the flood was slowed");
    assert!(accepted >= 30, "the burst allowance was honoured");
    // The calm member is still in, and still hears the room at once.
    post(&mut calm, 1, "still here").await;
    // The held posts go on being stored, in order.
    loop {
        if let Frame::Accepted { seq, .. } = next(&mut flood).await {
            assert!(seq > last, "stored in order");
            break;
        }
    }
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// An older lanchat gets a refusal it can read; another version's preamble is answered with
/// ours, so the other side knows which of us is older.
#[tokio::test]
async fn another_protocol_version_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    // A version 1 app opens with its hello frame.
    let mut raw = TcpStream::connect(addr(&host)).await.unwrap();
    let v1_hello = rmp_serde::to_vec_named(&serde_json::json!({
        "t": "hello",
        "c": {"protocol": 1, "app": "0.1.0", "name": "Old", "device": "old",
              "room": room_id().as_str(), "since": null, "resume": 1}
    }))
    .unwrap();
    let mut frame = (v1_hello.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&v1_hello);
    raw.write_all(&frame).await.unwrap();
    // Version 1 reads a refusal in words: its frame, as version 1 encodes it.
    #[derive(serde::Deserialize)]
    struct V1Refused {
        t: String,
        c: V1Body,
    }
    #[derive(serde::Deserialize)]
    struct V1Body {
        code: String,
        reason: String,
    }
    let mut len = [0u8; 4];
    tokio::time::timeout(DEADLINE, raw.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut body = vec![0; u32::from_be_bytes(len) as usize];
    raw.read_exact(&mut body).await.unwrap();
    let refused: V1Refused = rmp_serde::from_slice(&body).unwrap();
    assert_eq!(
        (refused.t.as_str(), refused.c.code.as_str()),
        ("refused", "version")
    );
    assert!(
        refused.c.reason.contains("update lanchat"),
        "{}",
        refused.c.reason
    );

    // A future version, and the last before reasons became codes (4): the host says its
    // own and hangs up, so the other side tells its user which of them is older.
    for theirs in [PROTOCOL_VERSION + 1, 4] {
        let mut raw = TcpStream::connect(addr(&host)).await.unwrap();
        let mut preamble = b"LCHT".to_vec();
        preamble.extend_from_slice(&theirs.to_be_bytes());
        raw.write_all(&preamble).await.unwrap();
        let mut answer = [0u8; 6];
        raw.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer[..4], b"LCHT");
        assert_eq!(u16::from_be_bytes([answer[4], answer[5]]), PROTOCOL_VERSION);
        raw_closed(&mut raw).await;
    }

    // A room id this host does not run.
    let mut conn = connect(addr(&host), "Lost").await;
    conn.send(Frame::Hello(Hello {
        passing: false,
        room: RoomId::parse("other").unwrap(),
        ..hello("Lost", None)
    }))
    .await
    .unwrap();
    assert!(matches!(
        next(&mut conn).await,
        Frame::Refused(Refusal {
            code: RefuseCode::WrongRoom,
            ..
        })
    ));
    host.close(CloseCode::Closed, DEADLINE).await;
}

#[tokio::test]
async fn who_names_the_room_without_joining_it() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut a, _, _) = join(addr(&host), "Ann").await;
    let about = lanchat::net::session::ask_who(
        &[addr(&host)],
        &identity("Who"),
        lanchat::net::link::Expect::Anyone,
        &lanchat::net::link::Timeouts::default(),
    )
    .await
    .unwrap();
    assert_eq!(about.key, identity("Ada").public());
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
    host.close(CloseCode::Closed, DEADLINE).await;
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
    host.close(CloseCode::Closed, DEADLINE).await;
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
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// A member that stops reading while the room is busy neither slows the others nor keeps
/// the room from closing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_is_dropped_and_the_others_get_everything() {
    const POSTS: u64 = 3000;
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (_stuck, _, _) = join(addr(&host), "Zed").await; // never read again
    let (mut bob, _, _) = join(addr(&host), "Bob").await;
    let (mut ann, _, _) = join(addr(&host), "Ann").await;
    // Bob reads everything, as a member should.
    let reading = tokio::spawn(async move {
        let (mut messages, mut zed_dropped) = (0, false);
        while messages < POSTS {
            match next(&mut bob).await {
                Frame::Message(m) if m.from == "Ann" => messages += 1,
                Frame::MemberLeft(m) if m.name == "Zed" => zed_dropped = true,
                _ => {}
            }
        }
        (messages, zed_dropped)
    });
    // Far more than Zed's socket buffers and queue hold.
    let text = "x".repeat(8 * 1024);
    for seq in 1..=POSTS {
        post(&mut ann, seq, &text).await;
    }
    let (messages, zed_dropped) = tokio::time::timeout(DEADLINE, reading)
        .await
        .expect("Bob read every message")
        .unwrap();
    assert_eq!(messages, POSTS);
    assert!(zed_dropped, "the member that stopped reading was dropped");
    tokio::time::timeout(
        DEADLINE,
        host.close(CloseCode::Closed, Duration::from_millis(500)),
    )
    .await
    .expect("close finishes although a member stopped reading");
}

/// A member that goes silent (its machine died, a half-open connection) and one that sends a
/// frame a byte at a time (slowloris) are both closed at the idle limit; the room goes on.
#[tokio::test]
async fn silent_and_trickling_members_are_closed_at_the_idle_limit() {
    let dir = tempfile::tempdir().unwrap();
    let host = RoomHost::start(HostConfig {
        bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        timeouts: lanchat::net::link::Timeouts {
            idle: Duration::from_secs(1),
            ..lanchat::net::link::Timeouts::default()
        },
        ..HostConfig::new(
            room_id(),
            "Lab".into(),
            "Ada".into(),
            identity("Ada"),
            dir.path().to_path_buf(),
        )
    })
    .await
    .expect("host starts");

    let (mut silent, _, _) = join(addr(&host), "Zed").await;
    closed(&mut silent).await;

    let (mut trickler, _, _) = join(addr(&host), "Tom").await;
    trickler.send_plain(&[0, 0, 0, 60]).await.unwrap();
    let started = std::time::Instant::now();
    let mut cut_off = false;
    while started.elapsed() < DEADLINE {
        // One byte of the frame every 200 ms: never a whole frame within the idle limit.
        if trickler.send_plain(&[0x90]).await.is_err() {
            cut_off = true;
            break;
        }
        if let Ok(end) = tokio::time::timeout(Duration::from_millis(200), trickler.next()).await
            && !matches!(end, Some(Ok(_)))
        {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "a member trickling one frame was not closed");

    // The room goes on.
    let (mut ann, _, _) = join(addr(&host), "Ann").await;
    post(&mut ann, 1, "still here").await;
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// A TCP connection to the host from the loopback address `from`, as from another machine.
async fn tcp_from(from: [u8; 4], host: &RoomHost) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(addr(host)).await
}

/// One machine opening hundreds of connections and saying nothing cannot keep a member on
/// another machine out.
#[tokio::test]
async fn hundreds_of_idle_connections_from_one_machine_do_not_lock_others_out() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Ok(stream) = tcp_from([127, 0, 0, 2], &host).await {
            idle.push(stream);
        }
    }
    assert!(idle.len() > 100, "the flood got its connections opened");
    // A member on another machine joins, well within the handshake deadline.
    let stream = tcp_from([127, 0, 0, 3], &host).await.unwrap();
    let started = std::time::Instant::now();
    let (ann, timeouts) = (identity("Ann"), lanchat::net::link::Timeouts::default());
    let link =
        lanchat::net::link::connect(stream, &ann, lanchat::net::link::Expect::Anyone, &timeouts);
    let link = tokio::time::timeout(Duration::from_secs(5), link)
        .await
        .expect("the handshake is not held up")
        .unwrap();
    let conn = Client {
        reader: link.reader,
        writer: link.writer,
        host_key: link.remote,
        handshake_hash: link.handshake_hash,
        tap: None,
    };
    let (mut ann, _, _) =
        tokio::time::timeout(Duration::from_secs(5), join_on(conn, hello("Ann", None)))
            .await
            .expect("joined within seconds");
    post(&mut ann, 1, "in").await;
    eprintln!(
        "joined in {:?} beside {} idle connections",
        started.elapsed(),
        idle.len()
    );
    // Most of the flood was closed at once; what is left of it is only its own places.
    let mut closed_at_once = 0;
    for stream in &mut idle {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(20), stream.read(&mut byte)).await
        {
            closed_at_once += 1;
        }
    }
    assert!(
        closed_at_once > 200,
        "{closed_at_once} of {} closed",
        idle.len()
    );
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// Posts `texts` as `conn` and waits until the last is acknowledged.
async fn post_all(conn: &mut Conn, texts: impl Iterator<Item = (u64, String)>) {
    let mut last = None;
    for (seq, text) in texts {
        conn.feed(Frame::Post { seq, text }).await.unwrap();
        last = Some(seq);
    }
    conn.flush().await.unwrap();
    while let Some(want) = last {
        if let Frame::Accepted { seq, .. } = next(conn).await
            && seq == want
        {
            last = None;
        }
    }
}

/// A member that was away while 2,000 messages were posted gets every one on rejoining,
/// once and in order, page by page: the older pages from disk, the last from memory, and
/// messages posted while it catches up after them.
#[tokio::test]
async fn a_member_back_after_2000_messages_gets_all_of_them_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut ann, welcome, _) = join(addr(&host), "Ann").await;
    let seen = post(&mut ann, 1, "before").await;
    post_all(&mut ann, (2..=2001).map(|n| (n, format!("m{n}")))).await;

    let bob = Hello {
        passing: false,
        epoch: Some(welcome.epoch),
        ..hello("Bob", Some(seen))
    };
    let (mut bob, welcome, mut got) = join_with(addr(&host), bob).await;
    assert!(welcome.more, "the welcome says more history follows");
    let mut more = welcome.more;
    let mut asked = 0;
    while more {
        let after = got.last().map_or(seen, |m| m.id);
        bob.send(Frame::History { after: Some(after) })
            .await
            .unwrap();
        asked += 1;
        if asked == 2 {
            // Posted while Bob catches up: it comes after everything older, once.
            post_all(&mut ann, std::iter::once((3000, "during".to_owned()))).await;
        }
        let (count, still) = loop {
            match next(&mut bob).await {
                Frame::Page { count, more } => break (count, more),
                Frame::Message(_) => {} // live, before the last page: that page brings it
                other => panic!("expected a page, got {other:?}"),
            }
        };
        for _ in 0..count {
            let Frame::Message(m) = next(&mut bob).await else {
                panic!("expected a message of the page")
            };
            got.push(m);
        }
        more = still;
    }
    let texts: Vec<String> = got.iter().map(|m| m.text.clone()).collect();
    let mut want: Vec<String> = (2..=2001).map(|n| format!("m{n}")).collect();
    want.push("during".into());
    assert_eq!(texts, want);
    assert!(asked >= 4, "2,001 messages take pages of {HISTORY_PAGE}");
    host.close(CloseCode::Closed, DEADLINE).await;
}

/// A post the host acknowledged is in the history after the host restarts, and sending it
/// again then (as a sender does that never heard the answer) stores nothing new: the answer
/// names the first id. A member that knew another epoch gets the newest page afresh.
#[tokio::test]
async fn an_acknowledged_post_survives_a_restart_and_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let host = start_host(dir.path()).await;
    let (mut ann, welcome, _) = join(addr(&host), "Ann").await;
    let id = post(&mut ann, 77, "kept").await;
    drop(ann);
    host.close(CloseCode::Closed, DEADLINE).await;

    let host = start_host(dir.path()).await;
    let (mut ann, again, history) = join(addr(&host), "Ann").await;
    assert_eq!(again.epoch, welcome.epoch, "the same history goes on");
    assert_eq!(
        history.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["kept"]
    );
    ann.send(Frame::Post {
        seq: 77,
        text: "kept".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        next_kind(&mut ann, "accepted").await,
        Frame::Accepted { seq: 77, id },
        "the post sent again is answered with its first id"
    );
    let stranger = Hello {
        passing: false,
        epoch: Some(welcome.epoch ^ 1),
        ..hello("Cy", Some(id + 5))
    };
    let (_cy, welcome, history) = join_with(addr(&host), stranger).await;
    assert!(!welcome.more);
    assert_eq!(
        history.len(),
        1,
        "another epoch's member gets the newest page"
    );
    let (_dan, _, history) = join(addr(&host), "Dan").await;
    assert_eq!(history.len(), 1, "stored once");
    host.close(CloseCode::Closed, DEADLINE).await;
}
