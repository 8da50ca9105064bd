//! Desktop notifications as the system receives them: a private D-Bus session bus (its own
//! `dbus-daemon`) with a stand-in `org.freedesktop.Notifications` service on it, and the
//! window's state and notifier sending to it. One test only: it points this process's
//! session bus at the private one.

#![cfg(all(unix, not(target_os = "macos")))]

#[path = "support/bus.rs"]
mod bus;

use bus::{Shown, StandIn, private_bus, until};
use lanchat::app::state::AppState;
use lanchat::bridge::{Event, SessionState};
use lanchat::desktop::Notifier;
use lanchat::net::identity::Identity;
use lanchat::protocol::{ChatMessage, DeviceId, Member, RoomId};
use lanchat::store::Settings;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
