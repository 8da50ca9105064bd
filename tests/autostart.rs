//! "Start lanchat when I log in", from the Settings dialog to the file the desktop reads at
//! login (`~/.config/autostart/lanchat.desktop` on Linux). One test only: it points this
//! process's home at a folder of its own.

#![cfg(all(unix, not(target_os = "macos")))]

#[path = "support/window.rs"]
mod window;

use egui_kittest::kittest::Queryable;
use window::TestWindow;

#[test]
fn starting_at_login_is_set_and_unset_from_settings() {
    let home = tempfile::tempdir().unwrap();
    // SAFETY: set before any thread of this test binary reads the environment; the
    // binary has no other test.
    unsafe { std::env::set_var("HOME", home.path()) };
    let entry = home.path().join(".config/autostart/lanchat.desktop");
    let dir = tempfile::tempdir().unwrap();
    let mut w = TestWindow::open(window::adas_options(dir.path()));
    w.harness.run();
    let toggle = |w: &mut TestWindow| {
        w.harness.get_by_label("Settings").click();
        w.harness.run();
        w.harness
            .get_by_label("Start lanchat when I log in")
            .click();
        w.harness.run();
        w.harness.get_by_label("Done").click();
        w.harness.run();
    };
    assert!(!entry.exists(), "off unless asked");
    toggle(&mut w);
    // Written whole (the file is made, then written).
    let start = std::time::Instant::now();
    let said = loop {
        let said = std::fs::read_to_string(&entry).unwrap_or_default();
        if said.contains("Terminal=") {
            break said;
        }
        assert!(
            start.elapsed().as_secs() < 10,
            "no autostart entry: {said:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let exe = std::env::current_exe().unwrap();
    assert!(
        said.contains(&format!("Exec={}", exe.display())),
        "starts this program: {said}"
    );
    assert!(w.harness.state().state.preferences.start_at_login);

    toggle(&mut w);
    let start = std::time::Instant::now();
    while entry.exists() {
        assert!(start.elapsed().as_secs() < 10, "the entry stays");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    w.close();
}
