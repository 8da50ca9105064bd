//! The runtime and the member session over loopback, with discovery off: hosting through
//! commands, chatting between two app instances, and a session that waits for its host and
//! rejoins by itself with nothing lost.

use lanchat::bridge::{
    self, Command, Event, EventSender, FrontEnd, HostFailure, JoinFailure, SessionState,
    TransferState, Waiting,
};
use lanchat::net::host::{HostConfig, RoomHost};
use lanchat::net::identity::Identity;
use lanchat::net::link::Timeouts;
use lanchat::net::session::{Session, SessionConfig};
use lanchat::net::trust::KnownHosts;
use lanchat::protocol::RoomId;
use lanchat::runtime::{self, RuntimeOptions};
use lanchat::store::{Change, Paths, Settings};
use std::net::SocketAddr;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(15);

/// Waits for the first event `pick` accepts, skipping others.
async fn wait_for<T>(
    events: &mut bridge::EventReceiver,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let event = events.recv().await.expect("runtime alive");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("the event within the deadline")
}

struct App {
    front: FrontEnd,
    task: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

fn start_app(name: &str) -> App {
    start_app_as(name, None)
}

/// An app whose saved name is `name`, running as `for_this_run` if given.
fn start_app_as(name: &str, for_this_run: Option<&str>) -> App {
    start_app_in(name, for_this_run, tempfile::tempdir().unwrap())
}

/// An app on a data dir of its own, maybe used before.
fn start_app_in(name: &str, for_this_run: Option<&str>, dir: tempfile::TempDir) -> App {
    start_app_with(name, for_this_run, dir, false)
}

/// An app on a data dir of its own; `restore`: back into the rooms it was in, as the window.
fn start_app_with(
    name: &str,
    for_this_run: Option<&str>,
    dir: tempfile::TempDir,
    restore: bool,
) -> App {
    start_app_adjusted(name, for_this_run, dir, restore, |_| {})
}

/// The same, with the runtime's options adjusted first (limits, timeouts).
fn start_app_adjusted(
    name: &str,
    for_this_run: Option<&str>,
    dir: tempfile::TempDir,
    restore: bool,
    adjust: impl FnOnce(&mut RuntimeOptions),
) -> App {
    let (front, back) = bridge::channel();
    let settings = Settings {
        name: Some(name.into()),
        ..Settings::default()
    };
    let mut options = RuntimeOptions {
        downloads: None,
        name: for_this_run.map(str::to_owned),
        bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        discovery: None,
        restore,
        ..RuntimeOptions::profile(Paths::resolve(Some(dir.path().into())).unwrap(), settings)
            .unwrap()
    };
    adjust(&mut options);
    let task = tokio::spawn(runtime::run(back, options));
    App { front, task, dir }
}

impl App {
    async fn stop(mut self) -> tempfile::TempDir {
        self.front.send(Command::Shutdown);
        wait_for(&mut self.front.events, |e| {
            matches!(e, Event::Stopped).then_some(())
        })
        .await;
        self.task.await.unwrap();
        self.dir
    }

    /// Hosts a room and waits until it is open; returns its id and port.
    async fn host(&mut self, name: &str) -> (RoomId, u16) {
        self.front.send(Command::Host {
            name: name.into(),
            id: None,
            password: None,
        });
        wait_for(&mut self.front.events, |e| match e {
            Event::Hosting { room, port, .. } => Some((room, port)),
            _ => None,
        })
        .await
    }

    /// Joins a room on loopback and waits for the welcome.
    async fn join(&mut self, room: &RoomId, port: u16) {
        self.front.send(Command::Join {
            room: room.clone(),
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
            password: None,
        });
        wait_for(&mut self.front.events, |e| {
            matches!(e, Event::Joined { .. }).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn a_new_name_reaches_the_rooms_and_a_name_for_this_run_is_not_saved() {
    let mut ada = start_app("Ada");
    let mut bob = start_app("Bob");
    let (room, port) = ada.host("Lab").await;
    bob.join(&room, port).await;

    bob.front
        .send(Command::Settings(Change::Name("Bobby".into())));
    let renamed = wait_for(&mut ada.front.events, |e| match e {
        Event::MemberRenamed { member, .. } => Some(member),
        _ => None,
    })
    .await;
    assert_eq!((renamed.name.as_str(), renamed.host), ("Bobby", false));
    ada.front
        .send(Command::Settings(Change::Name("Ada L.".into())));
    let renamed = wait_for(&mut bob.front.events, |e| match e {
        Event::MemberRenamed { member, .. } if member.host => Some(member),
        _ => None,
    })
    .await;
    assert_eq!((renamed.name.as_str(), renamed.host), ("Ada L.", true));
    let dir = bob.stop().await;
    let (saved, _) = Settings::load(
        &Paths::resolve(Some(dir.path().into()))
            .unwrap()
            .settings_file(),
    );
    assert_eq!(saved.name.as_deref(), Some("Bobby"));
    ada.stop().await;

    let mut carol = start_app_as("Carol", Some("Carol (laptop)"));
    let (room, _) = carol.host("Kitchen").await;
    let members = wait_for(&mut carol.front.events, |e| match e {
        Event::Joined { members, .. } => Some(members),
        _ => None,
    })
    .await;
    assert_eq!(members[0].name, "Carol (laptop)");
    let dir = carol.stop().await;
    let (saved, _) = Settings::load(
        &Paths::resolve(Some(dir.path().into()))
            .unwrap()
            .settings_file(),
    );
    assert_eq!(
        saved.name.as_deref(),
        Some("Carol"),
        "a name for this run is not saved"
    );
    assert_eq!(saved.hosted[0].id, room, "the hosted room is remembered");
}

#[tokio::test]
async fn two_apps_host_join_and_chat_both_ways() {
    let mut ada = start_app("Ada");
    let mut bob = start_app("Bob");
    ada.front.send(Command::Host {
        name: "Lab".into(),
        id: None,
        password: None,
    });
    let (room, port) = wait_for(&mut ada.front.events, |e| match e {
        Event::Hosting { room, port, .. } => Some((room, port)),
        _ => None,
    })
    .await;
    // The host's own user is a member of the room.
    let members = wait_for(&mut ada.front.events, |e| match e {
        Event::Joined { members, .. } => Some(members),
        _ => None,
    })
    .await;
    assert!(members.iter().any(|m| m.name == "Ada" && m.host));

    bob.front.send(Command::Join {
        room: room.clone(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        password: None,
    });
    let (room_name, members) = wait_for(&mut bob.front.events, |e| match e {
        Event::Joined {
            room_name, members, ..
        } => Some((room_name, members)),
        _ => None,
    })
    .await;
    assert_eq!(room_name, "Lab");
    assert_eq!(members.len(), 2);

    bob.front.send(Command::Send {
        room: room.clone(),
        seq: 1,
        text: "hi Ada".into(),
    });
    let seen = |who: &'static str, text: &'static str| {
        move |e: Event| match e {
            Event::Message { message, .. } if message.from == who && message.text == text => {
                Some(message)
            }
            _ => None,
        }
    };
    let at_ada = wait_for(&mut ada.front.events, seen("Bob", "hi Ada")).await;
    wait_for(&mut bob.front.events, |e| {
        matches!(e, Event::Accepted { seq: 1, .. }).then_some(())
    })
    .await;
    ada.front.send(Command::Send {
        room: room.clone(),
        seq: 1,
        text: "hi Bob".into(),
    });
    let at_bob = wait_for(&mut bob.front.events, seen("Ada", "hi Bob")).await;
    assert!(at_bob.id > at_ada.id);

    // Oversized text is refused before it leaves, with a clear reason.
    bob.front.send(Command::Send {
        room: room.clone(),
        seq: 2,
        text: "x".repeat(70 * 1024),
    });
    let reason = wait_for(&mut bob.front.events, |e| match e {
        Event::Rejected { seq: 2, reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert!(reason.to_string().contains("limit is 64 KiB"), "{reason}");

    // Closing the room is told to the member in words.
    ada.front.send(Command::StopHosting(room.clone()));
    let why = wait_for(&mut bob.front.events, |e| match e {
        Event::Session {
            state: SessionState::Waiting(why),
            ..
        } => Some(why),
        _ => None,
    })
    .await;
    assert!(why.to_string().contains("Ada closed the room"), "{why}");
    wait_for(&mut ada.front.events, |e| {
        matches!(e, Event::HostingStopped { .. }).then_some(())
    })
    .await;
    bob.stop().await;
    ada.stop().await;
}

/// Bob types while Ada's room is away, then his app is closed. Started again, it is back
/// in the room by itself, shows what he had seen and his lines as pending, and delivers
/// them once Ada hosts again: each once, in order. Leaving the room forgets it.
#[tokio::test]
async fn pending_posts_survive_a_restart_of_the_sender() {
    let mut ada = start_app("Ada");
    let mut bob = start_app_with("Bob", None, tempfile::tempdir().unwrap(), true);
    let (room, port) = ada.host("Lab").await;
    bob.join(&room, port).await;
    bob.front.send(Command::Send {
        room: room.clone(),
        seq: 11,
        text: "seen before".into(),
    });
    wait_for(&mut bob.front.events, |e| {
        matches!(e, Event::Accepted { seq: 11, .. }).then_some(())
    })
    .await;
    ada.front.send(Command::StopHosting(room.clone()));
    wait_for(&mut bob.front.events, |e| {
        matches!(
            e,
            Event::Session {
                state: SessionState::Waiting(_),
                ..
            }
        )
        .then_some(())
    })
    .await;
    for (seq, text) in [(21, "typed while away"), (22, "and another")] {
        bob.front.send(Command::Send {
            room: room.clone(),
            seq,
            text: text.into(),
        });
    }
    let dir = bob.stop().await;

    // Bob's app starts again: back in the room, history and pending lines shown.
    let mut bob = start_app_with("Bob", None, dir, true);
    let restored = wait_for(&mut bob.front.events, |e| match e {
        Event::Restored { room_name, .. } => Some(room_name),
        _ => None,
    })
    .await;
    assert_eq!(restored, "Lab");
    let mut pending = Vec::new();
    let shown = wait_for(&mut bob.front.events, |e| match e {
        Event::Message {
            message,
            live: false,
            ..
        } => Some(message.text),
        Event::Pending { seq, .. } => {
            pending.push(seq);
            None
        }
        _ => None,
    })
    .await;
    assert_eq!(shown, "seen before");
    wait_for(&mut bob.front.events, |e| match e {
        Event::Pending { seq, .. } => {
            pending.push(seq);
            (pending.len() == 2).then_some(())
        }
        _ => None,
    })
    .await;
    assert_eq!(pending, [21, 22]);

    // Ada hosts the room again (on its port): Bob's lines arrive, once, in order.
    ada.front.send(Command::Host {
        name: "Lab".into(),
        id: Some(room.clone()),
        password: None,
    });
    let mut accepted = Vec::new();
    wait_for(&mut bob.front.events, |e| match e {
        Event::Accepted { seq, .. } => {
            accepted.push(seq);
            (accepted.len() == 2).then_some(())
        }
        _ => None,
    })
    .await;
    assert_eq!(accepted, [21, 22]);
    // Ada's own session rejoins her room too, and hears its history again: by id, each once.
    let mut stored = std::collections::BTreeMap::new();
    wait_for(&mut ada.front.events, |e| match e {
        Event::Message { message, .. } if message.from == "Bob" => {
            stored.insert(message.id, message.text);
            (stored.len() == 3).then_some(())
        }
        _ => None,
    })
    .await;
    let texts: Vec<&str> = stored.values().map(String::as_str).collect();
    assert_eq!(texts, ["seen before", "typed while away", "and another"]);

    // Leaving forgets the room: the next start is not back in it.
    bob.front.send(Command::Leave(room.clone()));
    let dir = bob.stop().await;
    let mut bob = start_app_with("Bob", None, dir, true);
    bob.front
        .send(Command::Settings(Change::Name("Bob".into())));
    let restored = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            match bob.front.events.recv().await {
                Some(Event::Restored { .. }) => return true,
                Some(_) => {}
                None => return false,
            }
        }
    })
    .await;
    assert!(
        !matches!(restored, Ok(true)),
        "a room left is not joined again"
    );
    bob.stop().await;
    ada.stop().await;
}

/// A machine at a known address answering with another room under a name joined before is
/// not joined on that name: with another key, it is left before it learns anything of ours;
/// with the same key but another room, the join stops and says so. (A fake host answering
/// with a new room id named "Lab" was once joined without a word.)
#[tokio::test]
async fn joining_by_address_and_name_never_switches_to_another_room_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let host = RoomHost::start(host_config(dir.path(), 0)).await.unwrap();
    let port = host.port;
    let mut bob = start_app("Bob");
    let join = |expect: &str| Command::JoinAddress {
        addr: format!("127.0.0.1:{port}"),
        expect: Some(expect.into()),
        password: None,
        trust_new_key: false,
    };
    bob.front.send(join("Lab"));
    wait_for(&mut bob.front.events, |e| match e {
        Event::JoinFailed { error } => panic!("{error}"),
        Event::Joined { .. } => Some(()),
        _ => None,
    })
    .await;
    bob.front
        .send(Command::Leave(RoomId::parse("r00m").unwrap()));
    host.close(lanchat::protocol::CloseCode::Closed, DEADLINE)
        .await;

    // Another machine takes the address with a room it calls Lab.
    let other = tempfile::tempdir().unwrap();
    let impostor = RoomHost::start(HostConfig {
        room: RoomId::parse("fake1ab").unwrap(),
        ..host_config(other.path(), port)
    })
    .await
    .unwrap();
    bob.front.send(join("Lab"));
    let error = wait_for(&mut bob.front.events, |e| match e {
        Event::JoinFailed { error } => Some(error),
        Event::Joined { .. } => panic!("joined the impostor's room"),
        _ => None,
    })
    .await;
    assert!(
        matches!(&error, JoinFailure::NoRoom { .. })
            && error.to_string().contains("presents the key"),
        "{error}"
    );
    impostor
        .close(lanchat::protocol::CloseCode::Closed, DEADLINE)
        .await;

    // Lab's own host, with another room it also calls Lab: said, not joined.
    let second = RoomHost::start(HostConfig {
        room: RoomId::parse("second1ab").unwrap(),
        ..host_config(dir.path(), port)
    })
    .await
    .unwrap();
    bob.front.send(join("Lab"));
    let error = wait_for(&mut bob.front.events, |e| match e {
        Event::JoinFailed { error } => Some(error),
        Event::Joined { .. } => panic!("joined another room by its name"),
        _ => None,
    })
    .await;
    assert!(
        matches!(&error, JoinFailure::NotTheOneJoined { name, .. } if name == "Lab"),
        "{error}"
    );
    // Given its id, it is joined.
    bob.front.send(join("second1ab"));
    wait_for(&mut bob.front.events, |e| match e {
        Event::JoinFailed { error } => panic!("{error}"),
        Event::Joined { room_name, .. } => Some(room_name),
        _ => None,
    })
    .await;
    second
        .close(lanchat::protocol::CloseCode::Closed, DEADLINE)
        .await;
    bob.stop().await;
}

/// Joining by address while the host is restarting: nobody answers at first, and the app
/// asks again by itself until the room is there. An address that answers with another room
/// is told at once.
#[tokio::test]
async fn a_join_by_address_waits_for_a_restarting_host() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut bob = start_app("Bob");
    bob.front.send(Command::JoinAddress {
        addr: format!("127.0.0.1:{port}"),
        expect: Some("Lab".into()),
        password: None,
        trust_new_key: false,
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let host = RoomHost::start(host_config(dir.path(), port))
        .await
        .unwrap();
    assert_eq!(host.port, port);
    let room_name = wait_for(&mut bob.front.events, |e| match e {
        Event::JoinFailed { error } => panic!("gave up: {error}"),
        Event::Joined { room_name, .. } => Some(room_name),
        _ => None,
    })
    .await;
    assert_eq!(room_name, "Lab");

    bob.front.send(Command::JoinAddress {
        addr: format!("127.0.0.1:{port}"),
        expect: Some("Kitchen".into()),
        password: None,
        trust_new_key: false,
    });
    let error = wait_for(&mut bob.front.events, |e| match e {
        Event::JoinFailed { error } => Some(error),
        _ => None,
    })
    .await;
    assert!(
        matches!(&error, JoinFailure::OtherRoom { expected, .. } if expected == "Kitchen"),
        "{error}"
    );
    bob.stop().await;
    host.close(lanchat::protocol::CloseCode::Closed, DEADLINE)
        .await;
}

#[tokio::test]
async fn hosting_an_invalid_name_fails_in_words() {
    let mut app = start_app("Ada");
    app.front.send(Command::Host {
        name: "   ".into(),
        id: None,
        password: None,
    });
    let error = wait_for(&mut app.front.events, |e| match e {
        Event::HostFailed { error, .. } => Some(error),
        _ => None,
    })
    .await;
    assert!(
        matches!(&error, HostFailure::Name(why) if why.to_string().contains("empty")),
        "{error}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_end_that_stops_reading_costs_a_bounded_queue_and_catches_up_from_the_store() {
    const POSTS: usize = bridge::MESSAGE_BACKLOG * 2 + 100;
    let mut ada = start_app_adjusted("Ada", None, tempfile::tempdir().unwrap(), false, |o| {
        o.limits = lanchat::net::limits::Limits::unmetered();
    });
    let (room, port) = ada.host("Flood").await;
    let mut bob = start_app("Bob");
    bob.join(&room, port).await;

    // Bob's front end reads nothing while Ada floods the room.
    for i in 0..POSTS {
        let seq = lanchat::protocol::new_post_seq();
        ada.front.send(Command::Send {
            room: room.clone(),
            seq,
            text: format!("flood {i}"),
        });
    }
    let mut stored = 0;
    while stored < POSTS {
        wait_for(&mut ada.front.events, |e| {
            matches!(e, Event::Accepted { .. }).then_some(())
        })
        .await;
        stored += 1;
    }
    // Bob's session has them all once his database does.
    let bob_db = Paths::resolve(Some(bob.dir.path().into()))
        .unwrap()
        .database_file();
    let reader = rusqlite::Connection::open(&bob_db).unwrap();
    tokio::time::timeout(DEADLINE, async {
        loop {
            let kept: i64 = reader
                .query_row("SELECT COUNT(*) FROM received", [], |r| r.get(0))
                .unwrap();
            if kept as usize >= POSTS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("Bob's session received the flood");

    // What waited for Bob's front end: at most the backlog, then word that he fell behind;
    // the bridge reads the rest back from his database, a page at a time, and hands it over.
    let (mut ids, mut behind, mut queued) = (Vec::new(), false, None);
    tokio::time::timeout(DEADLINE, async {
        loop {
            match bob.front.events.recv().await.expect("runtime alive") {
                Event::Message { message, .. } => ids.push(message.id),
                Event::Behind { room: r } if r == room => {
                    behind = true;
                    queued = Some(ids.len());
                }
                Event::Missed { messages, done, .. } => {
                    ids.extend(messages.iter().map(|m| m.id));
                    if done {
                        break;
                    }
                }
                _ => {}
            }
        }
    })
    .await
    .expect("caught up");
    assert!(behind, "Bob's front end was told it fell behind");
    let queued = queued.unwrap();
    assert!(queued <= bridge::MESSAGE_BACKLOG, "{queued} queued");
    assert_eq!(ids.len(), POSTS, "every message once");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order");
    bob.stop().await;
    ada.stop().await;
}

#[tokio::test]
async fn a_room_slow_to_open_does_not_hold_up_other_commands() {
    let mut app = start_app("Ada");
    app.host("First").await;
    // Something else holds the database's write lock (a slow disk would do the same): a new
    // room cannot write its first row until it lets go.
    let db = Paths::resolve(Some(app.dir.path().into()))
        .unwrap()
        .database_file();
    let blocker = rusqlite::Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    app.front.send(Command::Host {
        name: "Second".into(),
        id: None,
        password: None,
    });
    let elsewhere = app.dir.path().join("elsewhere");
    app.front
        .send(Command::Settings(Change::Downloads(elsewhere.clone())));
    // The command after it is carried out while the room is still opening.
    let first = wait_for(&mut app.front.events, |e| match e {
        Event::Downloads(dir) if dir == elsewhere => Some("downloads"),
        Event::Hosting { .. } | Event::HostFailed { .. } => Some("the room"),
        _ => None,
    })
    .await;
    assert_eq!(
        first, "downloads",
        "the runtime waited for the room to open"
    );
    blocker.execute_batch("COMMIT").unwrap();
    let name = wait_for(&mut app.front.events, |e| match e {
        Event::Hosting { name, .. } => Some(name),
        Event::HostFailed { error, .. } => panic!("the room did not open: {error}"),
        _ => None,
    })
    .await;
    assert_eq!(name, "Second");
    app.stop().await;
}

/// A room kept in `dir`, with the host's key kept there too (so a restart is the same host).
fn host_config(dir: &std::path::Path, port: u16) -> HostConfig {
    let (identity, _) = Identity::load_or_create(&dir.join("identity.key")).unwrap();
    HostConfig {
        port,
        bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        ..HostConfig::new(
            RoomId::parse("r00m").unwrap(),
            "Lab".into(),
            "Ada".into(),
            identity,
            dir.to_path_buf(),
        )
    }
}

/// Bob's session, with the host keys he pins kept in `dir`.
fn session(dir: &std::path::Path, port: u16, events: EventSender) -> Session {
    Session::spawn(session_config(dir, port), events)
}

/// A new device called Bob joining the room at `port`.
fn session_config(dir: &std::path::Path, port: u16) -> SessionConfig {
    SessionConfig {
        room: RoomId::parse("r00m").unwrap(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        name: "Bob".into(),
        identity: Identity::generate(),
        trust: KnownHosts::load(dir.join("bob_known_hosts.json")).0,
        people: lanchat::net::trust::KnownPeople::load(dir.join("bob_known_people.json")).0,
        password: None,
        resume: 7,
        passing: false,
        host_gone: None,
        timeouts: Timeouts::default(),
        store: None,
        directs: None,
    }
}

/// A room host on a thread and runtime of its own, so a test can make it vanish.
struct ThreadHost {
    port: u16,
    /// `true`: vanish (drop the runtime, no goodbye); `false`: close politely.
    stop: std::sync::mpsc::Sender<bool>,
    thread: std::thread::JoinHandle<()>,
}

fn thread_host(dir: &std::path::Path, port: u16) -> ThreadHost {
    let config = host_config(dir, port);
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (stop, stop_rx) = std::sync::mpsc::channel::<bool>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let host = rt.block_on(RoomHost::start(config)).unwrap();
        port_tx.send(host.port).unwrap();
        if stop_rx.recv().unwrap_or(true) {
            drop(host);
            rt.shutdown_background();
        } else {
            rt.block_on(host.close(lanchat::protocol::CloseCode::Closed, DEADLINE));
        }
    });
    ThreadHost {
        port: port_rx.recv_timeout(DEADLINE).unwrap(),
        stop,
        thread,
    }
}

impl ThreadHost {
    fn stop(self, vanish: bool) {
        self.stop.send(vanish).unwrap();
        self.thread.join().unwrap();
    }
}

/// The host vanishes (its runtime is dropped mid-flight, as in a crash); the member says
/// so, keeps what is typed meanwhile, and rejoins by itself when the host is back.
#[tokio::test]
async fn a_vanished_host_is_waited_for_and_rejoined_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let host = thread_host(dir.path(), 0);
    let port = host.port;
    let (mut front, back) = bridge::channel();
    let member = session(dir.path(), port, back.events.clone());
    wait_for(&mut front.events, |e| {
        matches!(e, Event::Joined { .. }).then_some(())
    })
    .await;
    member.post(1, "before".into());
    wait_for(&mut front.events, |e| {
        matches!(e, Event::Accepted { seq: 1, .. }).then_some(())
    })
    .await;

    host.stop(true); // gone without a goodbye
    let why = wait_for(&mut front.events, |e| match e {
        Event::Session {
            state: SessionState::Waiting(why),
            ..
        } => Some(why),
        _ => None,
    })
    .await;
    assert!(
        why.to_string()
            .contains("Ada left — waiting for the room to come back"),
        "{why}"
    );
    member.post(2, "typed while away".into());

    let host = thread_host(dir.path(), port);
    assert_eq!(host.port, port, "the room comes back on its port");
    wait_for(&mut front.events, |e| {
        matches!(e, Event::Joined { .. }).then_some(())
    })
    .await;
    let message = wait_for(&mut front.events, |e| match e {
        Event::Message { message, .. } if message.text == "typed while away" => Some(message),
        Event::Message { message, .. } => {
            assert_ne!(
                message.text, "before",
                "history already seen is not sent again"
            );
            None
        }
        _ => None,
    })
    .await;
    assert_eq!(message.from, "Bob");
    member.leave(DEADLINE).await;
    tokio::task::spawn_blocking(move || host.stop(false))
        .await
        .unwrap();
}

/// A member whose host was away while 1,200 messages were posted (more than the host keeps
/// in memory) gets every one when it rejoins, once and in order, and then hears the history
/// is complete. The poster's 1,200 posts go out a window at a time, each stored once.
#[tokio::test]
async fn a_rejoining_member_catches_up_on_everything_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let config = || HostConfig {
        limits: lanchat::net::limits::Limits::unmetered(),
        ..host_config(dir.path(), 0)
    };
    let host = RoomHost::start(config()).await.unwrap();
    let (mut bob_events, back) = bridge::channel();
    let bob = session(dir.path(), host.port, back.events.clone());
    wait_for(&mut bob_events.events, |e| {
        matches!(e, Event::HistoryDone { .. }).then_some(())
    })
    .await;
    host.close(lanchat::protocol::CloseCode::Closed, DEADLINE)
        .await;

    // Back on another port, which Bob does not know yet: Carol posts meanwhile.
    let host = RoomHost::start(config()).await.unwrap();
    let (mut carol_events, back) = bridge::channel();
    let carol = Session::spawn(
        SessionConfig {
            name: "Carol".into(),
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], host.port))],
            ..session_config(dir.path(), host.port)
        },
        back.events.clone(),
    );
    let total = 1200u64;
    for n in 1..=total {
        carol.post(n, format!("m{n}"));
    }
    let mut answered = 0;
    wait_for(&mut carol_events.events, |e| match e {
        Event::Accepted { .. } => {
            answered += 1;
            (answered == total).then_some(())
        }
        Event::Rejected { reason, .. } => panic!("a post was refused: {reason}"),
        _ => None,
    })
    .await;

    bob.redial(vec![SocketAddr::from(([127, 0, 0, 1], host.port))]);
    let mut texts = Vec::new();
    wait_for(&mut bob_events.events, |e| match e {
        Event::Message { message, .. } => {
            texts.push(message.text);
            None
        }
        Event::HistoryDone { .. } => Some(()),
        _ => None,
    })
    .await;
    let want: Vec<String> = (1..=total).map(|n| format!("m{n}")).collect();
    assert_eq!(texts, want);
    bob.leave(DEADLINE).await;
    carol.leave(DEADLINE).await;
    host.close(lanchat::protocol::CloseCode::Closed, DEADLINE)
        .await;
}

/// The host closes the room on purpose; when discovery sees it again, the session rejoins
/// at once.
#[tokio::test]
async fn a_closed_room_is_rejoined_when_seen_again() {
    let dir = tempfile::tempdir().unwrap();
    let host = RoomHost::start(host_config(dir.path(), 0)).await.unwrap();
    let port = host.port;
    let (mut front, back) = bridge::channel();
    let member = session(dir.path(), port, back.events.clone());
    wait_for(&mut front.events, |e| {
        matches!(e, Event::Joined { .. }).then_some(())
    })
    .await;
    host.close(lanchat::protocol::CloseCode::Closed, DEADLINE)
        .await;
    wait_for(&mut front.events, |e| {
        matches!(
            e,
            Event::Session {
                state: SessionState::Waiting(_),
                ..
            }
        )
        .then_some(())
    })
    .await;

    let host = RoomHost::start(host_config(dir.path(), 0)).await.unwrap();
    member.redial(vec![SocketAddr::from(([127, 0, 0, 1], host.port))]);
    wait_for(&mut front.events, |e| {
        matches!(e, Event::Joined { .. }).then_some(())
    })
    .await;
    member.leave(DEADLINE).await;
    host.close(lanchat::protocol::CloseCode::Closed, DEADLINE)
        .await;
}

/// Ada hosts "Lab" and Bob is in it.
async fn bob_in_adas_room() -> (App, App, RoomId) {
    bob_in_adas_room_restoring(false).await
}

/// The same, Bob's app going back into its rooms when started again (`restore`).
async fn bob_in_adas_room_restoring(restore: bool) -> (App, App, RoomId) {
    let mut ada = start_app("Ada");
    let mut bob = start_app_with("Bob", None, tempfile::tempdir().unwrap(), restore);
    let (room, port) = ada.host("Lab").await;
    bob.join(&room, port).await;
    (ada, bob, room)
}

/// A file shared again is posted again (the host has it: nothing crosses twice), and the
/// sender hears of it as of the first time.
#[tokio::test]
async fn a_file_shared_again_is_posted_again() {
    let (mut ada, mut bob, room) = bob_in_adas_room().await;
    let path = bob.dir.path().join("minutes.txt");
    std::fs::write(&path, b"we agreed on everything").unwrap();
    let mut posted = Vec::new();
    for _ in 0..2 {
        bob.front.send(Command::SendFiles {
            room: room.clone(),
            paths: vec![path.clone()],
        });
        let id = wait_for(&mut bob.front.events, |e| match e {
            Event::Transfer(t) if t.upload => match t.state {
                lanchat::bridge::TransferState::Done { message, .. } => message,
                lanchat::bridge::TransferState::Failed(why) => panic!("not sent: {why}"),
                _ => None,
            },
            _ => None,
        })
        .await;
        // The room hears of it: a message with the file, under the id the sender was told.
        wait_for(&mut ada.front.events, |e| match e {
            Event::Message { message, .. } if message.id == id => message.file,
            _ => None,
        })
        .await;
        posted.push(id);
    }
    assert_ne!(posted[0], posted[1], "two posts: {posted:?}");
    bob.stop().await;
    ada.stop().await;
}

/// A file a member sends to Ada's room is shown arriving in Ada's window: told as it comes,
/// and once it is kept.
#[tokio::test]
async fn a_file_sent_to_a_room_we_host_is_told_arriving() {
    let (mut ada, bob, room) = bob_in_adas_room().await;
    let path = bob.dir.path().join("big.bin");
    std::fs::write(&path, vec![7u8; 3 << 20]).unwrap();
    bob.front.send(Command::SendFiles {
        room: room.clone(),
        paths: vec![path],
    });
    let first = wait_for(&mut ada.front.events, |e| match e {
        Event::Arriving(a) if !a.over => Some(a),
        _ => None,
    })
    .await;
    assert_eq!((first.room.clone(), first.size), (room.clone(), 3 << 20));
    let last = wait_for(&mut ada.front.events, |e| match e {
        Event::Arriving(a) if a.over && a.hash == first.hash => Some(a),
        _ => None,
    })
    .await;
    assert_eq!(last.done, 3 << 20, "kept whole");
    bob.stop().await;
    ada.stop().await;
}

/// A picture we sent is remembered with where it is: after a restart its message offers it
/// again, and its thumbnail is made when the window asks.
#[tokio::test]
async fn a_sent_picture_keeps_its_thumbnail_after_a_restart() {
    let (ada, mut bob, room) = bob_in_adas_room_restoring(true).await;
    let path = bob.dir.path().join("cat.png");
    image::RgbaImage::from_pixel(40, 30, image::Rgba([200, 120, 40, 255]))
        .save(&path)
        .unwrap();
    bob.front.send(Command::SendFiles {
        room: room.clone(),
        paths: vec![path.clone()],
    });
    let hash = wait_for(&mut bob.front.events, |e| match e {
        Event::Transfer(t) if t.upload => match t.state {
            lanchat::bridge::TransferState::Done { .. } => t.hash,
            _ => None,
        },
        _ => None,
    })
    .await;
    let dir = bob.stop().await;
    let mut bob = start_app_with("Bob", None, dir, true);
    let saved = wait_for(&mut bob.front.events, |e| match e {
        Event::Saved { hash: h, path } if h == hash => Some(path),
        _ => None,
    })
    .await;
    assert_eq!(saved, path);
    bob.front.send(Command::Thumbnail {
        hash: hash.clone(),
        path: saved,
    });
    let image = wait_for(&mut bob.front.events, |e| match e {
        Event::Thumbnail { hash: h, image } if h == hash => Some(image),
        _ => None,
    })
    .await;
    assert_eq!(image.width * 3, image.height * 4, "the picture's shape");
    bob.stop().await;
    ada.stop().await;
}

#[tokio::test]
async fn a_saved_download_is_remembered_and_not_fetched_twice() {
    let mut ada = start_app("Ada");
    let mut bob = start_app("Bob");
    let (room, port) = ada.host("Lab").await;
    bob.join(&room, port).await;
    let path = ada.dir.path().join("minutes.txt");
    std::fs::write(&path, b"we agreed on everything").unwrap();
    ada.front.send(Command::SendFiles {
        room: room.clone(),
        paths: vec![path],
    });
    let file = wait_for(&mut bob.front.events, |e| match e {
        Event::Message { message, .. } => message.file,
        _ => None,
    })
    .await;
    let done = |e: Event| match e {
        Event::Transfer(t) => match t.state {
            lanchat::bridge::TransferState::Done {
                path: Some(path), ..
            } => Some(path),
            _ => None,
        },
        _ => None,
    };
    bob.front.send(Command::Download {
        room: room.clone(),
        file: file.clone(),
    });
    let saved = wait_for(&mut bob.front.events, done).await;
    assert_eq!(std::fs::read(&saved).unwrap(), b"we agreed on everything");
    bob.front.send(Command::Download {
        room: room.clone(),
        file: file.clone(),
    });
    assert_eq!(
        wait_for(&mut bob.front.events, done).await,
        saved,
        "asked again: the saved copy"
    );
    let files = std::fs::read_dir(saved.parent().unwrap()).unwrap().count();
    assert_eq!(files, 1, "no second copy");

    // After a restart the app still knows where the file is.
    let dir = bob.stop().await;
    let mut bob = start_app_in("Bob", None, dir);
    let remembered = wait_for(&mut bob.front.events, |e| match e {
        Event::Saved { hash, path } if hash == file.hash => Some(path),
        _ => None,
    })
    .await;
    assert_eq!(remembered, saved);
    bob.stop().await;
    ada.stop().await;
}

/// Files another member shares save themselves, decided by the runtime with no front end
/// asking: a small one is saved; one over the size set, or one in a room whose files all
/// wait, is not. The runtime tells a download it starts before anything after its message,
/// so "not saved" is seen for sure once the next message arrives.
#[tokio::test]
async fn the_runtime_saves_small_files_by_itself_and_leaves_big_ones_and_quiet_rooms_alone() {
    let mut ada = start_app("Ada");
    let dir = tempfile::tempdir().unwrap();
    let mut bob = start_app_adjusted("Bob", None, dir, false, |o| o.settings.auto_save = 100);
    let (room, port) = ada.host("Lab").await;
    bob.join(&room, port).await;
    let share = |ada: &App, name: &str, size: usize| {
        let path = ada.dir.path().join(name);
        std::fs::write(&path, vec![7u8; size]).unwrap();
        ada.front.send(Command::SendFiles {
            room: room.clone(),
            paths: vec![path],
        });
    };
    let say = |ada: &App, seq: u64, text: &str| {
        ada.front.send(Command::Send {
            room: room.clone(),
            seq,
            text: text.into(),
        });
    };
    // Bob's downloads (by file name) told until the message `until` arrives.
    async fn downloads_until(bob: &mut App, until: &str) -> Vec<(String, TransferState)> {
        let mut seen = Vec::new();
        wait_for(&mut bob.front.events, |e| match e {
            Event::Transfer(t) if !t.upload => {
                seen.push((t.name, t.state));
                None
            }
            Event::Message { message, .. } if message.text == until => Some(()),
            _ => None,
        })
        .await;
        seen
    }

    share(&ada, "small.bin", 20);
    let saved = wait_for(&mut bob.front.events, |e| match e {
        Event::Transfer(t) => match t.state {
            TransferState::Done {
                path: Some(path), ..
            } if t.name == "small.bin" => Some(path),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(std::fs::read(&saved).unwrap(), vec![7u8; 20]);

    share(&ada, "big.bin", 500);
    wait_for(&mut bob.front.events, |e| match e {
        Event::Message { message, .. } => message.file.filter(|f| f.name == "big.bin"),
        _ => None,
    })
    .await;
    say(&ada, 1, "after the big one");
    let told = downloads_until(&mut bob, "after the big one").await;
    assert!(told.is_empty(), "over the size set: not saved ({told:?})");

    bob.front.send(Command::Settings(Change::RoomAutoSave {
        room: room.clone(),
        on: false,
    }));
    share(&ada, "tiny.bin", 10);
    wait_for(&mut bob.front.events, |e| match e {
        Event::Message { message, .. } => message.file.filter(|f| f.name == "tiny.bin"),
        _ => None,
    })
    .await;
    say(&ada, 2, "after the tiny one");
    let told = downloads_until(&mut bob, "after the tiny one").await;
    assert!(
        told.is_empty(),
        "a room whose files wait: not saved ({told:?})"
    );
    let downloads = saved.parent().unwrap();
    assert_eq!(std::fs::read_dir(downloads).unwrap().count(), 1);
    bob.stop().await;
    ada.stop().await;
}

/// A password room: no password and a wrong one are refused in words, a retry right after a
/// wrong one waits (the app says so and tries again by itself), and the right one gets in. The password itself never crosses the
/// network (see the namespace capture test); here, what the user sees.
#[tokio::test]
async fn a_password_room_lets_in_only_the_right_password_and_slows_down_guessing() {
    let mut ada = start_app("Ada");
    let mut bob = start_app("Bob");
    ada.front.send(Command::Host {
        name: "Locked".into(),
        id: None,
        password: Some("tulip".into()),
    });
    let (room, port, locked) = wait_for(&mut ada.front.events, |e| match e {
        Event::Hosting {
            room, port, locked, ..
        } => Some((room, port, locked)),
        _ => None,
    })
    .await;
    assert!(locked);
    // The host's own user is let in with the password the host keeps.
    wait_for(&mut ada.front.events, |e| {
        matches!(e, Event::Joined { .. }).then_some(())
    })
    .await;

    async fn needs(events: &mut bridge::EventReceiver) -> String {
        wait_for(events, |e| match e {
            Event::Session {
                state: SessionState::NeedsPassword(why),
                ..
            } => Some(why.to_string()),
            Event::Joined { .. } => panic!("joined without the right password"),
            _ => None,
        })
        .await
    }
    bob.front.send(Command::Join {
        room: room.clone(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        password: None,
    });
    assert_eq!(
        needs(&mut bob.front.events).await,
        "this room needs a password"
    );
    bob.front.send(Command::Unlock {
        room: room.clone(),
        password: "tulips".into(),
    });
    assert_eq!(needs(&mut bob.front.events).await, "wrong password");
    // Even the right password waits after a wrong one; the app waits, then tries it.
    bob.front.send(Command::Unlock {
        room: room.clone(),
        password: "tulip".into(),
    });
    let why = wait_for(&mut bob.front.events, |e| match e {
        Event::Session {
            state: SessionState::Waiting(why),
            ..
        } => Some(why),
        Event::Joined { .. } => panic!("a guess right after a wrong one was not slowed down"),
        _ => None,
    })
    .await;
    assert!(
        why.to_string().contains("too many wrong passwords"),
        "{why}"
    );
    let members = wait_for(&mut bob.front.events, |e| match e {
        Event::Joined { members, .. } => Some(members),
        _ => None,
    })
    .await;
    assert_eq!(members.len(), 2);
    bob.stop().await;
    ada.stop().await;
}

/// Bob was let into a locked room once: it reopens at his next start without asking, from a
/// secret kept owner-only (never the password); once the host changes the password, he is
/// asked again and the old secret is forgotten.
#[tokio::test]
async fn a_password_room_remembers_being_let_in_until_its_password_changes() {
    let mut ada = start_app("Ada");
    let mut bob = start_app_with("Bob", None, tempfile::tempdir().unwrap(), true);
    ada.front.send(Command::Host {
        name: "Locked".into(),
        id: None,
        password: Some("tulip".into()),
    });
    let (room, port) = wait_for(&mut ada.front.events, |e| match e {
        Event::Hosting { room, port, .. } => Some((room, port)),
        _ => None,
    })
    .await;
    let at = vec![SocketAddr::from(([127, 0, 0, 1], port))];
    bob.front.send(Command::Join {
        room: room.clone(),
        addrs: at.clone(),
        password: Some("tulip".into()),
    });
    let joined_without_asking = |e: Event| match e {
        Event::Joined { .. } => Some(()),
        Event::Session {
            state: SessionState::NeedsPassword(why),
            ..
        } => panic!("asked for the password again: {why}"),
        _ => None,
    };
    wait_for(&mut bob.front.events, joined_without_asking).await;
    let paths = Paths::resolve(Some(bob.dir.path().into())).unwrap();
    let file = paths.let_in_file(&room);
    let kept = loop {
        match std::fs::read(&file) {
            Ok(kept) => break kept,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    };
    assert!(
        !kept.windows(5).any(|w| w == b"tulip"),
        "the password itself is not kept"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "only its owner may read it");
    }

    // Bob's app starts again: back in the room, not asked.
    let dir = bob.stop().await;
    let mut bob = start_app_with("Bob", None, dir, true);
    wait_for(&mut bob.front.events, joined_without_asking).await;
    let dir = bob.stop().await;

    // Ada locks the room with another password: Bob's next start asks, and says why.
    ada.front.send(Command::StopHosting(room.clone()));
    ada.front.send(Command::Host {
        name: "Locked".into(),
        id: Some(room.clone()),
        password: Some("rose".into()),
    });
    let port = wait_for(&mut ada.front.events, |e| match e {
        Event::Hosting { port, .. } => Some(port),
        _ => None,
    })
    .await;
    let mut bob = start_app_with("Bob", None, dir, true);
    bob.front.send(Command::Join {
        room: room.clone(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        password: None,
    });
    let why = wait_for(&mut bob.front.events, |e| match e {
        Event::Session {
            state: SessionState::NeedsPassword(why),
            ..
        } => Some(why),
        Event::Joined { .. } => panic!("let in with the old password"),
        _ => None,
    })
    .await;
    assert_eq!(why, lanchat::bridge::PasswordNeed::Wrong);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the old secret is forgotten"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    bob.stop().await;
    ada.stop().await;
}

/// A room "Lab" with `room`'s id, hosted by Eve with the key `eve` on loopback: another
/// machine claiming Ada's room.
async fn eves_lab(room: &RoomId, eve: &Identity, dir: &std::path::Path) -> RoomHost {
    RoomHost::start(HostConfig {
        bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        ..HostConfig::new(
            room.clone(),
            "Lab".into(),
            "Eve".into(),
            eve.clone(),
            dir.to_path_buf(),
        )
    })
    .await
    .unwrap()
}

/// Bob stays out of a machine presenting another key for Ada's room: the room stays, what he
/// writes waits, meeting that machine again asks nothing, and when Ada is back he is in and
/// his lines are delivered.
#[tokio::test]
async fn staying_out_of_a_changed_key_keeps_the_room_and_its_lines_until_the_host_is_back() {
    let (ada, mut bob, room) = bob_in_adas_room().await;
    let ada_dir = ada.stop().await;
    bob.front.send(Command::Send {
        room: room.clone(),
        seq: 1,
        text: "written while away".into(),
    });

    let dir = tempfile::tempdir().unwrap();
    let other = eves_lab(&room, &Identity::generate(), dir.path()).await;
    let at_eve = vec![SocketAddr::from(([127, 0, 0, 1], other.port))];
    bob.front.send(Command::Join {
        room: room.clone(),
        addrs: at_eve.clone(),
        password: None,
    });
    let presented = wait_for(&mut bob.front.events, |e| match e {
        Event::Session {
            state: SessionState::KeyChanged { presented, .. },
            ..
        } => Some(presented),
        _ => None,
    })
    .await;
    bob.front.send(Command::StayOut {
        room: room.clone(),
        key: presented,
    });
    let waiting_for_ada = |e: Event| match e {
        Event::Session {
            state: SessionState::Waiting(Waiting::OtherKey),
            ..
        } => Some(()),
        Event::Session {
            state: SessionState::KeyChanged { .. },
            ..
        } => panic!("asked again about the key stayed out of"),
        Event::Joined { .. } => panic!("joined the other machine"),
        Event::Rejected { .. } => panic!("the line was dropped"),
        _ => None,
    };
    wait_for(&mut bob.front.events, waiting_for_ada).await;
    // Seen there again: still waiting, nothing asked.
    bob.front.send(Command::Join {
        room: room.clone(),
        addrs: at_eve,
        password: None,
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    while let Ok(e) = bob.front.events.try_recv() {
        let _ = waiting_for_ada(e);
    }

    // Ada is back: Bob is in, and his line is delivered.
    let mut ada = start_app_in("Ada", None, ada_dir);
    ada.front.send(Command::Host {
        name: "Lab".into(),
        id: Some(room.clone()),
        password: None,
    });
    let port = wait_for(&mut ada.front.events, |e| match e {
        Event::Hosting { port, .. } => Some(port),
        _ => None,
    })
    .await;
    bob.front.send(Command::Join {
        room: room.clone(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        password: None,
    });
    wait_for(&mut bob.front.events, |e| match e {
        Event::Accepted { seq: 1, .. } => Some(()),
        Event::Rejected { .. } => panic!("the line was dropped"),
        _ => None,
    })
    .await;
    other
        .close(lanchat::protocol::CloseCode::Closed, DEADLINE)
        .await;
    bob.stop().await;
    ada.stop().await;
}

/// Bob joined Ada's room before; now another machine runs a room with its id. Bob's app
/// stops after the host's key: the impostor gets nothing past the first handshake message
/// (no name, no message, no password material), and Bob is asked. Trusting the new key, he
/// joins it.
#[tokio::test]
async fn a_room_whose_host_key_changed_is_not_joined_until_trusted() {
    let mut ada = start_app("Ada");
    let mut bob = start_app("Bob");
    let (room, port) = ada.host("Lab").await;
    bob.join(&room, port).await;
    bob.front.send(Command::Send {
        room: room.clone(),
        seq: 1,
        text: "hello Ada".into(),
    });
    wait_for(&mut bob.front.events, |e| {
        matches!(e, Event::Accepted { .. }).then_some(())
    })
    .await;
    let ada_fingerprint = Identity::load_or_create(&ada.dir.path().join("data/identity.key"))
        .unwrap()
        .0
        .fingerprint();
    ada.stop().await;

    // An impostor that only runs the host's side of the handshake, and tells what it got.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let impostor_addr = listener.local_addr().unwrap();
    let impostor = Identity::generate();
    let (got, mut gotten) = tokio::sync::mpsc::unbounded_channel();
    let key = impostor.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let accepted = lanchat::net::link::accept(stream, &key, &Timeouts::default()).await;
            let _ = got.send(accepted.map(|_| ()).map_err(|e| e.to_string()));
        }
    });
    bob.front.send(Command::Join {
        room: room.clone(),
        addrs: vec![impostor_addr],
        password: None,
    });
    let (known, presented) = wait_for(&mut bob.front.events, |e| match e {
        Event::Session {
            state: SessionState::KeyChanged { known, presented },
            ..
        } => Some((known, presented)),
        Event::Joined { .. } => panic!("joined an impostor"),
        _ => None,
    })
    .await;
    assert_eq!(known, ada_fingerprint);
    assert_eq!(presented, impostor.public());
    let seen = tokio::time::timeout(DEADLINE, gotten.recv()).await.unwrap();
    assert_eq!(
        seen,
        Some(Err("the connection ended".into())),
        "the impostor's handshake never finished: Bob sent nothing of his own"
    );

    // A real host with the impostor's key: once Bob trusts it, he is in.
    let dir = tempfile::tempdir().unwrap();
    let other = eves_lab(&room, &impostor, dir.path()).await;
    bob.front.send(Command::Join {
        room: room.clone(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], other.port))],
        password: None,
    });
    bob.front.send(Command::TrustHostKey {
        room: room.clone(),
        key: impostor.public(),
    });
    let host_key = wait_for(&mut bob.front.events, |e| match e {
        Event::Joined { host_key, .. } => Some(host_key),
        _ => None,
    })
    .await;
    assert_eq!(host_key, impostor.public());
    bob.stop().await;
    other
        .close(lanchat::protocol::CloseCode::Closed, DEADLINE)
        .await;
}
