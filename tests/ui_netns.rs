//! The window with real discovery: a room hosted by the headless binary in one network
//! namespace appears in the room list of a window (driven by egui_kittest) in another, and
//! is joined from the list. The test re-runs itself inside the second namespace for the
//! window half. Skips (passes, saying so) where namespaces cannot be made.
#![cfg(target_os = "linux")]

#[path = "support/netns.rs"]
mod netns;

#[path = "support/window.rs"]
mod window;

use egui::Key;
use egui_kittest::kittest::Queryable;
use lanchat::discovery::DiscoveryConfig;
use lanchat::runtime::RuntimeOptions;
use lanchat::store::{Paths, Settings};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use window::TestWindow;

const DEADLINE: Duration = Duration::from_secs(30);
const INSIDE: &str = "LANCHAT_UI_TEST_INSIDE_NETNS";
const NAME: &str = "the_window_lists_a_room_hosted_elsewhere_and_joins_it";

#[test]
#[ignore = "needs root: network namespaces"]
fn the_window_lists_a_room_hosted_elsewhere_and_joins_it() {
    if std::env::var_os(INSIDE).is_some() {
        return window_half();
    }
    let lan = netns::Lan::new(2);
    let dir = tempfile::tempdir().unwrap();
    let mut host = Killed(
        lan.command(1, env!("CARGO_BIN_EXE_lanchat"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["host", "--room", "Lab", "--name", "Bob"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let (lines_tx, lines) = mpsc::channel::<serde_json::Value>();
    let stdout = host.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = lines_tx.send(v);
            }
        }
    });
    let expect = |what: &str, pick: &dyn Fn(&serde_json::Value) -> bool| {
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match lines.recv_timeout(left) {
                Ok(v) if pick(&v) => return v,
                Ok(_) => {}
                Err(_) => panic!("the host never printed {what}"),
            }
        }
    };
    expect("hosting", &|v| v["event"] == "hosting");
    let mut stdin = host.0.stdin.take().unwrap();
    writeln!(stdin, "welcome to the lab").unwrap();
    expect("its own message", &|v| {
        v["event"] == "message" && v["text"] == "welcome to the lab"
    });

    let status = lan
        .command(2, std::env::current_exe().unwrap())
        .args([
            "--exact",
            NAME,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INSIDE, "1")
        .status()
        .unwrap();
    assert!(status.success(), "the window half failed");
    expect("Ada joining", &|v| {
        v["event"] == "joined" && v["name"] == "Ada"
    });
    expect("Ada's message", &|v| {
        v["event"] == "message" && v["from"] == "Ada" && v["text"] == "hello Bob"
    });

    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(host.0.id().to_string())
        .status();
    assert!(
        host.0.wait().unwrap().success(),
        "the host exits cleanly on SIGTERM"
    );
}

/// A child process that is killed if the test ends early.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs inside the second namespace: a window with real discovery on that namespace's LAN.
fn window_half() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        name: Some("Ada".into()),
        ..Settings::default()
    };
    let options = RuntimeOptions {
        downloads: None,
        name: None,
        discovery: Some(DiscoveryConfig::default()),
        bind: None,
        ..RuntimeOptions::profile(Paths::resolve(Some(dir.path().into())).unwrap(), settings)
            .unwrap()
    };
    let mut w = TestWindow::open(options);
    w.until("the status line", |h| {
        h.query_by_label_contains("Looking for rooms on eth0")
            .is_some()
    });
    w.shows("hosted by Bob · 1 member");
    w.harness.get_by_label("Lab").click();
    w.shows("• connected");
    w.shows("welcome to the lab");
    w.harness.get_by_label("Message").type_text("hello Bob");
    w.harness.key_press(Key::Enter);
    w.shows_stored("hello Bob");
    w.close();
}
