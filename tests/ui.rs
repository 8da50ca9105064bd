//! The real window's UI driven through egui_kittest, with a real runtime behind it (over
//! loopback, discovery off): naming yourself, hosting through the dialog, chatting, and
//! joining a room from the list.

#[path = "support/window.rs"]
mod window;

#[path = "support/proxy.rs"]
mod proxy;

use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use lanchat::bridge::{self, Command, Event, FrontEnd};
use lanchat::discovery::RoomAd;
use lanchat::protocol::{PROTOCOL_VERSION, RoomId};
use lanchat::runtime::{RuntimeOptions, RuntimeThread};
use lanchat::store::{Paths, Settings};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use window::TestWindow;

const DEADLINE: Duration = Duration::from_secs(20);

/// A window with its own runtime (discovery off, rooms on loopback) and data dir.
fn window(name: Option<&str>) -> (TestWindow, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        name: name.map(str::to_owned),
        ..Settings::default()
    };
    (
        TestWindow::open(options_at(dir.path(), settings, false)),
        dir,
    )
}

/// What a window on the profile in `dir` runs with; `restore` as the app at start (the
/// settings file there, if any, wins over `settings`).
fn options_at(dir: &std::path::Path, settings: Settings, restore: bool) -> RuntimeOptions {
    let paths = Paths::resolve(Some(dir.into())).unwrap();
    let settings = match Settings::load(&paths.settings_file()) {
        (saved, None) if paths.settings_file().exists() => saved,
        _ => settings,
    };
    RuntimeOptions {
        downloads: None,
        name: None,
        discovery: None,
        bind: Some(Ipv4Addr::LOCALHOST.into()),
        restore,
        ..RuntimeOptions::profile(paths, settings).unwrap()
    }
}

#[test]
fn first_start_asks_a_name_then_hosting_through_the_dialog_opens_a_room_to_chat_in() {
    let (mut w, _dir) = window(None);
    w.harness.run();
    assert!(
        w.harness.query_by_label("Welcome to lanchat").is_some(),
        "first start asks for a name"
    );
    // The suggestion is selected: typing replaces it.
    assert!(
        w.harness
            .get_by_label("Your name")
            .value()
            .is_some_and(|v| !v.is_empty())
    );
    w.harness.get_by_label("Your name").type_text("Ada");
    w.harness.key_press(Key::Enter);
    w.shows("You are Ada");
    assert!(w.harness.query_by_label("Welcome to lanchat").is_none());
    assert!(
        w.harness
            .query_by_label("No rooms on this network yet — host one.")
            .is_some()
    );

    w.harness.get_by_label("Host a room").click();
    w.harness.run();
    assert_eq!(
        w.harness.get_by_label("Room name").value().as_deref(),
        Some("Ada's room")
    );
    w.replace_text("Room name", "  ");
    w.harness.get_by_label("Host").click();
    w.harness.run();
    assert!(
        w.harness.query_by_label("The room name is empty").is_some(),
        "a bad name is refused in words"
    );
    w.replace_text("Room name", "Lab");
    w.harness.key_press(Key::Enter);
    w.shows("• connected");
    assert_eq!(
        w.harness.query_all_by_label("Lab").count(),
        2,
        "the room is listed and open"
    );
    w.until("Ada in the member list", |h| {
        h.query_by_label_contains("(host)  (you)").is_some()
    });

    w.harness
        .get_by_label("Message")
        .type_text("hello from the window");
    w.harness.key_press(Key::Enter);
    w.shows_stored("hello from the window");
    assert_eq!(
        w.harness.get_by_label("Message").value().as_deref(),
        Some(""),
        "the composer is cleared"
    );

    // Shift+Enter adds a line instead of sending.
    w.harness.get_by_label("Message").type_text("two");
    w.harness.key_press_modifiers(Modifiers::SHIFT, Key::Enter);
    w.harness.get_by_label("Message").type_text("lines");
    w.harness.key_press(Key::Enter);
    w.shows_stored("two\nlines");

    // Oversized text is refused in words and kept in the composer.
    let big = "x".repeat(65 * 1024 + 10);
    w.harness.get_by_label("Message").type_text(&big);
    w.harness.key_press(Key::Enter);
    w.until("the refusal", |h| {
        h.query_by_label_contains("the limit is 64 KiB").is_some()
    });
    assert_eq!(
        w.harness.get_by_label("Message").value().map(|v| v.len()),
        Some(big.len())
    );
    w.close();
}

/// Another person's app hosting a room in a runtime of its own.
struct OtherHost {
    front: FrontEnd,
    runtime: RuntimeThread,
    room: RoomId,
    port: u16,
    dir: tempfile::TempDir,
    /// The fingerprint its adverts carry.
    fingerprint: String,
}

impl OtherHost {
    /// Its advert, as discovery would report it, reached at `addr`.
    fn advert(&self, name: &str, addr: SocketAddr) -> RoomAd {
        RoomAd {
            id: self.room.clone(),
            name: name.into(),
            host: "Bob".into(),
            members: 1,
            locked: false,
            protocol: PROTOCOL_VERSION,
            addrs: vec![addr],
            fingerprint: Some(self.fingerprint.clone()),
        }
    }

    /// Stops its app; returns its profile, to start it again.
    fn stop(self) -> tempfile::TempDir {
        self.front.send(Command::Shutdown);
        self.runtime.join();
        self.dir
    }
}

/// Hosts a room in a runtime of its own, as another person's app would.
fn other_host(name: &str, room: &str) -> OtherHost {
    other_host_locked(name, room, None)
}

fn other_host_locked(name: &str, room: &str, password: Option<&str>) -> OtherHost {
    other_host_of(name, room, None, password)
}

/// Hosts `room` (with this id, if given), as another person's app would.
fn other_host_of(name: &str, room: &str, id: Option<RoomId>, password: Option<&str>) -> OtherHost {
    other_host_in(tempfile::tempdir().unwrap(), name, room, id, password)
}

/// Hosts a room whose history already holds `count` messages from Bob ("h0", "h1", …).
fn other_host_with_history(room: &str, count: u64) -> OtherHost {
    let dir = tempfile::tempdir().unwrap();
    let id = hosted_history(dir.path(), count, |_| None);
    other_host_in(dir, "Bob", room, Some(id), None)
}

fn other_host_in(
    dir: tempfile::TempDir,
    name: &str,
    room: &str,
    id: Option<RoomId>,
    password: Option<&str>,
) -> OtherHost {
    let (mut front, back) = bridge::channel();
    let settings = Settings {
        name: Some(name.into()),
        ..Settings::default()
    };
    let options = RuntimeOptions {
        downloads: None,
        name: None,
        bind: Some(Ipv4Addr::LOCALHOST.into()),
        discovery: None,
        ..RuntimeOptions::profile(Paths::resolve(Some(dir.path().into())).unwrap(), settings)
            .unwrap()
    };
    let fingerprint = options.identity.fingerprint();
    let runtime = RuntimeThread::spawn(back, options).unwrap();
    let (wake, wakes) = std::sync::mpsc::channel();
    front.set_waker(move || {
        let _ = wake.send(());
    });
    front.send(Command::Host {
        name: room.into(),
        id,
        password: password.map(str::to_owned),
    });
    let start = Instant::now();
    loop {
        while let Ok(event) = front.events.try_recv() {
            if let Event::Hosting { room, port, .. } = event {
                return OtherHost {
                    front,
                    runtime,
                    room,
                    port,
                    dir,
                    fingerprint,
                };
            }
        }
        let left = DEADLINE.saturating_sub(start.elapsed());
        wakes.recv_timeout(left).expect("the other host starts");
    }
}

/// The room `host` hosts, found on the network under `name` and joined from the list; returns
/// once the window is in it.
fn enter(w: &mut TestWindow, host: &OtherHost, name: &str) {
    let at = SocketAddr::from(([127, 0, 0, 1], host.port));
    w.inject.send(Event::RoomFound(host.advert(name, at)));
    w.shows(name);
    w.harness.get_by_label(name).click();
    w.until("in the room", |h| {
        h.state()
            .state
            .chats
            .get(&host.room)
            .is_some_and(|c| c.state == lanchat::bridge::SessionState::Connected)
    });
}

#[test]
fn a_room_found_on_the_network_is_listed_and_joined_from_the_list() {
    let bob = other_host("Bob", "Bob's room");
    let room = bob.room.clone();
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    let advert = bob.advert("Bob's room", SocketAddr::from(([127, 0, 0, 1], bob.port)));
    w.inject.send(Event::RoomFound(advert.clone()));
    w.shows("Bob's room");
    assert!(
        w.harness
            .query_by_label("hosted by Bob · 1 member")
            .is_some()
    );

    w.harness.get_by_label("Bob's room").click();
    w.shows("• connected");
    w.until("both members", |h| {
        h.query_by_label("Bob  (host)").is_some() && h.query_by_label("Ada  (you)").is_some()
    });

    // The host's key is shown, to compare with Bob's.
    assert!(
        w.harness
            .query_by_label(&format!("🔑 {}", bob.fingerprint))
            .is_some()
    );
    bob.front.send(Command::Send {
        room: room.clone(),
        seq: 1,
        text: "welcome, Ada".into(),
    });
    w.shows("welcome, Ada");
    w.harness.get_by_label("Message").type_text("thanks Bob");
    w.harness.get_by_label("Send").click();
    w.shows_stored("thanks Bob");

    // Joined, it is one of "Your rooms"; the network list has nothing else.
    assert!(w.harness.query_by_label("Your rooms").is_some());
    assert!(
        w.harness
            .query_by_label("No other rooms right now.")
            .is_some()
    );
    let listed_and_open = |w: &TestWindow| w.harness.query_all_by_label("Bob's room").count();
    assert_eq!(listed_and_open(&w), 2);
    // The room's advert goes away: it stays in "Your rooms", and the open chat stays.
    w.inject.send(Event::RoomLost(advert.key()));
    w.harness.run();
    assert_eq!(listed_and_open(&w), 2);
    w.harness.get_by_label("Leave").click();
    w.shows("Pick a room on the left, or host one.");
    w.close();
    bob.stop();
}

/// A file dropped on the window, as the OS hands it over.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_dropped_file_becomes_an_offer_with_a_progress_bar_and_a_shared_file_arrives() {
    // Bob hosts; Ada reaches his room over a slow link (1 MiB/s), so transfers take seconds.
    let bob = other_host("Bob", "Bob's room");
    let room = bob.room.clone();
    let net = tokio::runtime::Runtime::new().unwrap();
    let link = net.block_on(proxy::slow_proxy(
        SocketAddr::from(([127, 0, 0, 1], bob.port)),
        1 << 20,
    ));
    let (mut w, dir) = window(Some("Ada"));
    w.harness.run();
    w.inject
        .send(Event::RoomFound(bob.advert("Bob's room", link)));
    w.shows("Bob's room");
    w.harness.get_by_label("Bob's room").click();
    w.shows("• connected");

    // Drop a file: it is offered at once, with a progress bar, then posted to the room.
    let path = dir.path().join("holiday.bin");
    std::fs::write(&path, vec![42u8; 3_000_000]).unwrap();
    w.harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(path.clone())));
    w.until("the upload's progress bar", |h| {
        h.query_all_by_role(egui::accesskit::Role::ProgressIndicator)
            .next()
            .is_some()
            && h.query_all_by_label_contains(" of 3.0 MB").next().is_some()
    });
    w.until("the file in the room, and the upload row gone", |h| {
        h.query_by_label("You sent this file").is_some()
            && h.query_all_by_role(egui::accesskit::Role::ProgressIndicator)
                .next()
                .is_none()
    });

    // Bob shares a file: it downloads by itself, with its progress, and can be opened.
    let notes = bob.dir.path().join("notes.bin");
    std::fs::write(&notes, vec![7u8; 2_000_000]).unwrap();
    bob.front.send(Command::SendFiles {
        room: room.clone(),
        paths: vec![notes],
    });
    w.until("the download's progress bar", |h| {
        h.query_all_by_label_contains(" of 2.0 MB").next().is_some()
    });
    w.until("the received file", |h| {
        h.query_by_label("Open").is_some() && h.query_by_label("Show in folder").is_some()
    });
    let saved = w
        .harness
        .state()
        .state
        .files
        .downloads_dir
        .clone()
        .unwrap()
        .join("notes.bin");
    assert_eq!(std::fs::read(saved).unwrap(), vec![7u8; 2_000_000]);

    w.close();
    bob.stop();
}

/// A locked room asks for its password before anything is sent; a wrong one is said so, a
/// retry right after is asked to wait, and the right one gets in.
#[test]
fn a_password_room_asks_for_the_password_and_says_when_it_is_wrong() {
    let bob = other_host_locked("Bob", "Bob's vault", Some("tulip"));
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    let advert = RoomAd {
        locked: true,
        ..bob.advert("Bob's vault", SocketAddr::from(([127, 0, 0, 1], bob.port)))
    };
    w.inject.send(Event::RoomFound(advert));
    w.shows("🔒 Bob's vault");
    w.harness.get_by_label("🔒 Bob's vault").click();
    w.shows("This room needs a password.");
    assert!(
        w.harness
            .state()
            .state
            .chats
            .values()
            .all(|c| !c.asked_to_join)
    );

    w.harness.get_by_label("Password").type_text("tulips");
    w.harness.get_by_label("Join").click();
    w.shows("Wrong password");
    // The host makes a second guess wait: the dialog says it is checking (not "Wrong
    // password" still), then the window gets in by itself.
    w.replace_text("Password", "tulip");
    w.harness.get_by_label("Join").click();
    w.harness.run_steps(2);
    assert!(w.harness.query_by_label_contains("Checking…").is_some());
    assert!(w.harness.query_by_label("Wrong password").is_none());
    w.shows("• connected");
    assert!(
        w.harness
            .query_by_label("This room needs a password.")
            .is_none()
    );
    w.close();
    bob.stop();
}

/// Ada joined Bob's room before; now another machine (Eve's) runs a room with its id. The
/// window warns with both fingerprints before anything is sent, and joins only when Ada
/// trusts the new key. Each side's fingerprint is on screen to compare.
#[test]
fn a_changed_host_key_is_shown_and_trusted_only_on_request() {
    let bob = other_host("Bob", "Lab");
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    let me = w.harness.state().state.fingerprint.clone();
    w.shows(&format!("🔑 {me}"));
    // A fingerprint is copied by a click, to paste where two people compare it.
    w.harness.get_by_label(&format!("🔑 {me}")).click();
    w.harness.step();
    assert!(copied(&w, &me), "the fingerprint is on the clipboard");
    let advert = bob.advert("Lab", SocketAddr::from(([127, 0, 0, 1], bob.port)));
    w.inject.send(Event::RoomFound(advert.clone()));
    w.shows("Lab");
    w.harness.get_by_label("Lab").click();
    w.shows("• connected");
    w.shows(&format!("🔑 {}", bob.fingerprint));
    w.harness.get_by_label("Leave").click();
    w.shows("Pick a room on the left, or host one.");
    let (room, bob_fingerprint) = (bob.room.clone(), bob.fingerprint.clone());
    w.inject.send(Event::RoomLost(advert.key()));
    bob.stop();

    let eve = other_host_of("Eve", "Lab", Some(room.clone()), None);
    let impostor = eve.advert("Lab", SocketAddr::from(([127, 0, 0, 1], eve.port)));
    w.inject.send(Event::RoomFound(impostor));
    w.shows("⚠ Lab");
    w.until("the row flagged", |h| {
        h.query_by_label_contains("⚠ different key").is_some()
    });
    w.harness.get_by_label("⚠ Lab").click();
    w.shows("⚠ Lab may not be the room you know");
    w.shows(&bob_fingerprint);
    w.shows(&eve.fingerprint);
    w.harness.get_by_label("Stay out").click();
    // The room stays, waiting for the host known; the entry says what it is when clicked,
    // and the key stayed out of can still be trusted from there.
    w.until("waiting for the host known", |h| {
        h.state().state.chats[&room].state
            == lanchat::bridge::SessionState::Waiting(lanchat::bridge::Waiting::OtherKey)
    });
    w.harness.get_by_label("⚠ Lab").click();
    w.shows("⚠ Another machine presents Lab");
    w.shows(&eve.fingerprint);
    w.harness.get_by_label("Trust this key instead").click();
    w.shows("• connected");
    w.shows(&format!("🔑 {}", eve.fingerprint));
    w.close();
    eve.stop();
}

/// A long room name is cut short in the sidebar (which keeps its width) and in the header
/// (with a gap before the room's state); a locked room being let in says "Checking…".
#[test]
fn a_long_room_name_keeps_the_sidebar_narrow() {
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    let long = "The quarterly planning room for the whole engineering floor";
    w.harness.state_mut().state.host(long, "").unwrap();
    w.until("hosting", |h| !h.state().state.rooms.hosting.is_empty());
    w.harness.run();
    // The sidebar ends where the composer's first button starts (at 266 points with a
    // short name; a long one used to push it to 399).
    let attach = w.harness.get_by_label("Attach…").rect();
    assert!(
        attach.left() < 280.0,
        "the sidebar kept its width: the composer starts at {}",
        attach.left()
    );
    w.close();
}

/// At the smallest window size the room is still usable: the room list becomes a drawer,
/// the member list a menu in the header, the composer keeps its width, and a long room name
/// is cut short rather than drawn under the header's buttons.
#[test]
fn a_room_is_usable_in_the_smallest_window() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        name: Some("Ada".into()),
        ..Settings::default()
    };
    let size = [520.0, 360.0];
    let mut w = TestWindow::open_sized(options_at(dir.path(), settings, false), size);
    w.harness.run();
    // Nothing open: the room list is the window.
    w.harness.get_by_label("Host a room").click();
    w.harness.run();
    let long = "The quarterly planning room for the whole second floor";
    w.replace_text("Room name", long);
    w.harness.key_press(Key::Enter);
    w.shows("• connected");
    assert!(
        w.harness.query_by_label("Host a room").is_none(),
        "the list has made way"
    );
    let inside =
        |rect: egui::Rect| rect.min.x >= 0.0 && rect.max.x <= size[0] && rect.max.y <= size[1];
    for label in [
        "Message",
        "Send",
        "Attach…",
        "Close room",
        "👥 1",
        "☰ Rooms",
    ] {
        let node = w.harness.get_by_label(label);
        assert!(
            inside(node.rect()),
            "{label} at {:?} is off the window",
            node.rect()
        );
    }
    // Beside "Attach…" and "Send", the field has the rest of the width.
    let field = w.harness.get_by_label("Message").rect();
    assert!(field.width() > 250.0, "the message field is {field:?}");
    let title = w
        .harness
        .get_by_label_contains("The quarterly planning")
        .rect();
    for control in ["Close room", "👥 1", "• connected"] {
        let rect = w.harness.get_by_label(control).rect();
        assert!(
            !title.intersects(rect),
            "the room name {title:?} runs under {control} {rect:?}"
        );
    }
    w.harness
        .get_by_label("Message")
        .type_text("small but fine");
    w.harness.key_press(Key::Enter);
    w.shows_stored("small but fine");

    // The drawer opens over the room and closes once something is picked in it.
    w.harness.get_by_label("☰ Rooms").click();
    w.harness.run();
    assert!(w.harness.query_by_label("Host a room").is_some());
    w.harness.get_by_label("Host a room").click();
    w.harness.run();
    w.replace_text("Room name", "Second");
    w.harness.key_press(Key::Enter);
    w.until("the second room open", |h| {
        h.query_by_label("Second").is_some() && h.query_by_label("Host a room").is_none()
    });
    w.close();
}

/// At 800 pixels both side panels stay, and the message field still has room.
#[test]
fn at_800_pixels_the_message_field_keeps_its_room() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        name: Some("Ada".into()),
        ..Settings::default()
    };
    let mut w = TestWindow::open_sized(options_at(dir.path(), settings, false), [800.0, 600.0]);
    w.harness.run();
    w.harness.get_by_label("Host a room").click();
    w.harness.run();
    w.harness.key_press(Key::Enter);
    w.shows("• connected");
    assert!(w.harness.query_by_label("Host a room").is_some());
    let field = w.harness.get_by_label("Message").rect();
    assert!(field.width() > 300.0, "the message field is {field:?}");
    w.close();
}

/// Where the system has no file dialog (a Linux desktop without an XDG portal or zenity),
/// "Attach…" opens a picker drawn in the window, and what is chosen there is sent.
#[test]
fn without_a_system_file_dialog_files_are_picked_in_the_window() {
    let (mut w, dir) = window(Some("Ada"));
    let folder = dir.path().join("to send");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("notes.txt"), b"minutes of the meeting").unwrap();
    let long = "an extremely long name for a file that nobody would ever type by hand.txt";
    std::fs::write(folder.join(long), b"x").unwrap();
    std::fs::create_dir(folder.join("more")).unwrap();
    std::fs::write(folder.join("more").join("only.txt"), b"x").unwrap();
    w.harness
        .state_mut()
        .picker
        .use_builtin(Some(folder.clone()));
    w.harness.run();
    w.harness.get_by_label("Host a room").click();
    w.harness.run();
    w.harness.key_press(Key::Enter);
    w.shows("• connected");

    w.harness.get_by_label("Attach…").click();
    w.harness.run();
    w.harness.get_by_label("Files…").click();
    w.harness.run();
    w.shows("Send files to the room");
    w.shows("notes.txt");
    // Each file shows its size; ticking one moves nothing (the next click lands where the
    // eye aimed), even beside a very long name.
    assert!(
        w.harness.query_by_label("22 bytes").is_some(),
        "the size is shown"
    );
    let heading = |w: &TestWindow| w.harness.get_by_label("Send files to the room").rect();
    let before = heading(&w);
    w.harness.get_by_label("notes.txt").click();
    w.harness.run();
    assert_eq!(heading(&w), before, "the picker stays where it was");
    w.harness
        .get_by_label_contains("an extremely long name")
        .click();
    w.harness.run();
    assert_eq!(heading(&w), before, "the picker stays where it was");
    w.harness
        .get_by_label_contains("an extremely long name")
        .click();
    w.harness.run();
    // Nor does opening a folder with fewer entries.
    w.harness.get_by_label("📁 more").click();
    w.shows("only.txt");
    assert_eq!(heading(&w), before, "the picker stays where it was");
    w.harness.get_by_label("⬆ Up").click();
    w.shows("notes.txt");
    w.harness.get_by_label("Send 1 file").click();
    w.until("the file in the room", |h| {
        h.query_by_label("You sent this file").is_some()
    });
    assert!(w.harness.query_by_label("Send files to the room").is_none());

    // A folder: its files go, each named by its path inside it.
    w.harness.get_by_label("Attach…").click();
    w.harness.run();
    w.harness.get_by_label("A folder…").click();
    w.harness.run();
    w.shows("Send a folder to the room");
    w.harness.get_by_label("📁 more").click();
    w.shows("📄 only.txt");
    w.harness.get_by_label("Send “more”").click();
    w.until("the folder's file in the room", |h| {
        h.query_by_label("more/only.txt").is_some()
    });
    assert!(
        w.harness
            .query_by_label("Send a folder to the room")
            .is_none()
    );
    w.close();
}

#[test]
fn two_rooms_count_unread_and_mentions_and_only_others_live_messages_notify() {
    let bob = other_host("Bob", "Bob's room");
    let carol = other_host("Carol", "Carol's room");
    let say = |host: &OtherHost, seq: u64, text: &str| {
        host.front.send(Command::Send {
            room: host.room.clone(),
            seq,
            text: text.into(),
        })
    };
    say(&bob, 1, "before you came");
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    for (host, name) in [(&bob, "Bob's room"), (&carol, "Carol's room")] {
        enter(&mut w, host, name);
        if host.room == bob.room {
            w.shows("before you came");
        }
    }
    let open = |w: &TestWindow| w.harness.state().state.open.clone();
    assert_eq!(open(&w), Some(carol.room.clone()));
    assert!(
        w.notifications.try_recv().is_err(),
        "history and joins raise no notification"
    );

    // Two messages in the room not on screen: counted, the second a mention.
    say(&bob, 2, "hello Ada");
    say(&bob, 3, "@Ada look at this");
    let unread = |w: &TestWindow, room: &RoomId| w.harness.state().state.chats[room].unread;
    w.until("two unread", |h| {
        h.state().state.chats[&bob.room].unread == 2
    });
    w.harness.run();
    assert!(
        w.harness.query_by_label("@ 2").is_some(),
        "a mention is marked"
    );
    assert_eq!(w.harness.state().title, "(2) Carol's room — lanchat");
    let first = w.notifications.recv_timeout(DEADLINE).unwrap();
    assert_eq!(
        (first.title.as_str(), first.body.as_str()),
        ("Bob in Bob's room", "hello Ada")
    );
    let second = w.notifications.recv_timeout(DEADLINE).unwrap();
    assert_eq!(second.body, "@Ada look at this");

    // A message in the room on screen, in a focused window: read as it comes.
    say(&carol, 1, "in front of you");
    w.shows("in front of you");
    assert_eq!(unread(&w, &carol.room), 0);

    // A draft stays with its room; opening a room reads it.
    w.harness.get_by_label("Message").type_text("half written");
    w.harness.run();
    w.harness.get_by_label("Bob's room").click();
    w.harness.run();
    assert!(
        w.harness.get_by_label("Message").is_focused(),
        "a room opened from the list takes the keyboard to its message field"
    );
    assert_eq!(unread(&w, &bob.room), 0);
    assert_eq!(w.harness.state().title, "Bob's room — lanchat");
    assert_eq!(
        w.harness.get_by_label("Message").value().as_deref(),
        Some("")
    );
    // Ctrl+Tab goes to the next of our rooms.
    w.harness.key_press_modifiers(Modifiers::CTRL, Key::Tab);
    w.harness.run();
    assert_eq!(open(&w), Some(carol.room.clone()));
    assert_eq!(
        w.harness.get_by_label("Message").value().as_deref(),
        Some("half written")
    );

    // Our own message notifies nobody; the window unfocused, the open room's do.
    w.harness.get_by_label("Send").click();
    w.shows_stored("half written");
    w.harness.input_mut().focused = false;
    w.harness.run();
    say(&carol, 2, "while you were away");
    w.shows("while you were away");
    assert_eq!(unread(&w, &carol.room), 1);
    let third = w.notifications.recv_timeout(DEADLINE).unwrap();
    assert_eq!(third.body, "while you were away");
    assert!(w.notifications.try_recv().is_err(), "one per message");
    w.harness.input_mut().focused = true;
    w.harness.run();
    assert_eq!(
        unread(&w, &carol.room),
        0,
        "read once the window has the keyboard"
    );

    // Bob's app goes away: his room stays among ours, waiting for him.
    bob.stop();
    w.shows("hosted by Bob · waiting for the host");
    assert!(w.harness.query_by_label("Bob's room").is_some());
    w.close();
    carol.stop();
}

#[test]
fn where_you_left_off_jump_to_latest_grouped_messages_and_mentions_typed() {
    let bob = other_host("Bob", "Bob's room");
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    enter(&mut w, &bob, "Bob's room");
    let say = |seq: u64| {
        bob.front.send(Command::Send {
            room: bob.room.clone(),
            seq,
            text: format!("m{seq}"),
        })
    };
    for seq in 1..=40 {
        say(seq);
    }
    w.shows("m40");
    w.harness.run();
    // One sender, minutes apart at most: one header over the group.
    assert!(w.harness.query_all_by_label_contains("m3").count() >= 2);
    assert!(w.harness.query_all_by_label("Bob").count() <= 1);

    // Scrolled up, new messages are counted on a button that brings the list down.
    let over = w.harness.get_by_label("m40").rect().center();
    w.harness.hover_at(over);
    w.harness.input_mut().events.push(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, 3000.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers: Modifiers::NONE,
    });
    w.harness.run_steps(20); // the scroll is animated
    assert!(w.harness.query_by_label("m40").is_none(), "scrolled up");
    say(41);
    say(42);
    w.shows("Jump to latest (2 new)");
    w.harness.get_by_label("Jump to latest (2 new)").click();
    w.harness.run_steps(20);
    assert!(w.harness.query_by_label("m42").is_some());
    assert!(
        w.harness
            .query_by_label_contains("Jump to latest")
            .is_none()
    );

    // What came while the window was away is under a divider where reading stopped.
    w.harness.input_mut().focused = false;
    w.harness.run();
    say(43);
    w.shows("m43");
    w.harness.input_mut().focused = true;
    w.harness.run();
    assert!(w.harness.query_by_label("1 new message").is_some());

    // Typing a mention offers the names it could be; a click completes it.
    w.harness.get_by_label("Message").type_text("thanks @Bo");
    w.harness.run_steps(10);
    w.harness.get_by_label("@Bob").click();
    w.harness.run_steps(10);
    assert_eq!(
        w.harness.get_by_label("Message").value().as_deref(),
        Some("thanks @Bob ")
    );

    // The room's notifications turned off from its bell, and the choice shown.
    w.harness
        .get_by_label_contains("Room notifications and files")
        .click();
    w.harness.run_steps(10);
    w.harness.get_by_label("Nothing").click();
    w.harness.run_steps(10);
    assert!(
        w.harness
            .query_by_label("Room notifications and files (now: nothing)")
            .is_some()
    );
    assert_eq!(
        w.harness.state().state.preferences.alerts_of(&bob.room),
        lanchat::store::Alerts::Nothing
    );
    w.close();
    bob.stop();
}

/// Whether the window's last frame put `text` on the clipboard.
fn copied(w: &TestWindow, text: &str) -> bool {
    w.harness
        .output()
        .platform_output
        .commands
        .contains(&egui::OutputCommand::CopyText(text.to_owned()))
}

/// Ada's window, in the room Bob's app hosts ("Bob's room").
fn ada_in_bobs_room() -> (OtherHost, TestWindow, tempfile::TempDir) {
    let bob = other_host("Bob", "Bob's room");
    let (mut w, dir) = window(Some("Ada"));
    w.harness.run();
    enter(&mut w, &bob, "Bob's room");
    (bob, w, dir)
}

/// The list scrolled up by the mouse wheel over it, as far as `by` points.
fn scroll_up(w: &mut TestWindow, by: f32) {
    let over = w.harness.get_by_label("Message").rect().center() - egui::vec2(0.0, 200.0);
    w.harness.hover_at(over);
    w.harness.input_mut().events.push(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, by),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers: Modifiers::NONE,
    });
    w.harness.run_steps(20); // the scroll is animated
}

/// Whether the newest message of `room` is on screen, and nothing is counted below it.
fn at_the_newest(w: &TestWindow, room: &RoomId) -> bool {
    let chat = &w.harness.state().state.chats[room];
    let newest = chat.lines.iter().rev().find_map(|l| match l {
        lanchat::app::state::Line::Chat { message } => Some(message.text.clone()),
        _ => None,
    });
    newest.is_some_and(|text| w.harness.query_by_label(&text).is_some())
        && w.harness
            .query_by_label_contains("Jump to latest")
            .is_none()
}

#[test]
fn sending_while_scrolled_up_brings_you_to_your_message() {
    let bob = other_host_with_history("Archive", 300);
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    enter(&mut w, &bob, "Archive");
    w.shows("h299");
    scroll_up(&mut w, 3000.0);
    assert!(w.harness.query_by_label("h299").is_none(), "scrolled up");
    w.harness.get_by_label("Message").type_text("mine");
    w.harness.key_press(Key::Enter);
    w.until("our line stored", |h| {
        h.state().state.chats[&bob.room].pending.is_empty()
            && h.state().state.chats[&bob.room].message_ids().count() > 300
    });
    w.harness.run_steps(5);
    assert!(
        w.harness.query_by_label("mine").is_some(),
        "our own line is in view"
    );
    assert!(at_the_newest(&w, &bob.room));
    // Brought there, the list stays with the newest lines as they come (in the trial, after
    // a send the lines that came next were counted below instead).
    for n in 0..4u64 {
        bob.front.send(Command::Send {
            room: bob.room.clone(),
            seq: n + 1,
            text: format!("later {n}\nwith a second line"),
        });
        w.shows(&format!("later {n}\nwith a second line"));
        w.harness.run_steps(3);
        assert!(at_the_newest(&w, &bob.room), "line {n} is followed");
    }
    w.close();
    bob.stop();
}

#[test]
fn jump_to_latest_lands_on_the_newest_line_at_once_and_stays() {
    // Lines of very different heights, so the estimates of the rows not yet drawn are off.
    let dir = tempfile::tempdir().unwrap();
    let id = hosted_history(dir.path(), 600, |n| {
        Some(format!("h{n}") + &"\nmore".repeat((n % 7 * 3) as usize))
    });
    let bob = other_host_in(dir, "Bob", "Tall", Some(id), None);
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    enter(&mut w, &bob, "Tall");
    w.until("the history", |h| {
        h.state().state.chats[&bob.room].message_ids().count() >= 500
    });
    for round in 0..3 {
        // Far up, with the page before loading, and new lines coming in below.
        scroll_up(&mut w, 1e7);
        for n in 0..3 {
            bob.front.send(Command::Send {
                room: bob.room.clone(),
                seq: round * 10 + n + 1,
                text: format!("new {round}.{n}"),
            });
        }
        w.shows("Jump to latest (3 new)");
        w.harness.get_by_label("Jump to latest (3 new)").click();
        // At once: the click's frames (egui_kittest steps through its events in one step),
        // then the next.
        w.harness.step();
        w.harness.step();
        assert!(
            w.harness
                .query_by_label(&format!("new {round}.2"))
                .is_some(),
            "round {round}: the newest line is on screen at once"
        );
        // And it stays there while the rest settles.
        for _ in 0..60 {
            w.harness.step();
            assert!(
                at_the_newest(&w, &bob.room),
                "round {round}: the view left the newest line"
            );
        }
    }
    w.close();
    bob.stop();
}

#[test]
fn keys_typed_across_a_change_of_focus_are_neither_lost_nor_moved() {
    let (bob, mut w, _dir) = ada_in_bobs_room();
    let value =
        |w: &TestWindow, field: &str| w.harness.get_by_label(field).value().unwrap_or_default();
    let frame = |w: &mut TestWindow, events: Vec<egui::Event>| {
        w.harness.input_mut().events.extend(events);
        w.run_as_eframe(6);
    };
    let click = |at: egui::Pos2, pressed| egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: Modifiers::NONE,
    };
    let text = |s: &str| egui::Event::Text(s.into());
    let key = |key, modifiers| egui::Event::Key {
        key,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers,
    };

    // The keyboard in the search field; a click into the message field and the first
    // letters come in one frame.
    w.harness.get_by_label("Search messages").click();
    w.harness.run();
    let field = w.harness.get_by_label("Message").rect().left_center() + egui::vec2(8.0, 0.0);
    frame(
        &mut w,
        vec![
            egui::Event::PointerMoved(field),
            click(field, true),
            click(field, false),
            text("see"),
        ],
    );
    frame(&mut w, vec![text(" you there @Bob")]);
    assert_eq!(value(&w, "Message"), "see you there @Bob");
    assert_eq!(value(&w, "Search messages"), "");

    // Enter sends, and what is typed in the same frame starts the next line.
    frame(&mut w, vec![key(Key::Enter, Modifiers::NONE), text("next")]);
    w.shows_stored("see you there @Bob");
    assert_eq!(value(&w, "Message"), "next");

    // Ctrl+F takes the keyboard to search: what came before it stays in the message, what
    // comes after it is searched for.
    frame(
        &mut w,
        vec![
            text("!"),
            key(Key::F, Modifiers::COMMAND),
            text("pri"),
            text("vate"),
        ],
    );
    assert_eq!(value(&w, "Message"), "next!");
    assert_eq!(value(&w, "Search messages"), "private");
    w.close();
    bob.stop();
}

#[test]
fn scrolling_to_the_top_loads_the_history_page_by_page_to_its_start() {
    let bob = other_host_with_history("Archive", 1200);
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    enter(&mut w, &bob, "Archive");
    w.shows("h1199");
    let ids = |w: &TestWindow| -> Vec<u64> {
        w.harness.state().state.chats[&bob.room]
            .message_ids()
            .collect()
    };
    let older = |w: &TestWindow| w.harness.state().state.chats[&bob.room].older;
    // A newcomer gets the newest page (and the one before it too where the view opened at
    // its first unread message, the page's top, before the test could look).
    let first = ids(&w).first().copied();
    assert!(
        matches!(first, Some(700 | 200)),
        "a newcomer gets the newest page: {first:?}"
    );
    let mut pages = 0;
    while older(&w) != lanchat::app::state::Older::Complete {
        assert!(pages < 5, "the start comes after a few pages");
        let asked = ids(&w).len();
        // Up to the top of the list, with the mouse wheel.
        let over = w.harness.get_by_label("Message").rect().center() - egui::vec2(0.0, 200.0);
        w.harness.hover_at(over);
        w.harness.input_mut().events.push(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, 1e7),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: Modifiers::NONE,
        });
        w.harness.run_steps(20);
        w.until("the page before", |h| {
            let chat = &h.state().state.chats[&bob.room];
            chat.message_ids().count() > asked || chat.older == lanchat::app::state::Older::Complete
        });
        w.harness.run_steps(5);
        // The view stays on the message it showed: the next page waits for the next scroll.
        assert!(
            !matches!(older(&w), lanchat::app::state::Older::Asking(_)),
            "one page per scroll to the top"
        );
        pages += 1;
    }
    assert_eq!(
        ids(&w),
        (0..1200).collect::<Vec<_>>(),
        "all of it, once, in order"
    );
    let expected = if first == Some(200) { 1 } else { 2 };
    assert_eq!(pages, expected, "500 back, then the last 200 and the start");
    w.close();
    bob.stop();
}

#[test]
fn typing_and_away_are_shown_and_our_typing_reaches_the_room() {
    let mut bob = other_host("Bob", "Bob's room");
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    enter(&mut w, &bob, "Bob's room");
    w.shows("Ada  (you)");

    bob.front.send(Command::Typing {
        room: bob.room.clone(),
    });
    w.shows("Bob is typing…");
    // Said once, it runs out by itself (the window looks again when it does).
    let start = Instant::now();
    while w.harness.query_by_label("Bob is typing…").is_some() {
        assert!(start.elapsed() < DEADLINE, "typing never ran out");
        std::thread::sleep(Duration::from_millis(100));
        w.harness.run();
    }

    bob.front.send(Command::Presence { away: true });
    w.shows("Bob  (host) · away");
    bob.front.send(Command::Presence { away: false });
    w.shows("Bob  (host)");

    // Ada types: Bob's app hears it.
    while bob.front.events.try_recv().is_ok() {}
    w.harness.get_by_label("Message").type_text("hel");
    w.harness.run();
    let start = Instant::now();
    loop {
        match bob.front.events.try_recv() {
            Ok(Event::Typing { room, .. }) if room == bob.room => break,
            Ok(_) => {}
            Err(_) => {
                assert!(start.elapsed() < DEADLINE, "Bob never heard Ada typing");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    w.close();
    bob.stop();
}

#[test]
fn a_direct_message_conversation_opens_from_the_member_list_and_counts_unread() {
    let mut bob = other_host("Bob", "Bob's room");
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    enter(&mut w, &bob, "Bob's room");
    w.shows("Ada  (you)");

    // From the member list, to Bob alone.
    w.harness.get_by_label("✉").click();
    w.shows("direct messages");
    w.harness
        .get_by_label("Direct message")
        .type_text("hi Bob, privately");
    w.harness.key_press(Key::Enter);
    w.harness.run();
    let mut ada = None;
    let start = Instant::now();
    while ada.is_none() {
        assert!(start.elapsed() < DEADLINE, "Bob never got it");
        match bob.front.events.try_recv() {
            Ok(Event::Direct(d)) if !d.outgoing => {
                assert_eq!(
                    (d.text.as_str(), d.peer_name.as_str()),
                    ("hi Bob, privately", "Ada")
                );
                ada = Some(d);
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    w.until("delivered", |h| {
        h.state().state.directs.conversations.values().all(|c| {
            c.lines
                .iter()
                .all(|l| l.state == lanchat::store::Sent::Delivered)
        })
    });

    // Bob answers: read at once while the conversation is open, counted once it is not.
    let ada = ada.unwrap();
    let ada_member = w.harness.state().state.chats[&bob.room]
        .members
        .iter()
        .find(|m| m.device == ada.peer)
        .cloned()
        .unwrap();
    let answer = |text: &str| Command::SendDirect {
        room: bob.room.clone(),
        to: ada_member.clone(),
        seq: lanchat::protocol::new_post_seq(),
        text: text.into(),
    };
    bob.front.send(answer("hello Ada"));
    w.shows("hello Ada");
    assert_eq!(w.harness.state().state.unread_total(), 0);
    w.harness.get_by_label("Bob's room").click();
    w.harness.run();
    bob.front.send(answer("are you there?"));
    w.until("one unread", |h| h.state().state.unread_total() == 1);
    let shown = w.notifications.recv_timeout(DEADLINE).unwrap();
    assert_eq!(
        (shown.title.as_str(), shown.body.as_str()),
        ("Bob (direct message)", "are you there?")
    );
    w.harness.run();
    assert!(w.harness.query_by_label("Direct messages").is_some());
    w.harness.get_by_label("Bob").click();
    w.harness.run();
    assert_eq!(w.harness.state().state.unread_total(), 0);
    assert!(w.harness.query_by_label("are you there?").is_some());
    w.close();
    bob.stop();
}

/// The conversation header says what its seal is worth: sealed for the key the host gave
/// until the fingerprints are compared, verified once marked so, and a changed key is held
/// back until accepted (a dishonest host could list its own key under the name).
#[test]
fn a_conversation_says_what_its_seal_is_worth_and_a_changed_key_is_held_back() {
    let bob = other_host("Bob", "Bob's room");
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    enter(&mut w, &bob, "Bob's room");
    w.shows("Ada  (you)");
    w.harness.get_by_label("✉").click();
    w.shows("direct messages");
    let header = |w: &mut TestWindow, text: &str| w.harness.query_by_label_contains(text).is_some();
    assert!(header(
        &mut w,
        "Not verified — compare fingerprints with Bob"
    ));
    assert!(!header(&mut w, "Only you and Bob can read these"));

    // Compared aloud: marked verified, and said so.
    w.harness.get_by_label("Mark as verified").click();
    w.until("Bob verified", |h| {
        h.state()
            .state
            .directs
            .people
            .get("Bob")
            .is_some_and(|p| p.verified)
    });
    w.harness.run();
    assert!(header(&mut w, "✔ Only you and Bob can read these"));

    // Bob's name had another key when last written to: nothing goes to this one.
    let other = lanchat::net::identity::Identity::generate().public();
    let pinned = lanchat::net::trust::PersonPin {
        key: other,
        verified: true,
        since: 0,
    };
    w.inject.send(Event::People(vec![("Bob".into(), pinned)]));
    w.shows("Accept Bob's new key");
    assert!(header(&mut w, "Bob had another key when you last wrote"));
    w.harness
        .get_by_label("Direct message")
        .type_text("are you Bob?");
    w.harness.key_press(Key::Enter);
    w.harness.run();
    assert!(header(&mut w, "Not sent: their key changed"));
    assert!(
        w.harness
            .state()
            .state
            .directs
            .conversations
            .values()
            .all(|c| c.lines.is_empty())
    );
    // Accepted: back to not verified, and it can be written to.
    w.harness.get_by_label("Accept Bob's new key").click();
    w.until("the new key accepted", |h| {
        h.state()
            .state
            .directs
            .people
            .get("Bob")
            .is_some_and(|p| p.key != other && !p.verified)
    });
    // Bob's key was pinned under another name (he was "Robert" when written to): no
    // warning of a changed key, but the conversation says which name the key had.
    let key = w.harness.state().state.directs.people["Bob"].key;
    let renamed = lanchat::net::trust::PersonPin {
        key,
        verified: true,
        since: 0,
    };
    w.inject
        .send(Event::People(vec![("Robert".into(), renamed)]));
    w.until("the old name said", |h| {
        h.query_by_label_contains("the one you knew as “Robert”")
            .is_some()
    });
    assert!(header(&mut w, "✔ Only you and Bob can read these"));
    assert!(!header(&mut w, "had another key"));
    w.close();
}

#[test]
fn direct_messages_are_there_after_a_restart() {
    let bob = other_host("Bob", "Bob's room");
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let settings = Settings {
            name: Some("Ada".into()),
            ..Settings::default()
        };
        TestWindow::open(options_at(dir.path(), settings, true))
    };
    let mut w = open();
    w.harness.run();
    enter(&mut w, &bob, "Bob's room");
    w.shows("Ada  (you)");
    let ada = w.harness.state().state.chats[&bob.room]
        .members
        .iter()
        .find(|m| m.name == "Ada")
        .cloned()
        .unwrap();
    bob.front.send(Command::SendDirect {
        room: bob.room.clone(),
        to: ada,
        seq: 77,
        text: "still here tomorrow?".into(),
    });
    w.until("the direct message", |h| {
        h.state().state.unread_total() == 1
    });
    w.close();

    let mut w = open();
    w.until("the conversation back", |h| {
        h.state()
            .state
            .directs
            .conversations
            .values()
            .any(|c| c.name == "Bob" && c.lines.iter().any(|l| l.text == "still here tomorrow?"))
    });
    w.harness.run();
    w.harness.get_by_label("Bob").click();
    w.harness.run();
    assert!(w.harness.query_by_label("still here tomorrow?").is_some());
    w.close();
    bob.stop();
}

#[test]
fn each_room_keeps_its_place_when_switching() {
    let archive = other_host_with_history("Archive", 600);
    let other = other_host("Bob", "Bob's room");
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    for (host, name) in [(&other, "Bob's room"), (&archive, "Archive")] {
        enter(&mut w, host, name);
    }
    w.shows("h599");
    // A little way up the archive.
    let over = w.harness.get_by_label("Message").rect().center() - egui::vec2(0.0, 200.0);
    w.harness.hover_at(over);
    w.harness.input_mut().events.push(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, 1500.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers: Modifiers::NONE,
    });
    w.harness.run_steps(20);
    let shown = |w: &TestWindow| -> Vec<String> {
        (0..600)
            .map(|n| format!("h{n}"))
            .filter(|l| w.harness.query_by_label(l).is_some())
            .collect()
    };
    let before = shown(&w);
    assert!(
        !before.is_empty() && !before.contains(&"h599".to_owned()),
        "{before:?}"
    );
    // To the other room and back: the archive is where it was.
    w.harness.key_press_modifiers(Modifiers::CTRL, Key::Tab);
    w.harness.run_steps(5);
    assert!(shown(&w).is_empty());
    w.harness.key_press_modifiers(Modifiers::CTRL, Key::Tab);
    w.harness.run_steps(5);
    assert_eq!(shown(&w), before);
    w.close();
    archive.stop();
    other.stop();
}

#[test]
fn a_room_the_list_does_not_show_is_joined_by_its_address() {
    let bob = other_host("Bob", "Bob's room");
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    w.harness.get_by_label("Join by address…").click();
    w.harness.run();
    w.harness.get_by_label("Address").type_text("nonsense");
    w.harness.key_press(Key::Enter);
    w.harness.run();
    w.shows("Type the host and its port, like 192.168.1.20:40123");
    // Nothing listens there: said in words.
    w.replace_text("Address", "127.0.0.1:1");
    w.harness.key_press(Key::Enter);
    w.until("nothing there", |h| {
        h.query_by_label_contains("no room at 127.0.0.1:1")
            .is_some()
    });

    let addr = format!("127.0.0.1:{}", bob.port);
    w.replace_text("Address", &addr);
    w.harness.key_press(Key::Enter);
    w.shows("hosted by Bob · 1 member");
    assert!(w.harness.query_by_label("Bob's room").is_some());
    assert!(
        w.harness
            .query_by_label(&format!("host key 🔑 {}", bob.fingerprint))
            .is_some()
    );
    w.harness.get_by_label("Join").click();
    w.shows("• connected");
    w.harness
        .get_by_label("Message")
        .type_text("found you by address");
    w.harness.get_by_label("Send").click();
    w.shows_stored("found you by address");
    w.close();
    bob.stop();
}

/// Another person's app, in the room at `port` as a member.
fn other_member(
    name: &str,
    room: &RoomId,
    port: u16,
) -> (FrontEnd, RuntimeThread, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        name: Some(name.into()),
        ..Settings::default()
    };
    let (mut front, back) = bridge::channel();
    let runtime = RuntimeThread::spawn(back, options_at(dir.path(), settings, false)).unwrap();
    let (wake, wakes) = std::sync::mpsc::channel();
    front.set_waker(move || {
        let _ = wake.send(());
    });
    front.send(Command::Join {
        room: room.clone(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        password: None,
    });
    let start = Instant::now();
    loop {
        while let Ok(event) = front.events.try_recv() {
            if let Event::Joined { .. } = event {
                return (front, runtime, dir);
            }
        }
        let left = DEADLINE.saturating_sub(start.elapsed());
        wakes.recv_timeout(left).expect("the member gets in");
    }
}

/// What the window told the system in the last frame.
fn frame_commands(w: &TestWindow) -> Vec<egui::ViewportCommand> {
    w.harness.output().viewport_output[&egui::ViewportId::ROOT]
        .commands
        .clone()
}

#[test]
fn quitting_or_closing_a_room_with_people_in_it_asks_and_open_rooms_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let ada = Settings {
        name: Some("Ada".into()),
        ..Settings::default()
    };
    let mut w = TestWindow::open(options_at(dir.path(), ada.clone(), true));
    w.harness.run();
    let host = |w: &mut TestWindow, name: &str| {
        w.harness.get_by_label("Host a room").click();
        w.harness.run();
        w.replace_text("Room name", name);
        w.harness.key_press(Key::Enter);
        w.until("hosting", |h| {
            h.state()
                .state
                .rooms
                .hosting
                .values()
                .any(|(n, ..)| n == name)
        });
        w.harness.run();
    };
    host(&mut w, "Lab");
    let lab = w.harness.state().state.open.clone().unwrap();
    let port = w.harness.state().state.rooms.hosting[&lab].1;

    // Alone in the room: Ctrl+Q would quit at once (checked last). With Bob in it, it asks.
    let (bob, bob_runtime, _bob_dir) = other_member("Bob", &lab, port);
    w.shows("Bob");
    w.harness.key_press_modifiers(Modifiers::COMMAND, Key::Q);
    w.shows("Quit lanchat?");
    assert!(
        w.harness
            .query_by_label_contains("1 person is in your rooms")
            .is_some()
    );
    w.harness.get_by_label("Cancel").click();
    w.harness.run();
    assert!(w.harness.query_by_label("Quit lanchat?").is_none());

    // The system's close button asks too; keeping the rooms open puts the window away.
    let output = w.ask_to_close();
    assert!(
        output.contains(&egui::ViewportCommand::CancelClose),
        "the window stays: {output:?}"
    );
    w.shows("Quit lanchat?");
    w.harness
        .get_by_label("Keep hosting in the background")
        .click();
    w.harness.step();
    assert!(frame_commands(&w).contains(&egui::ViewportCommand::Minimized(true)));
    w.harness.run();
    assert!(w.harness.query_by_label("Quit lanchat?").is_none());
    assert!(w.harness.state().state.rooms.hosting.contains_key(&lab));

    // "Close room" asks as well, and only closes on yes.
    w.harness.get_by_label("Close room").click();
    w.shows("Close Lab?");
    w.harness.get_by_label("Keep it open").click();
    w.harness.run();
    assert!(w.harness.state().state.rooms.hosting.contains_key(&lab));
    w.harness.get_by_label("Close room").click();
    w.shows("Close Lab?");
    w.harness.get_by_label("Close the room").click();
    w.until("the room closed", |h| {
        h.state().state.rooms.hosting.is_empty()
    });
    bob.send(Command::Shutdown);
    bob_runtime.join();

    // One room open at exit, one closed before: the open one comes back by itself.
    host(&mut w, "Den");
    w.close();
    let mut w = TestWindow::open(options_at(dir.path(), ada.clone(), true));
    w.until("Den open again", |h| {
        h.state()
            .state
            .rooms
            .hosting
            .values()
            .any(|(n, ..)| n == "Den")
    });
    w.harness.run();
    assert_eq!(
        w.harness.state().state.rooms.hosting.len(),
        1,
        "Lab stays closed"
    );

    // Alone in the room, nothing to ask: Ctrl+Q closes the window.
    for pressed in [true, false] {
        w.harness.input_mut().events.push(egui::Event::Key {
            key: Key::Q,
            physical_key: None,
            pressed,
            repeat: false,
            modifiers: Modifiers::COMMAND,
        });
    }
    w.harness.step();
    let output = frame_commands(&w);
    assert!(output.contains(&egui::ViewportCommand::Close), "{output:?}");
    assert!(w.harness.query_by_label("Quit lanchat?").is_none());

    // Unticked in Settings, nothing reopens.
    w.harness.get_by_label("Settings").click();
    w.harness.run();
    w.harness
        .get_by_label("Reopen my rooms when lanchat starts")
        .click();
    w.harness.get_by_label("Done").click();
    w.harness.run();
    w.close();
    let mut w = TestWindow::open(options_at(dir.path(), ada, true));
    w.harness.run();
    w.shows("Rooms you hosted");
    std::thread::sleep(Duration::from_millis(300));
    w.harness.run();
    assert!(w.harness.state().state.rooms.hosting.is_empty());
    w.close();
}

#[test]
fn a_file_above_the_auto_save_size_waits_for_download_and_a_room_can_save_none() {
    let bob = other_host("Bob", "Bob's room");
    let (mut w, dir) = {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            name: Some("Ada".into()),
            auto_save: 1_000_000,
            ..Settings::default()
        };
        (
            TestWindow::open(options_at(dir.path(), settings, false)),
            dir,
        )
    };
    w.harness.run();
    enter(&mut w, &bob, "Bob's room");
    let share = |name: &str, size: usize| {
        let path = bob.dir.path().join(name);
        std::fs::write(&path, vec![9u8; size]).unwrap();
        bob.front.send(Command::SendFiles {
            room: bob.room.clone(),
            paths: vec![path],
        });
    };
    let saved = |w: &TestWindow, name: &str| {
        w.harness
            .state()
            .state
            .files
            .downloads_dir
            .as_ref()
            .is_some_and(|d| d.join(name).exists())
    };
    // Under the limit: saved by itself. Over it: its size and a Download button.
    share("small.bin", 200_000);
    w.until("the small file saved", |h| {
        h.query_by_label("Open").is_some()
    });
    share("big.bin", 2_000_000);
    w.until("the big file offered", |h| {
        h.query_by_label("big.bin").is_some() && h.query_by_label("Download").is_some()
    });
    assert!(w.harness.query_by_label("2.0 MB").is_some());
    w.harness.run_steps(10);
    assert!(!saved(&w, "big.bin"), "nothing is saved unasked");
    w.harness.get_by_label("Download").click();
    w.until("the big file saved", |h| {
        h.query_all_by_label("Open").count() == 2
    });
    assert!(saved(&w, "big.bin"));

    // This room saves nothing by itself from now on, and the setting is kept.
    w.harness
        .get_by_label_contains("Room notifications and files")
        .click();
    w.harness.run();
    w.harness
        .get_by_label_contains("Save files shared here by themselves")
        .click();
    w.harness.run();
    share("tiny.bin", 1_000);
    w.until("the tiny file offered", |h| {
        h.query_by_label("tiny.bin").is_some() && h.query_by_label("Download").is_some()
    });
    w.close();
    let paths = Paths::resolve(Some(dir.path().into())).unwrap();
    let kept = Settings::load(&paths.settings_file()).0;
    assert!(kept.no_auto_save.contains(&bob.room));
    assert_eq!(kept.auto_save, 1_000_000);
    bob.stop();
}

#[test]
fn the_theme_is_picked_in_settings_and_the_zoom_is_kept() {
    let (mut w, dir) = window(Some("Ada"));
    w.harness.run();
    let theme = |w: &TestWindow| w.harness.ctx.theme();
    w.harness.get_by_label("Settings").click();
    w.harness.run();
    w.harness.get_by_label("Dark").click();
    w.harness.run();
    assert_eq!(theme(&w), egui::Theme::Dark);
    // Secondary text is readable on the panels (4.5:1), in this theme and the other.
    let readable = |w: &TestWindow| {
        let visuals = w.harness.ctx.global_style().visuals.clone();
        lanchat::app::look::contrast(visuals.weak_text_color(), visuals.panel_fill) >= 4.5
    };
    assert!(readable(&w));
    w.harness.get_by_label("Light").click();
    w.harness.run();
    assert_eq!(theme(&w), egui::Theme::Light);
    assert!(readable(&w));
    w.harness.get_by_label("Larger").click();
    w.harness.run();
    // A size is typed in a field, its unit beside it all along.
    w.replace_text("Save files others share by themselves up to", "25");
    w.harness.run();
    assert_eq!(
        w.harness
            .get_by_label("Save files others share by themselves up to")
            .value()
            .as_deref(),
        Some("25")
    );
    assert!(
        w.harness.query_by_label("MB").is_some(),
        "the unit stays shown"
    );
    w.harness.get_by_label("Done").click();
    w.harness.run();
    // Ctrl+plus zooms in further.
    w.harness.key_press_modifiers(Modifiers::COMMAND, Key::Plus);
    w.harness.run();
    let zoom = w.harness.ctx.zoom_factor();
    assert!(zoom > 1.15, "zoomed twice: {zoom}");
    w.close();
    let paths = Paths::resolve(Some(dir.path().into())).unwrap();
    let kept = Settings::load(&paths.settings_file()).0;
    assert_eq!(kept.theme, lanchat::store::Theme::Light);
    assert_eq!(kept.auto_save, 25_000_000);
    assert!(
        (kept.zoom - zoom).abs() < 0.01,
        "{} kept, {zoom} shown",
        kept.zoom
    );

    // The next start draws the same.
    let (mut w, _) = (
        TestWindow::open(options_at(dir.path(), Settings::default(), false)),
        (),
    );
    w.harness.run();
    assert_eq!(theme(&w), egui::Theme::Light);
    assert!((w.harness.ctx.zoom_factor() - zoom).abs() < 0.01);
    w.close();
}

#[test]
fn links_open_only_when_clicked_and_code_is_set_apart() {
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    w.harness.get_by_label("Host a room").click();
    w.harness.run();
    w.harness.key_press(Key::Enter);
    w.shows("• connected");
    w.harness
        .get_by_label("Message")
        .type_text("notes at https://example.com/notes, build with `make test`");
    w.harness.key_press(Key::Enter);
    w.shows_stored("make test");
    w.harness.run();
    let opened = |w: &TestWindow| {
        w.harness
            .output()
            .platform_output
            .commands
            .iter()
            .any(|c| matches!(c, egui::OutputCommand::OpenUrl(u) if u.url == "https://example.com/notes"))
    };
    assert!(!opened(&w), "nothing is opened by being shown");
    let links: Vec<_> = w
        .harness
        .get_all_by_role_and_label(egui::accesskit::Role::Link, "https://example.com/notes")
        .collect();
    assert_eq!(links.len(), 1, "{links:#?}");
    links[0].click();
    w.harness.step();
    assert!(opened(&w));
    w.close();
}

#[test]
fn a_pasted_picture_or_copied_files_are_offered_to_the_room() {
    let (mut w, dir) = window(Some("Ada"));
    w.harness.run_steps(4);
    w.harness.get_by_label("Host a room").click();
    w.harness.run_steps(4);
    w.harness.key_press(Key::Enter);
    w.shows("• connected");
    let picture = egui::ColorImage::new(
        [64, 48],
        vec![egui::Color32::from_rgb(200, 40, 40); 64 * 48],
    );
    w.harness
        .input_mut()
        .events
        .push(egui::Event::PasteImage(std::sync::Arc::new(picture)));
    w.harness.run_steps(4);
    w.shows("Send this picture to Ada's room?");
    assert!(
        w.harness
            .query_by_label("64 × 48 pixels, sent as a PNG file")
            .is_some()
    );
    w.harness.get_by_label("Send to the room").click();
    w.until("the picture in the room", |h| {
        h.query_all_by_label_contains("Pasted picture")
            .next()
            .is_some()
            && h.query_by_label("You sent this file").is_some()
    });
    assert_eq!(
        w.harness.get_by_label("Message").value().as_deref(),
        Some(""),
        "nothing was typed"
    );

    // Files copied in a file manager arrive as their addresses: offered, not typed.
    let notes = dir.path().join("meeting notes.txt");
    std::fs::write(&notes, "agenda").unwrap();
    w.harness.get_by_label("Message").focus();
    w.harness.run_steps(4);
    let copied = format!("file://{}", notes.display()).replace(' ', "%20");
    w.harness
        .input_mut()
        .events
        .push(egui::Event::Paste(copied));
    w.harness.run_steps(4);
    w.shows("Send this file to Ada's room?");
    w.harness.get_by_label("Cancel").click();
    w.harness.run_steps(4);
    assert!(
        w.harness
            .query_by_label("Send this file to Ada's room?")
            .is_none()
    );
    assert_eq!(
        w.harness.get_by_label("Message").value().as_deref(),
        Some("")
    );
    // Text is text.
    w.harness
        .input_mut()
        .events
        .push(egui::Event::Paste("just words".into()));
    w.harness.run_steps(4);
    assert_eq!(
        w.harness.get_by_label("Message").value().as_deref(),
        Some("just words")
    );
    // A paste that brought nothing (the clipboard held nothing to send) says so.
    w.harness
        .input_mut()
        .events
        .push(egui::Event::Paste(String::new()));
    w.harness.run_steps(4);
    assert!(w.harness.query_by_label("Nothing to paste").is_some());
    w.harness.get_by_label("OK").click();
    w.harness.run_steps(4);
    assert!(w.harness.query_by_label("Nothing to paste").is_none());
    w.close();
}

/// What a window's runtime would report on a machine with a LAN card, a container bridge,
/// loopback and Wi-Fi turned off, with mDNS having seen one other device.
fn network_with_a_lan() -> lanchat::bridge::NetStatus {
    use lanchat::discovery::{Interface, MdnsCounts, Report, Skip};
    let intf = |name: &str, addrs: &[&str], skipped| Interface {
        name: name.into(),
        addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        skipped,
    };
    let report = Report {
        interfaces: vec![
            intf("eth0", &["192.168.1.20", "2001:db8::20", "fe80::20"], None),
            intf("docker0", &["172.17.0.1"], Some(Skip::Virtual)),
            intf("lo", &["127.0.0.1", "::1"], Some(Skip::Loopback)),
            intf("wlan0", &["192.168.1.21"], Some(Skip::Down)),
        ],
        chosen: Vec::new(),
        mdns: Some(MdnsCounts {
            queries: 7,
            answers: 3,
            // Heard from a minute and a half ago; its rooms have left the list since.
            heard: [(
                "K7QF-M2XA-PL9D-3RTW".to_owned(),
                std::time::Instant::now() - std::time::Duration::from_secs(90),
            )]
            .into(),
            malformed: 2,
        }),
    };
    lanchat::bridge::NetStatus {
        interfaces: report.status_line(),
        discovery: true,
        problem: None,
        report,
    }
}

#[test]
fn the_network_diagnostics_panel_lists_interfaces_reads_out_a_hosted_room_and_chooses_interfaces() {
    let (mut w, dir) = window(Some("Ada"));
    w.harness.run();
    w.inject.send(Event::Network(network_with_a_lan()));
    w.shows("Looking for rooms on eth0 192.168.1.20");

    // From the empty room list: every interface, used or skipped, and why.
    w.harness
        .get_by_label("Rooms don't appear? Network diagnostics…")
        .click();
    w.harness.run();
    assert!(w.harness.query_by_label("Network diagnostics").is_some());
    for name in ["eth0", "docker0", "lo", "wlan0"] {
        assert!(w.harness.query_by_label(name).is_some(), "{name} is listed");
    }
    assert!(w.harness.query_by_label("✔ used").is_some());
    for why in [
        "skipped: looks virtual",
        "skipped: loopback",
        "skipped: not connected",
    ] {
        assert!(w.harness.query_by_label_contains(why).is_some(), "{why}");
    }
    assert!(w.harness.query_by_label("mDNS runs on eth0.").is_some());
    assert!(
        w.harness.query_by_label("1 (0 with a room now)").is_some(),
        "one other device seen"
    );
    assert!(
        w.harness
            .query_by_label_contains("⚠ Nothing heard from other devices since")
            .is_some(),
        "not that mDNS works: nothing is heard now"
    );
    assert!(
        w.harness
            .query_by_label_contains("✔ mDNS works here")
            .is_none()
    );
    assert!(
        w.harness
            .query_by_label("Broken room adverts left out")
            .is_some()
    );
    assert!(
        w.harness
            .query_by_label_contains("You host no room now")
            .is_some()
    );
    w.harness.get_by_label("Close window").click();
    w.harness.run();
    assert!(w.harness.query_by_label("Network diagnostics").is_none());

    // A hosted room's addresses, from the status bar, to read out and copy.
    w.harness.get_by_label("Host a room").click();
    w.harness.run();
    w.replace_text("Room name", "Lab");
    w.harness.key_press(Key::Enter);
    w.shows("• connected");
    let port = w
        .harness
        .state()
        .state
        .rooms
        .hosting
        .values()
        .next()
        .unwrap()
        .1;
    w.harness.get_by_label("Network diagnostics…").click();
    w.harness.run();
    let v4 = format!("192.168.1.20:{port}");
    // In the panel, and at the bottom of the window (the first address, to read out).
    assert_eq!(w.harness.query_all_by_label(&v4).count(), 2, "{v4}");
    assert!(
        w.harness
            .query_by_label(&format!("[2001:db8::20]:{port}"))
            .is_some()
    );
    assert!(
        w.harness
            .query_by_label_contains(&format!("fe80::20]:{port}"))
            .is_none(),
        "a link-local address is not one to read out"
    );
    assert!(
        w.harness
            .query_by_label_contains(&format!("172.17.0.1:{port}"))
            .is_none(),
        "nor a skipped interface's"
    );
    let copy = w.harness.get_all_by_label("Copy").next().unwrap();
    copy.scroll_to_me();
    w.harness.run();
    w.harness.get_all_by_label("Copy").next().unwrap().click();
    w.harness.step();
    assert!(
        copied(&w, &v4),
        "Copy puts the first address on the clipboard"
    );
    // Someone else's room: the panel leads to Join by address.
    let panel_join = w
        .harness
        .get_all_by_label("Join by address…")
        .max_by(|a, b| a.rect().left().total_cmp(&b.rect().left()))
        .unwrap();
    panel_join.scroll_to_me();
    w.harness.run();
    w.harness
        .get_all_by_label("Join by address…")
        .max_by(|a, b| a.rect().left().total_cmp(&b.rect().left()))
        .unwrap()
        .click();
    w.harness.run();
    assert!(
        w.harness.query_by_label("Address").is_some(),
        "Join by address opened"
    );
    w.harness.get_by_label("Cancel").click();
    w.harness.run();

    // Choosing interfaces in the window: the runtime keeps the choice in the settings.
    w.harness.get_by_label("docker0").scroll_to_me();
    w.harness.run();
    w.harness.get_by_label("docker0").click();
    w.harness.run();
    w.harness.get_by_label("Use the ticked interfaces").click();
    w.harness.run();
    assert!(
        w.harness
            .query_by_label("Use the ticked interfaces")
            .is_none()
    );
    w.close();
    let (settings, _) = Settings::load(
        &Paths::resolve(Some(dir.path().into()))
            .unwrap()
            .settings_file(),
    );
    assert_eq!(settings.interfaces, ["docker0", "eth0"]);
}

#[test]
fn with_no_interface_in_use_the_window_says_to_choose_one_in_the_panel() {
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    let mut status = network_with_a_lan();
    status.report.interfaces.remove(0);
    status.problem = status.report.trouble();
    assert!(status.problem.is_some());
    w.inject.send(Event::Network(status));
    w.until("the warning", |h| {
        h.query_by_label_contains("— see Network diagnostics…")
            .is_some()
    });
    assert!(
        w.harness.query_by_label_contains("--interface").is_none(),
        "a window user is not sent to the command line"
    );
    w.close();
}

/// Fills the database of the profile in `dir` with the history of a room it hosts: `count`
/// messages from Bob, "h0", "h1", …, but for those `text` words otherwise. Returns the room.
fn hosted_history(
    dir: &std::path::Path,
    count: u64,
    text: impl Fn(u64) -> Option<String>,
) -> RoomId {
    hosted_messages(dir, count, |n, message| lanchat::protocol::ChatMessage {
        text: text(n).unwrap_or(message.text),
        ..message
    })
}

/// Fills the database of the profile in `dir` with the history of a room it hosts: `count`
/// messages from Bob, "h0", "h1", …, each as `said` makes it of its number and that.
/// Returns the room.
fn hosted_messages(
    dir: &std::path::Path,
    count: u64,
    said: impl Fn(u64, lanchat::protocol::ChatMessage) -> lanchat::protocol::ChatMessage,
) -> RoomId {
    let paths = Paths::resolve(Some(dir.into())).unwrap();
    let id = RoomId::random();
    let (db, _) = lanchat::store::Database::open(&paths.database_file()).unwrap();
    let (mut history, _) =
        lanchat::store::History::open(&db, &id, &paths.room_dir(&id).join("history.jsonl"))
            .unwrap();
    let (done, stored) = std::sync::mpsc::channel();
    for n in 0..count {
        let message = lanchat::protocol::ChatMessage {
            id: history.reserve_id(),
            ts: n as i64,
            from: "Bob".into(),
            device: lanchat::protocol::DeviceId::parse("bob").unwrap(),
            text: format!("h{n}"),
            file: None,
        };
        let message = said(n, message);
        let done = done.clone();
        history.store(
            &message,
            None,
            |_| {},
            move |r| done.send(r.is_ok()).unwrap(),
        );
    }
    assert!(stored.iter().take(count as usize).all(|ok| ok));
    drop(history);
    db.close();
    id
}

/// Ada's window, on the profile in `dir`, hosting `archive` (called "Archive") again.
fn hosting_archive(dir: &std::path::Path, archive: &RoomId) -> TestWindow {
    let settings = Settings {
        name: Some("Ada".into()),
        hosted: vec![lanchat::store::HostedRoom {
            id: archive.clone(),
            name: "Archive".into(),
            port: 0,
            open: true,
        }],
        ..Settings::default()
    };
    TestWindow::open(options_at(dir, settings, true))
}

#[test]
fn search_jumps_to_a_message_in_its_room() {
    // Ada hosts an archive of 3000 messages (her window gets the newest 500) and is in Bob's
    // room, which is on screen.
    let dir = tempfile::tempdir().unwrap();
    let archive = hosted_history(dir.path(), 3000, |n| {
        (n == 1234).then(|| "h1234 the lighthouse keeper".to_owned())
    });
    let mut w = hosting_archive(dir.path(), &archive);
    w.shows("h2999");
    let bob = other_host("Bob", "Bob's room");
    enter(&mut w, &bob, "Bob's room");
    w.harness.run();
    assert!(w.harness.query_by_label("h2999").is_none());

    // Ctrl+F, a word (in any case, its start only), and the one message that has it.
    w.harness.key_press_modifiers(Modifiers::COMMAND, Key::F);
    w.harness.run();
    assert!(w.harness.get_by_label("Search messages").is_focused());
    w.harness
        .get_by_label("Search messages")
        .type_text("LIGHTHO");
    w.until("the result", |h| {
        h.query_by_label_contains("the lighthouse keeper").is_some()
    });
    let result = w.harness.get_by_label_contains("the lighthouse keeper");
    assert!(
        w.harness
            .query_by_label_contains("Archive · Bob · ")
            .is_some(),
        "room, sender and time"
    );
    result.click();

    // Its room opens and the message is in view, with all that follows it read in.
    w.until("the message in view", |h| {
        h.query_by_label("h1234 the lighthouse keeper").is_some()
    });
    let state = &w.harness.state().state;
    assert_eq!(state.open.as_ref(), Some(&archive));
    let ids: Vec<u64> = state.chats[&archive].message_ids().collect();
    assert_eq!(
        ids,
        (1214..3000).collect::<Vec<_>>(),
        "with a few before it, and no gap"
    );
    // It stays in view once the rows around it are measured.
    w.harness.run_steps(10);
    assert!(
        w.harness
            .query_by_label("h1234 the lighthouse keeper")
            .is_some()
    );

    // Escape in the field empties it and puts the results away.
    assert!(w.harness.query_by_label("Search results").is_some());
    w.harness.key_press_modifiers(Modifiers::COMMAND, Key::F);
    w.harness.run();
    w.harness.key_press(Key::Escape);
    w.harness.run();
    assert!(w.harness.query_by_label("Search results").is_none());
    assert_eq!(
        w.harness.get_by_label("Search messages").value().as_deref(),
        Some("")
    );
    w.close();
    bob.stop();
}

#[test]
fn search_finds_shared_files_by_name_and_direct_messages_and_opens_their_conversation() {
    use lanchat::protocol::{ChatMessage, DeviceId, FileHash, FileRef};
    use lanchat::store::{Direct, DirectStore, Sent};
    // Ada hosts a room where a budget was shared, and wrote 80 lines with Carol (who is in
    // no room with her now); the third holds the word looked for.
    let dir = tempfile::tempdir().unwrap();
    let archive = hosted_messages(dir.path(), 40, |n, m| match n {
        7 => ChatMessage {
            text: String::new(),
            file: Some(FileRef {
                hash: FileHash::from_bytes(&[7; 32]),
                name: "Quarterly-Budget.xlsx".into(),
                size: 2048,
            }),
            ..m
        },
        _ => m,
    });
    let paths = Paths::resolve(Some(dir.path().into())).unwrap();
    let (db, _) = lanchat::store::Database::open(&paths.database_file()).unwrap();
    let directs = DirectStore::new(db.clone());
    let carol = DeviceId::parse("carol").unwrap();
    for seq in 0..80u64 {
        directs.keep(&Direct {
            peer: carol.clone(),
            peer_name: "Carol".into(),
            claimed: None,
            outgoing: seq % 2 == 1,
            seq,
            ts: 1_700_000_000_000 + seq as i64,
            text: match seq {
                2 => "the budget for the lighthouse".into(),
                n => format!("d{n}"),
            },
            room: archive.clone(),
            state: Sent::Delivered,
        });
    }
    drop(directs);
    db.close();
    let mut w = hosting_archive(dir.path(), &archive);
    w.shows("h39");

    w.harness.get_by_label("Search messages").click();
    w.harness.run();
    w.harness
        .get_by_label("Search messages")
        .type_text("budget");
    w.until("both results", |h| {
        h.query_by_label_contains("the budget for the lighthouse")
            .is_some()
            && h.query_by_label_contains("📎 Quarterly-Budget.xlsx")
                .is_some()
    });
    assert!(
        w.harness
            .query_by_label_contains("✉ Carol · Carol · ")
            .is_some(),
        "the person, the sender and the time"
    );

    // The direct message opens its conversation, scrolled to it (the newest lines are
    // below, out of view).
    w.harness
        .get_by_label_contains("the budget for the lighthouse")
        .click();
    w.harness.run_steps(4);
    let state = &w.harness.state().state;
    assert_eq!(state.open_direct.as_ref(), Some(&carol));
    let line = w
        .harness
        .get_by_label("the budget for the lighthouse")
        .rect();
    let composer = w.harness.get_by_label("Direct message").rect();
    assert!(
        line.bottom() < composer.top() && line.top() > 0.0,
        "the line is in view: {line:?}, composer at {composer:?}"
    );
    let newest = w.harness.get_by_label("d79").rect();
    assert!(newest.top() > composer.top(), "scrolled up from the newest");

    // The file opens its room at the file's card.
    w.harness
        .get_by_label_contains("📎 Quarterly-Budget.xlsx")
        .click();
    w.harness.run_steps(4);
    assert_eq!(w.harness.state().state.open.as_ref(), Some(&archive));
    assert!(w.harness.state().state.open_direct.is_none());
    assert!(
        w.harness
            .query_all_by_label("Quarterly-Budget.xlsx")
            .next()
            .is_some(),
        "the file's card is in view"
    );
    w.close();
}

/// Every control of the main window is reached with Tab alone, each with a name a screen
/// reader can say.
#[test]
fn tab_reaches_every_control_and_each_has_a_name() {
    use egui_kittest::kittest::{By, NodeT};
    let (mut w, _dir) = window(Some("Ada"));
    w.harness.run();
    w.harness.get_by_label("Host a room").click();
    w.harness.run();
    w.harness.key_press(Key::Enter);
    w.shows("• connected");
    let focused = |w: &TestWindow| -> Option<String> {
        w.harness
            .query(By::new().predicate(|n| n.is_focused()))
            .map(|n| n.accesskit_node().label().unwrap_or_default())
    };
    let mut reached = Vec::new();
    for _ in 0..40 {
        w.harness.key_press(Key::Tab);
        w.harness.run_steps(2);
        let Some(label) = focused(&w) else { continue };
        if reached.last() != Some(&label) {
            reached.push(label);
        }
    }
    for control in [
        "Search messages",
        "Settings",
        "Change name",
        "Host a room",
        "Join by address…",
        "Close room",
        "Attach…",
        "Message",
        "Send",
        "Network diagnostics…",
        "Room notifications and files",
    ] {
        assert!(
            reached.iter().any(|l| l.starts_with(control)),
            "{control} is not reached by Tab: {reached:?}"
        );
    }
    assert!(
        reached.iter().all(|l| !l.trim().is_empty()),
        "a control without a name: {reached:?}"
    );

    // And in a dialog: Settings, by keyboard alone.
    w.harness.get_by_label("Settings").click();
    w.harness.run_steps(2);
    let mut reached = Vec::new();
    for _ in 0..30 {
        w.harness.key_press(Key::Tab);
        w.harness.run_steps(2);
        if let Some(label) = focused(&w)
            && reached.last() != Some(&label)
        {
            reached.push(label);
        }
    }
    for control in [
        "Change…",
        "Save files others share by themselves up to",
        "Rooms you host keep up to",
        "Dark",
        "Larger",
        "Reopen my rooms when lanchat starts",
        "Done",
    ] {
        assert!(
            reached.iter().any(|l| l.starts_with(control)),
            "{control} is not reached by Tab in Settings: {reached:?}"
        );
    }
    w.close();
}
#[test]
fn in_the_smallest_window_search_results_take_the_rooms_place_until_one_is_chosen() {
    let size = [520.0, 360.0];
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        name: Some("Ada".into()),
        ..Settings::default()
    };
    let mut w = TestWindow::open_sized(options_at(dir.path(), settings, false), size);
    w.harness.run();
    w.harness.get_by_label("Host a room").click();
    w.harness.run();
    w.harness.key_press(Key::Enter);
    w.shows("• connected");
    for text in ["a needle in the haystack", "and then hay", "more hay"] {
        w.harness.get_by_label("Message").type_text(text);
        w.harness.key_press(Key::Enter);
        w.shows_stored(text);
    }
    let field = w.harness.get_by_label("Search messages").rect();
    assert!(
        field.min.x >= 0.0 && field.max.x <= size[0] && field.width() > 200.0,
        "the field has a row of its own: {field:?}"
    );
    w.harness.get_by_label("Search messages").click();
    w.harness.run();
    w.harness
        .get_by_label("Search messages")
        .type_text("needle");
    w.until("the result, in the room's place", |h| {
        h.query_by_label_contains("needle in the haystack")
            .is_some()
            && h.query_by_label("Message").is_none()
    });
    w.harness
        .get_by_label_contains("needle in the haystack")
        .click();
    w.until("the room again, with the message", |h| {
        h.query_by_label("a needle in the haystack").is_some()
            && h.query_by_label("Message").is_some()
            && h.query_by_label("Search results").is_none()
    });
    w.close();
}
