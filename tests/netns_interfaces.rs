//! Choosing interfaces, for real: a runtime in a namespace with two interfaces — its LAN
//! (`eth0`, where another namespace hosts a room) and a link with nobody behind it (`lan2`) —
//! reports both, used or skipped, and finds the room only while `eth0` is in use: not with
//! `lan2` chosen in the settings, then at once when the window's choice goes back to automatic,
//! and no longer once `lan2` is chosen again. The test re-runs itself inside the namespace for
//! the runtime half. Needs root, as the other namespace tests.
#![cfg(target_os = "linux")]

#[path = "support/netns.rs"]
mod netns;

use lanchat::bridge::{self, Command, Event, FrontEnd};
use lanchat::discovery::{DiscoveryConfig, Report, Skip};
use lanchat::runtime::RuntimeOptions;
use lanchat::store::{Change, Paths, Settings};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);
const INSIDE: &str = "LANCHAT_INTERFACES_TEST_INSIDE_NETNS";
const NAME: &str =
    "an_interface_chosen_in_the_settings_is_the_only_one_looked_on_until_the_choice_changes";

#[test]
#[ignore = "needs root: network namespaces"]
fn an_interface_chosen_in_the_settings_is_the_only_one_looked_on_until_the_choice_changes() {
    if std::env::var_os(INSIDE).is_some() {
        return runtime_half();
    }
    let lan = netns::Lan::new(2);
    // A second link on host 2, up, with an address and nobody behind it.
    let ns = lan.ns(2).to_owned();
    for args in [
        vec![
            "-n", &ns, "link", "add", "lan2", "type", "veth", "peer", "name", "lan3",
        ],
        vec!["-n", &ns, "link", "set", "lan2", "multicast", "on", "up"],
        vec!["-n", &ns, "link", "set", "lan3", "up"],
        vec!["-n", &ns, "addr", "add", "10.80.0.2/24", "dev", "lan2"],
    ] {
        let status = std::process::Command::new("ip")
            .args(&args)
            .status()
            .unwrap();
        assert!(status.success(), "ip {}", args.join(" "));
    }
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
    let mut lines = BufReader::new(host.0.stdout.take().unwrap()).lines();
    let hosting = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("\"hosting\""));
    assert!(hosting, "the host never printed hosting");
    // Keep reading what it prints, so it never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));

    let status = lan
        .command(2, std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--ignored", "--nocapture"])
        .env(INSIDE, "1")
        .status()
        .unwrap();
    assert!(status.success(), "the runtime half failed");
}

/// A child process that is killed if the test ends early.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn skipped(report: &Report, name: &str) -> Option<Option<Skip>> {
    report
        .interfaces
        .iter()
        .find(|i| i.name == name)
        .map(|i| i.skipped)
}

/// The next event `pick` accepts, skipping others; fails the test after [`DEADLINE`].
async fn next(front: &mut FrontEnd, what: &str, pick: impl Fn(&Event) -> bool) -> Event {
    loop {
        match tokio::time::timeout(DEADLINE, front.events.recv()).await {
            Ok(Some(event)) if pick(&event) => return event,
            Ok(Some(_)) => {}
            _ => panic!("never saw {what}"),
        }
    }
}

/// Runs inside host 2's namespace: a runtime with real discovery, `lan2` chosen in its
/// settings.
#[tokio::main]
async fn runtime_half() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::resolve(Some(dir.path().into())).unwrap();
    let settings = Settings {
        name: Some("Ada".into()),
        interfaces: vec!["lan2".into()],
        ..Settings::default()
    };
    let settings_file = paths.settings_file();
    let options = RuntimeOptions {
        discovery: Some(DiscoveryConfig::default()),
        ..RuntimeOptions::profile(paths, settings).unwrap()
    };
    let (mut front, back) = bridge::channel();
    let runtime = tokio::spawn(lanchat::runtime::run(back, options));
    let is_lab = |e: &Event| matches!(e, Event::RoomFound(ad) if ad.name == "Lab");

    next(&mut front, "lan2 in use, eth0 not chosen", |e| {
        matches!(e, Event::Network(s)
            if skipped(&s.report, "lan2") == Some(None)
                && skipped(&s.report, "eth0") == Some(Some(Skip::NotChosen))
                && skipped(&s.report, "lo") == Some(Some(Skip::NotChosen))
                && s.report.mdns.is_some())
    })
    .await;
    // Rooms on eth0 stay unseen (a room is found within a second or two where it is looked for).
    let unseen = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match front.events.recv().await {
                Some(event) if is_lab(&event) => return,
                Some(_) => {}
                None => std::future::pending().await,
            }
        }
    })
    .await;
    assert!(
        unseen.is_err(),
        "the room on eth0 was found with only lan2 in use"
    );

    // Automatic again, as "Let lanchat choose" in the window does: eth0 joins, the room appears.
    front.send(Command::Settings(Change::Interfaces(Vec::new())));
    next(
        &mut front,
        "eth0 in use",
        |e| matches!(e, Event::Network(s) if skipped(&s.report, "eth0") == Some(None)),
    )
    .await;
    let Event::RoomFound(lab) = next(&mut front, "the room on eth0", is_lab).await else {
        unreachable!()
    };

    // lan2 alone again: the room, only reachable through eth0's mDNS, leaves the list.
    front.send(Command::Settings(Change::Interfaces(vec!["lan2".into()])));
    next(
        &mut front,
        "the room gone",
        |e| matches!(e, Event::RoomLost(key) if *key == lab.key()),
    )
    .await;

    front.send(Command::Shutdown);
    next(&mut front, "the runtime stopped", |e| {
        matches!(e, Event::Stopped)
    })
    .await;
    runtime.await.unwrap();
    let (saved, _) = Settings::load(&settings_file);
    assert_eq!(saved.interfaces, ["lan2"], "the choice is kept");
}
