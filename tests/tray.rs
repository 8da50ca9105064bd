//! The tray icon as a desktop sees it: a private D-Bus session bus (its own `dbus-daemon`)
//! with a stand-in StatusNotifierWatcher (what KDE, Xfce or GNOME's AppIndicator extension
//! run), and a real window (egui_kittest) whose icon registers there. The icon's tooltip follows the unread count; closing the window hides
//! it to the tray (said once, in a notification); a click on the icon brings it back; the
//! menu's Quit quits. One test only: it points this process's session bus at the private one.

#![cfg(all(unix, not(target_os = "macos")))]

#[path = "support/bus.rs"]
mod bus;
#[path = "support/window.rs"]
mod window;

use bus::{private_bus, until};
use lanchat::bridge::Event;
use lanchat::protocol::{DeviceId, RoomId};
use lanchat::store::{Direct, Sent};
use std::sync::{Arc, Mutex};
use window::TestWindow;

/// The stand-in watcher: the items that registered.
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: String) {
        self.items.lock().unwrap().push(service);
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// The ToolTip property's shape: icon name, icon pixmaps, title, description.
type ToolTip = (String, Vec<(i32, i32, Vec<u8>)>, String, String);

#[test]
#[ignore = "needs dbus-daemon (the dbus-daemon package, which .ci/run installs)"]
fn the_window_lives_in_the_tray_with_its_unread_count_and_comes_back_from_it() {
    let (_bus, address) = private_bus();
    // SAFETY: set before any thread of this test binary reads the environment; the
    // binary has no other test.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &address) };
    let items = Arc::new(Mutex::new(Vec::new()));
    let desktop = futures::executor::block_on(async {
        zbus::connection::Builder::session()?
            .name("org.kde.StatusNotifierWatcher")?
            .serve_at(
                "/StatusNotifierWatcher",
                Watcher {
                    items: items.clone(),
                },
            )?
            .build()
            .await
    })
    .expect("the stand-in watcher is on the private bus");

    let dir = tempfile::tempdir().unwrap();
    let mut w = TestWindow::open(window::adas_options(dir.path()));
    w.harness.run();
    until("the icon in the tray", || !items.lock().unwrap().is_empty());
    let item = items.lock().unwrap()[0].clone();
    // Read afresh each time, as a tray does on the item's New… signals (a cached property
    // would only follow PropertiesChanged, which the StatusNotifierItem protocol does not use).
    let proxy = |path: &'static str, interface: &'static str| {
        let builder = zbus::proxy::Builder::<zbus::Proxy>::new(&desktop)
            .destination(item.clone())
            .and_then(|b| b.path(path))
            .and_then(|b| b.interface(interface))
            .unwrap()
            .cache_properties(zbus::proxy::CacheProperties::No);
        futures::executor::block_on(builder.build()).unwrap()
    };
    let icon = proxy("/StatusNotifierItem", "org.kde.StatusNotifierItem");
    let tooltip = || -> String {
        let tip: ToolTip = futures::executor::block_on(icon.get_property("ToolTip")).unwrap();
        tip.3
    };
    assert_eq!(tooltip(), "No unread messages");
    let title: String = futures::executor::block_on(icon.get_property("Title")).unwrap();
    assert_eq!(title, "lanchat");

    // Closing the window hides it in the tray, and says so once.
    close_window(&mut w);
    assert!(w.harness.state().hidden_in_tray(), "hidden, not quit");
    let told = w.notifications.try_recv().expect("a notification");
    assert_eq!(told.title, "lanchat is still running");

    // A direct message while hidden: unread, on the icon (each pass runs hidden too).
    let carol = DeviceId::parse("carol").unwrap();
    w.inject.send(Event::Direct(Direct {
        peer: carol.clone(),
        peer_name: "Carol".into(),
        claimed: None,
        outgoing: false,
        seq: 1,
        ts: 0,
        text: "are you there?".into(),
        room: RoomId::parse("lab").unwrap(),
        state: Sent::Delivered,
    }));
    w.until("the message counted", |h| {
        h.state().state.unread_total() == 1
    });
    until("the count on the icon", || tooltip() == "1 unread message");
    let status: String = futures::executor::block_on(icon.get_property("Status")).unwrap();
    assert_eq!(status, "NeedsAttention");

    // A click on the icon brings the window back.
    futures::executor::block_on(icon.call::<_, _, ()>("Activate", &(0i32, 0i32))).unwrap();
    poll(&mut w, "the window back", |w| {
        !w.harness.state().hidden_in_tray()
    });
    // Closing again hides it again, without saying so again.
    close_window(&mut w);
    assert!(w.harness.state().hidden_in_tray());

    // The menu's Quit quits (nobody is in a room we host: no question).
    let menu = proxy("/MenuBar", "com.canonical.dbusmenu");
    let quit = menu_item(&menu, "Quit");
    let now = zbus::zvariant::Value::from(0i32);
    futures::executor::block_on(menu.call::<_, _, ()>("Event", &(quit, "clicked", now, 0u32)))
        .unwrap();
    poll(&mut w, "quitting", |w| w.harness.state().state.quitting);
    let again: Vec<String> = w.notifications.try_iter().map(|n| n.title).collect();
    assert!(
        !again.iter().any(|t| t == "lanchat is still running"),
        "said once: {again:?}"
    );
    w.close();
}

/// Steps the window until `done` holds (what the tray says wakes no test window by itself).
fn poll(w: &mut TestWindow, what: &str, done: impl Fn(&TestWindow) -> bool) {
    let start = std::time::Instant::now();
    while !done(w) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        w.harness.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Asks the window to close as the system's close button does, and lets it answer.
fn close_window(w: &mut TestWindow) {
    w.ask_to_close();
    w.harness.run_steps(2);
}

/// The id of the menu entry labelled `label`.
fn menu_item(menu: &zbus::Proxy<'_>, label: &str) -> i32 {
    type Layout = (
        i32,
        std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
        Vec<zbus::zvariant::OwnedValue>,
    );
    let (_, (_, _, children)): (u32, Layout) =
        futures::executor::block_on(menu.call("GetLayout", &(0i32, -1i32, Vec::<String>::new())))
            .unwrap();
    for child in children {
        let (id, props, _): Layout = child.try_into().unwrap();
        let said: Option<String> = props
            .get("label")
            .and_then(|v| v.try_clone().ok())
            .and_then(|v| v.try_into().ok());
        if said.as_deref() == Some(label) {
            return id;
        }
    }
    panic!("no menu entry {label}");
}
