//! Desktop notifications as the system receives them: a private D-Bus session bus (its own
//! `dbus-daemon`) with a stand-in `org.freedesktop.Notifications` service on it, and the
//! window's state and notifier sending to it. One test only: it points this process's
//! session bus at the private one.

#![cfg(all(unix, not(target_os = "macos")))]

use lanchat::app::state::AppState;
use lanchat::bridge::{Event, SessionState};
use lanchat::desktop::Notifier;
use lanchat::net::identity::Identity;
use lanchat::protocol::{ChatMessage, DeviceId, Member, RoomId};
use lanchat::store::Settings;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zbus::object_server::SignalEmitter;
use zbus::zvariant::OwnedValue;

/// What the stand-in service was asked to show: (id, summary, body).
type Shown = Arc<Mutex<Vec<(u32, String, String)>>>;

struct StandIn {
    shown: Shown,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl StandIn {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        _app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut shown = self.shown.lock().unwrap();
        let id = shown.len() as u32 + 1;
        shown.push((id, summary, body));
        id
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into(), "actions".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "stand-in".into(),
            "lanchat tests".into(),
            "1".into(),
            "1.2".into(),
        )
    }

    fn close_notification(&self, _id: u32) {}

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;
}

/// A session bus of the test's own, ended with the test.
struct Bus(Child);

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn private_bus() -> (Bus, String) {
    let mut daemon = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-daemon runs (the dbus-daemon package; .ci/run installs it)");
    let mut address = String::new();
    BufReader::new(daemon.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    (Bus(daemon), address.trim().to_owned())
}

fn until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn message(id: u64, from: &str, device: &DeviceId, text: &str) -> ChatMessage {
    ChatMessage {
        id,
        ts: 0,
        from: from.into(),
        device: device.clone(),
        text: text.into(),
        file: None,
    }
}

#[test]
#[ignore = "needs dbus-daemon (the dbus-daemon package, which .ci/run installs)"]
fn one_notification_per_background_message_and_none_for_history_joins_or_our_own() {
    let (_bus, address) = private_bus();
    // SAFETY: set before any thread of this test binary reads the environment; the
    // binary has no other test.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &address) };
    let shown = Shown::default();
    let service = futures::executor::block_on(async {
        zbus::connection::Builder::session()?
            .name("org.freedesktop.Notifications")?
            .serve_at(
                "/org/freedesktop/Notifications",
                StandIn {
                    shown: shown.clone(),
                },
            )?
            .build()
            .await
    })
    .expect("the stand-in service is on the private bus");

    let (click, clicked) = std::sync::mpsc::channel();
    let notifier = Notifier::start(Arc::new(move |room| {
        let _ = click.send(room);
    }));
    let me = Identity::generate().device();
    let bob = DeviceId::parse("bob").unwrap();
    let settings = Settings {
        name: Some("Ada".into()),
        ..Settings::default()
    };
    let mut state = AppState::new(&settings, me.clone(), None);
    let (lab, other) = (
        RoomId::parse("lab").unwrap(),
        RoomId::parse("other").unwrap(),
    );
    for (room, name) in [(&lab, "Lab"), (&other, "Other")] {
        state.apply(Event::Restored {
            room: room.clone(),
            room_name: name.into(),
            host_name: "Bob".into(),
        });
        state.apply(Event::Session {
            room: room.clone(),
            state: SessionState::Connected,
        });
    }
    state.show_room(&other);
    let deliver = |state: &mut AppState, event: Event| {
        state.apply(event);
        state.look(true);
        for notification in state.notifications.drain(..) {
            notifier.notify(notification);
        }
    };
    let said = |room: &RoomId, id, device: &DeviceId, text: &str, live| Event::Message {
        room: room.clone(),
        message: message(id, if device == &me { "Ada" } else { "Bob" }, device, text),
        live,
    };
    // History replayed on joining, someone joining, our own message: nothing to show.
    deliver(&mut state, said(&lab, 1, &bob, "from before", false));
    deliver(
        &mut state,
        Event::MemberJoined {
            room: lab.clone(),
            member: Member {
                id: 3,
                name: "Carol".into(),
                device: DeviceId::parse("carol").unwrap(),
                host: false,
                away: false,
                key: None,
            },
        },
    );
    deliver(&mut state, said(&lab, 2, &me, "mine", true));
    // The open room, in a focused window: read, not announced.
    deliver(&mut state, said(&other, 1, &bob, "in front of you", true));
    // Two messages in the room not on screen: one notification each, markup shown as text.
    deliver(&mut state, said(&lab, 3, &bob, "hello <b>Ada</b>", true));
    deliver(&mut state, said(&lab, 4, &bob, "second", true));

    until("two notifications", || shown.lock().unwrap().len() >= 2);
    std::thread::sleep(Duration::from_millis(300));
    let seen = shown.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (
                1,
                "Bob in Lab".into(),
                "hello &lt;b&gt;Ada&lt;/b&gt;".into()
            ),
            (2, "Bob in Lab".into(), "second".into()),
        ]
    );

    // Clicking the first opens its room. (Said again until heard: the notifier starts
    // listening for the click on a thread of its own, which a busy machine may start late.)
    let click = || {
        futures::executor::block_on(async {
            let iface = service
                .object_server()
                .interface::<_, StandIn>("/org/freedesktop/Notifications")
                .await?;
            StandIn::action_invoked(iface.signal_emitter(), 1, "default").await
        })
        .unwrap()
    };
    let start = Instant::now();
    let room = loop {
        click();
        match clicked.recv_timeout(Duration::from_millis(200)) {
            Ok(room) => break room,
            Err(_) => assert!(
                start.elapsed() < Duration::from_secs(10),
                "the click is never heard"
            ),
        }
    };
    assert_eq!(room, lanchat::app::attention::Target::Room(lab));
}
