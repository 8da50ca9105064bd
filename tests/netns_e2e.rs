//! End to end: the real `lanchat` binary, headless, on a LAN in a box (network namespaces
//! joined by one bridge, see `support/netns.rs`). Rooms are found with real mDNS and members
//! talk to the host over real TCP, but no packet leaves the namespaces these tests make.
//!
//! Needs root (for the namespaces): the tests are ignored by a plain `cargo test`; `.ci/run`
//! (as root) runs them with `--ignored`.

#![cfg(target_os = "linux")]

#[path = "support/netns.rs"]
mod netns;
#[path = "support/proc.rs"]
mod proc;

use netns::Lan;
use proc::{Proc, data_dir, deadline, run_to_end};
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs root: network namespaces"]
fn discover_host_join_and_chat_both_ways() {
    let lan = Lan::new(3);
    let until = deadline();
    let (ada_dir, rooms_dir, bob_dir, carol_dir) = (data_dir(), data_dir(), data_dir(), data_dir());

    let mut ada = Proc::spawn(
        &lan,
        1,
        "Ada",
        ada_dir.path(),
        &["host", "--room", "Lab", "--name", "Ada"],
    );
    // A line typed before the room is open is sent once it is.
    ada.write_line("early bird");
    let hosting = ada.expect_event("hosting", &[("name", "Lab")], until);
    let room_id = hosting["id"]
        .as_str()
        .expect("hosting has an id")
        .to_owned();
    let port = hosting["port"].as_u64().expect("hosting has a port");

    // Another machine sees the room with its host and address.
    let mut rooms = Proc::spawn(
        &lan,
        2,
        "rooms",
        rooms_dir.path(),
        &["rooms", "--wait", "3"],
    );
    let status = rooms.wait_exit(deadline());
    assert!(
        status.success(),
        "rooms exited with {status}; stderr:\n{}",
        rooms.stderr()
    );
    let lab = rooms.expect_event("room", &[("name", "Lab")], Instant::now());
    assert_eq!(lab["id"], room_id.as_str(), "{lab}");
    assert_eq!(lab["host"], "Ada", "{lab}");
    assert_eq!(lab["locked"], false, "{lab}");
    assert_eq!(lab["port"], port, "{lab}");
    let addrs: Vec<&str> = lab["addrs"]
        .as_array()
        .expect("addrs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        addrs.contains(&"10.79.0.1"),
        "Lab is not listed at 10.79.0.1: {lab}"
    );

    // Two members join by name, found with discovery.
    let join = |host, name: &str, dir: &tempfile::TempDir| {
        Proc::spawn(
            &lan,
            host,
            name,
            dir.path(),
            &["join", "Lab", "--name", name, "--wait", "20"],
        )
    };
    let mut bob = join(2, "Bob", &bob_dir);
    let joined = bob.expect_event("joined", &[("name", "Bob"), ("room", "Lab")], until);
    assert_eq!(joined["id"], room_id.as_str(), "{joined}");
    assert_eq!(joined["host"], "Ada", "{joined}");
    bob.expect_event("message", &[("from", "Ada"), ("text", "early bird")], until);
    ada.expect_event("joined", &[("name", "Bob")], until);

    let mut carol = join(3, "Carol", &carol_dir);
    let joined = carol.expect_event("joined", &[("name", "Carol"), ("room", "Lab")], until);
    let members: Vec<&str> = joined["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in ["Ada", "Bob", "Carol"] {
        assert!(members.contains(&name), "{name} missing from {joined}");
    }
    ada.expect_event("joined", &[("name", "Carol")], until);
    bob.expect_event("joined", &[("name", "Carol")], until);

    // Every line reaches everyone else.
    bob.write_line("hello from Bob");
    for p in [&mut carol, &mut ada] {
        p.expect_event(
            "message",
            &[("from", "Bob"), ("text", "hello from Bob")],
            until,
        );
    }
    carol.write_line("hi from Carol");
    for p in [&mut bob, &mut ada] {
        p.expect_event(
            "message",
            &[("from", "Carol"), ("text", "hi from Carol")],
            until,
        );
    }
    ada.write_line("welcome, says Ada");
    for p in [&mut bob, &mut carol] {
        p.expect_event(
            "message",
            &[("from", "Ada"), ("text", "welcome, says Ada")],
            until,
        );
    }

    // A member whose input ends leaves cleanly. (Marks first: a join can show up as a
    // short joined-left-joined when discovery hears of a second address mid-handshake.)
    ada.mark();
    carol.mark();
    bob.close_stdin();
    let status = bob.wait_exit(deadline());
    assert!(
        status.success(),
        "Bob exited with {status}; stderr:\n{}",
        bob.stderr()
    );
    ada.expect_event("left", &[("name", "Bob")], deadline());
    carol.expect_event("left", &[("name", "Bob")], deadline());

    // The host stops on SIGTERM; the remaining member waits for the room to come back.
    carol.mark();
    ada.terminate();
    let status = ada.wait_exit(deadline());
    assert!(
        status.success(),
        "Ada exited with {status}; stderr:\n{}",
        ada.stderr()
    );
    carol.expect_event("status", &[("state", "waiting")], deadline());
}

#[test]
#[ignore = "needs root: network namespaces"]
fn host_restart_keeps_the_room_and_members_rejoin() {
    let lan = Lan::new(3);
    let (ada_dir, bob_dir, carol_dir) = (data_dir(), data_dir(), data_dir());
    let host_args = ["host", "--room", "Lab", "--name", "Ada"];

    let until = deadline();
    let mut ada = Proc::spawn(&lan, 1, "Ada", ada_dir.path(), &host_args);
    let hosting = ada.expect_event("hosting", &[("name", "Lab")], until);
    let room_id = hosting["id"]
        .as_str()
        .expect("hosting has an id")
        .to_owned();

    let mut bob = Proc::spawn(
        &lan,
        2,
        "Bob",
        bob_dir.path(),
        &["join", "Lab", "--name", "Bob", "--wait", "20"],
    );
    bob.expect_event("joined", &[("name", "Bob"), ("id", &room_id)], until);
    bob.write_line("before the restart");
    bob.expect_event(
        "message",
        &[("from", "Bob"), ("text", "before the restart")],
        until,
    );
    ada.expect_event(
        "message",
        &[("from", "Bob"), ("text", "before the restart")],
        until,
    );

    bob.mark();
    ada.terminate();
    let status = ada.wait_exit(deadline());
    assert!(
        status.success(),
        "Ada exited with {status}; stderr:\n{}",
        ada.stderr()
    );
    bob.expect_event("status", &[("state", "waiting")], deadline());
    bob.mark();

    // Hosting the same name from the same data dir reopens the same room.
    let until = deadline();
    let mut ada = Proc::spawn(&lan, 1, "Ada again", ada_dir.path(), &host_args);
    let hosting = ada.expect_event("hosting", &[("name", "Lab")], until);
    assert_eq!(
        hosting["id"],
        room_id.as_str(),
        "the room came back with another id: {hosting}"
    );

    // Bob rejoins by himself: a second "joined", after the waiting status.
    let rejoined = bob.expect_event("joined", &[("name", "Bob")], until);
    assert_eq!(rejoined["id"], room_id.as_str(), "{rejoined}");
    ada.expect_event("joined", &[("name", "Bob")], until);
    ada.write_line("after the restart");
    bob.expect_event(
        "message",
        &[("from", "Ada"), ("text", "after the restart")],
        until,
    );

    // A late joiner gets the history from before the restart.
    let mut carol = Proc::spawn(
        &lan,
        3,
        "Carol",
        carol_dir.path(),
        &["join", "Lab", "--name", "Carol", "--wait", "20"],
    );
    carol.expect_event("joined", &[("name", "Carol"), ("id", &room_id)], until);
    let old = carol.expect_event(
        "message",
        &[("from", "Bob"), ("text", "before the restart")],
        until,
    );
    let new = carol.expect_event(
        "message",
        &[("from", "Ada"), ("text", "after the restart")],
        until,
    );
    assert!(
        old["id"].as_u64() < new["id"].as_u64(),
        "history out of order: {old} then {new}"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn join_by_address_without_discovery() {
    let lan = Lan::new(2);
    let (ada_dir, bob_dir, dan_dir) = (data_dir(), data_dir(), data_dir());
    let until = deadline();

    let mut ada = Proc::spawn(
        &lan,
        1,
        "Ada",
        ada_dir.path(),
        &["host", "--room", "Lab", "--name", "Ada"],
    );
    let hosting = ada.expect_event("hosting", &[("name", "Lab")], until);
    let room_id = hosting["id"]
        .as_str()
        .expect("hosting has an id")
        .to_owned();
    let addr = format!(
        "{}:{}",
        lan.addr(1),
        hosting["port"].as_u64().expect("hosting has a port")
    );

    let mut bob = Proc::spawn(
        &lan,
        2,
        "Bob",
        bob_dir.path(),
        &["join", "Lab", "--name", "Bob", "--addr", &addr],
    );
    let joined = bob.expect_event("joined", &[("name", "Bob"), ("room", "Lab")], until);
    assert_eq!(joined["id"], room_id.as_str(), "{joined}");
    assert_eq!(joined["host"], "Ada", "{joined}");
    ada.expect_event("joined", &[("name", "Bob")], until);
    bob.write_line("found you by address");
    ada.expect_event(
        "message",
        &[("from", "Bob"), ("text", "found you by address")],
        until,
    );
    bob.close_stdin();
    let status = bob.wait_exit(deadline());
    assert!(
        status.success(),
        "Bob exited with {status}; stderr:\n{}",
        bob.stderr()
    );

    // The right address with the wrong room name fails, and says why.
    let mut dan = Proc::spawn(
        &lan,
        2,
        "Dan",
        dan_dir.path(),
        &["join", "Kitchen", "--name", "Dan", "--addr", &addr],
    );
    dan.close_stdin();
    let status = dan.wait_exit(deadline());
    let stderr = dan.stderr();
    assert!(
        !status.success(),
        "joining Kitchen at {addr} succeeded; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("lanchat: {addr} runs the room \"Lab\""))
            && stderr.contains("not \"Kitchen\""),
        "unclear error for a wrong room name:\n{stderr}"
    );
    assert!(
        !dan.seen.iter().any(|v| v["event"] == "joined"),
        "Dan joined something: {:?}",
        dan.seen
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn files_sent_by_one_member_reach_two_receivers_identical() {
    use std::collections::BTreeSet;
    use std::path::Path;

    let lan = Lan::new(3);
    let (ada_dir, bob_dir, carol_dir, dan_dir, erin_dir) =
        (data_dir(), data_dir(), data_dir(), data_dir(), data_dir());
    let (bob_dl, carol_dl, erin_dl, outbox) = (data_dir(), data_dir(), data_dir(), data_dir());

    // Two files: one of many pieces whose length is no multiple of a piece (pseudo-random, so
    // a misplaced piece cannot go unnoticed), and a small one whose name has a space; and a
    // folder, whose file each receiver saves in a folder of that name.
    let big_name = "ünïcødé.bin";
    let small_name = "report final.txt";
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let big: Vec<u8> = (0..5 * 1024 * 1024 + 4321)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let small = b"Quarterly figures, final.\nNot a path: ../../etc/x.txt\n".to_vec();
    let big_path = outbox.path().join(big_name);
    let small_path = outbox.path().join(small_name);
    std::fs::write(&big_path, &big).expect("writing the big file");
    std::fs::write(&small_path, &small).expect("writing the small file");
    let folder = outbox.path().join("minutes");
    let minutes = b"Minutes of the meeting.\n".to_vec();
    std::fs::create_dir_all(folder.join("2026")).expect("making the folder");
    std::fs::write(folder.join("2026").join("june.txt"), &minutes).expect("writing june.txt");
    // (name, contents, blake3 hex) of each original.
    let originals: Vec<(&str, &[u8], String)> = vec![
        (big_name, &big, blake3::hash(&big).to_hex().to_string()),
        (
            small_name,
            &small,
            blake3::hash(&small).to_hex().to_string(),
        ),
        (
            "minutes/2026/june.txt",
            &minutes,
            blake3::hash(&minutes).to_hex().to_string(),
        ),
    ];

    let until = deadline();
    let mut ada = Proc::spawn(
        &lan,
        1,
        "Ada",
        ada_dir.path(),
        &["host", "--room", "Lab", "--name", "Ada"],
    );
    let hosting = ada.expect_event("hosting", &[("name", "Lab")], until);
    let room_id = hosting["id"]
        .as_str()
        .expect("hosting has an id")
        .to_owned();

    let receiver = |host, name: &str, dir: &tempfile::TempDir, dl: &tempfile::TempDir| {
        Proc::spawn(
            &lan,
            host,
            name,
            dir.path(),
            &[
                "join",
                "Lab",
                "--name",
                name,
                "--wait",
                "20",
                "--downloads",
                dl.path().to_str().expect("a UTF-8 temp dir"),
            ],
        )
    };
    let mut bob = receiver(2, "Bob", &bob_dir, &bob_dl);
    let mut carol = receiver(3, "Carol", &carol_dir, &carol_dl);
    bob.expect_event("joined", &[("name", "Bob"), ("id", &room_id)], until);
    carol.expect_event("joined", &[("name", "Carol"), ("id", &room_id)], until);
    ada.expect_event("joined", &[("name", "Bob")], until);
    ada.expect_event("joined", &[("name", "Carol")], until);

    // Dan, on the host's machine with a data dir of his own, sends both and is done once the
    // host holds verified copies.
    let big_arg = big_path.to_str().expect("a UTF-8 path");
    let small_arg = small_path.to_str().expect("a UTF-8 path");
    let mut dan = Proc::spawn(
        &lan,
        1,
        "Dan",
        dan_dir.path(),
        &[
            "send",
            "Lab",
            big_arg,
            small_arg,
            folder.to_str().expect("a UTF-8 path"),
            "--name",
            "Dan",
            "--wait",
            "20",
        ],
    );
    dan.close_stdin();
    let status = dan.wait_exit(deadline());
    assert!(
        status.success(),
        "Dan exited with {status}; events: {:?}\nstderr:\n{}",
        dan.seen,
        dan.stderr()
    );
    for (name, bytes, hash) in &originals {
        let sent = dan.expect_event("sent", &[("name", name)], Instant::now());
        assert_eq!(sent["size"], bytes.len() as u64, "{sent}");
        assert_eq!(sent["blake3"], hash.as_str(), "{sent}");
    }
    assert_eq!(
        dan.seen.iter().filter(|v| v["event"] == "sent").count(),
        3,
        "Dan sent something twice: {:?}",
        dan.seen
    );
    // Progress never runs backwards or past the end.
    let mut last: std::collections::HashMap<String, u64> = Default::default();
    for p in dan.seen.iter().filter(|v| v["event"] == "progress") {
        let (name, sent, size) = (
            p["name"].as_str().expect("progress has a name").to_owned(),
            p["sent"].as_u64().expect("progress has sent"),
            p["size"].as_u64().expect("progress has a size"),
        );
        assert!(sent <= size, "progress past the end: {p}");
        let before = last.insert(name, sent).unwrap_or(0);
        assert!(before <= sent, "progress went back from {before}: {p}");
    }
    assert!(
        !dan.seen.iter().any(|v| v["event"] == "NOT-JSON"),
        "Dan printed something that is not JSON: {:?}",
        dan.seen
    );

    /// Waits for `p` to announce and save each original, and checks the saved copies.
    fn receives_all(p: &mut Proc, dl: &Path, originals: &[(&str, &[u8], String)], until: Instant) {
        let dl = dl.canonicalize().expect("the downloads dir exists");
        for (name, bytes, hash) in originals {
            let message = p.expect(&format!("a message from Dan with {name}"), until, |v| {
                v["event"] == "message" && v["from"] == "Dan" && v["file"]["name"] == *name
            });
            assert_eq!(message["file"]["size"], bytes.len() as u64, "{message}");
            assert_eq!(message["file"]["blake3"], hash.as_str(), "{message}");
        }
        for (name, bytes, hash) in originals {
            let file = p.expect_event("file", &[("name", name)], until);
            assert_eq!(file["size"], bytes.len() as u64, "{} got {file}", p.label);
            assert_eq!(file["blake3"], hash.as_str(), "{} got {file}", p.label);
            let path = Path::new(file["path"].as_str().expect("file has a path"));
            let path = path
                .canonicalize()
                .unwrap_or_else(|e| panic!("{}: {file}: {e}", p.label));
            // A folder's file is saved in that folder, inside the downloads.
            assert_eq!(path, dl.join(name), "{} got {file}", p.label);
            let saved = std::fs::read(&path).expect("reading a received file");
            assert!(
                saved == *bytes,
                "{}: {} differs from the original ({} bytes, blake3 {} instead of {hash})",
                p.label,
                path.display(),
                saved.len(),
                blake3::hash(&saved).to_hex()
            );
        }
    }

    receives_all(&mut bob, bob_dl.path(), &originals, deadline());
    receives_all(&mut carol, carol_dl.path(), &originals, deadline());
    // The host saw them posted too.
    for (name, _, hash) in &originals {
        let message = ada.expect(
            &format!("a message from Dan with {name}"),
            deadline(),
            |v| v["event"] == "message" && v["from"] == "Dan" && v["file"]["name"] == *name,
        );
        assert_eq!(message["file"]["blake3"], hash.as_str(), "{message}");
    }

    // A late joiner gets them all from the history it is welcomed with.
    let until = deadline();
    let mut erin = receiver(2, "Erin", &erin_dir, &erin_dl);
    erin.expect_event("joined", &[("name", "Erin"), ("id", &room_id)], until);
    receives_all(&mut erin, erin_dl.path(), &originals, deadline());

    // A joiner whose input has already ended still waits for the history's files.
    let (fay_dir, fay_dl) = (data_dir(), data_dir());
    let mut fay = receiver(3, "Fay", &fay_dir, &fay_dl);
    fay.close_stdin();
    let status = fay.wait_exit(deadline());
    if !status.success() {
        fay.fail(&format!("exited with {status}"));
    }
    let files = fay.seen.iter().filter(|v| v["event"] == "file").count();
    if files != 3 {
        fay.fail(&format!("saved {files} files instead of 3 before leaving"));
    }

    // Everyone's input ends: each leaves cleanly, with nothing left to download.
    for p in [&mut bob, &mut carol, &mut erin] {
        p.close_stdin();
    }
    for p in [&mut bob, &mut carol, &mut erin] {
        let status = p.wait_exit(deadline());
        if !status.success() {
            p.fail(&format!("exited with {status}"));
        }
        let files = p.seen.iter().filter(|v| v["event"] == "file").count();
        if files != 3 {
            p.fail(&format!("saved {files} files instead of 3"));
        }
    }

    // Each downloads dir holds exactly the two files and the folder: no second copy, no
    // partial file.
    let want: BTreeSet<String> = originals
        .iter()
        .filter_map(|(n, _, _)| n.split('/').next())
        .map(str::to_owned)
        .collect();
    for (who, dl) in [("Bob", &bob_dl), ("Carol", &carol_dl), ("Erin", &erin_dl)] {
        let names: BTreeSet<String> = std::fs::read_dir(dl.path())
            .expect("listing a downloads dir")
            .map(|e| {
                e.expect("a dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert!(
            !names.iter().any(|n| n.contains("lanchat-part")),
            "{who} has partial files left: {names:?}"
        );
        assert_eq!(names, want, "{who}'s downloads dir");
    }
}

/// Everything said in a password room, a file shared in it, and the password itself, as
/// captured on the host's link: none of it is readable. (The room's advert is: the capture
/// sees plaintext where there is any.)
#[test]
#[ignore = "needs root: network namespaces"]
fn nothing_readable_crosses_the_network() {
    const PASSWORD: &str = "Correct-Horse-7731";
    const MARKER: &str = "MARKER-9f2c-never-in-plaintext";
    const PATTERN: &[u8] = b"FILE-BYTES-5c1e-";
    let lan = Lan::new(3);
    let until = deadline();
    let work = data_dir();
    let pcap = work.path().join("lan.pcap");
    let mut tcpdump = lan.capture(1, &pcap);
    let (ada_dir, bob_dir, carol_dir, sender_dir) =
        (data_dir(), data_dir(), data_dir(), data_dir());

    let mut ada = Proc::spawn(
        &lan,
        1,
        "Ada",
        ada_dir.path(),
        &[
            "host",
            "--room",
            "Vault",
            "--name",
            "Ada",
            "--password",
            PASSWORD,
        ],
    );
    let hosting = ada.expect_event("hosting", &[("name", "Vault")], until);
    assert_eq!(hosting["locked"], true, "{hosting}");
    let received = work.path().join("received");
    let received_arg = received.to_str().unwrap().to_owned();
    let mut bob = Proc::spawn(
        &lan,
        2,
        "Bob",
        bob_dir.path(),
        &[
            "join",
            "Vault",
            "--name",
            "Bob",
            "--password",
            PASSWORD,
            "--wait",
            "20",
        ],
    );
    bob.expect_event("joined", &[("name", "Bob")], until);
    let mut carol = Proc::spawn(
        &lan,
        3,
        "Carol",
        carol_dir.path(),
        &[
            "join",
            "Vault",
            "--name",
            "Carol",
            "--password",
            PASSWORD,
            "--wait",
            "20",
            "--downloads",
            &received_arg,
        ],
    );
    carol.expect_event("joined", &[("name", "Carol")], until);

    bob.write_line(MARKER);
    carol.expect_event("message", &[("from", "Bob"), ("text", MARKER)], until);
    let file = work.path().join("secret.bin");
    let content: Vec<u8> = PATTERN.iter().copied().cycle().take(300_000).collect();
    std::fs::write(&file, &content).unwrap();
    let (sender, status) = run_to_end(
        &lan,
        2,
        "send",
        sender_dir.path(),
        &[
            "send",
            "Vault",
            file.to_str().unwrap(),
            "--name",
            "Sam",
            "--password",
            PASSWORD,
        ],
    );
    assert!(status.success(), "send failed: {}", sender.stderr());
    carol.expect_event("file", &[("name", "secret.bin")], until);
    assert_eq!(std::fs::read(received.join("secret.bin")).unwrap(), content);

    proc::signal(tcpdump.id() as i32, proc::SIGTERM);
    tcpdump.wait().unwrap();
    let captured = std::fs::read(&pcap).unwrap();
    let has = |needle: &[u8]| captured.windows(needle.len()).any(|w| w == needle);
    assert!(
        captured.len() > content.len(),
        "the file crossed the captured link"
    );
    assert!(
        has(b"Vault"),
        "the capture sees plaintext where there is some (the advert)"
    );
    assert!(
        !has(MARKER.as_bytes()),
        "a chat message crossed in plaintext"
    );
    assert!(!has(PATTERN), "file bytes crossed in plaintext");
    assert!(
        !has(PASSWORD.as_bytes()),
        "the password crossed the network"
    );
}

/// A member posting as fast as it can is slowed to the room's rate (its lines wait in its
/// outbox, in order); a member on a slow link (2 Mbit/s) stays in the room and keeps hearing
/// it, without waiting behind the flood.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_member_on_a_slow_link_stays_in_while_another_floods() {
    let lan = Lan::new(3);
    lan.cap_rate(3, "2mbit").expect("tc tbf");
    let until = deadline();
    let (ada_dir, bob_dir, carol_dir) = (data_dir(), data_dir(), data_dir());
    let mut ada = Proc::spawn(
        &lan,
        1,
        "Ada",
        ada_dir.path(),
        &["host", "--room", "Busy", "--name", "Ada"],
    );
    ada.expect_event("hosting", &[("name", "Busy")], until);
    let mut carol = Proc::spawn(
        &lan,
        3,
        "Carol",
        carol_dir.path(),
        &["join", "Busy", "--name", "Carol", "--wait", "20"],
    );
    carol.expect_event("joined", &[("name", "Carol")], until);
    let mut bob = Proc::spawn(
        &lan,
        2,
        "Bob",
        bob_dir.path(),
        &["join", "Busy", "--name", "Bob", "--wait", "20"],
    );
    bob.expect_event("joined", &[("name", "Bob")], until);
    carol.expect_event("joined", &[("name", "Bob")], until);
    ada.mark();
    carol.mark();

    let line = "x".repeat(200);
    for i in 0..3000 {
        bob.write_line(&format!("flood {i} {line}"));
    }
    bob.close_stdin();
    // The burst, then the room's rate: Carol hears the flood in order.
    for i in 0..40 {
        let text = format!("flood {i} {line}");
        carol.expect_event("message", &[("from", "Bob"), ("text", &text)], until);
    }
    ada.write_line("after the flood");
    carol.expect_event(
        "message",
        &[("from", "Ada"), ("text", "after the flood")],
        Instant::now() + Duration::from_secs(30),
    );
    assert!(
        !carol.seen.iter().any(|v| v["event"] == "status"),
        "Carol lost the room: {:?}",
        carol
            .seen
            .iter()
            .filter(|v| v["event"] == "status")
            .collect::<Vec<_>>()
    );
    assert!(
        !ada.seen
            .iter()
            .any(|v| v["event"] == "left" && v["name"] == "Carol")
    );
}

/// `whoami`, `--password` and `--accept-new-key`, as a person on a command line uses them.
#[test]
#[ignore = "needs root: network namespaces"]
fn passwords_and_a_changed_host_key_on_the_command_line() {
    let lan = Lan::new(2);
    let until = deadline();
    let (ada_dir, bob_dir, eve_dir) = (data_dir(), data_dir(), data_dir());
    let (who, status) = run_to_end(&lan, 1, "whoami", ada_dir.path(), &["whoami"]);
    assert!(status.success());
    let me = who
        .seen
        .iter()
        .find(|v| v["event"] == "whoami")
        .expect("whoami")
        .clone();
    let ada_fp = me["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(ada_fp.len(), 19, "{me}");

    let mut ada = Proc::spawn(
        &lan,
        1,
        "Ada",
        ada_dir.path(),
        &[
            "host",
            "--room",
            "Lab",
            "--name",
            "Ada",
            "--password",
            "tulip",
        ],
    );
    let hosting = ada.expect_event("hosting", &[("name", "Lab")], until);
    assert_eq!(hosting["fingerprint"], ada_fp.as_str());
    assert_eq!(hosting["locked"], true);

    let join = |args: &[&str]| {
        let mut all = vec!["join", "Lab", "--name", "Bob", "--wait", "5"];
        all.extend_from_slice(args);
        run_to_end(&lan, 2, "Bob", bob_dir.path(), &all)
    };
    let (bob, status) = join(&[]);
    assert!(!status.success());
    assert!(
        bob.stderr().contains("needs a password") && bob.stderr().contains("--password"),
        "{}",
        bob.stderr()
    );
    let (bob, status) = join(&["--password", "tulips"]);
    assert!(!status.success());
    assert!(bob.stderr().contains("wrong password"), "{}", bob.stderr());
    std::thread::sleep(Duration::from_millis(1500)); // the wait after a wrong guess
    let (bob, status) = join(&["--password", "tulip"]);
    assert!(status.success(), "{}", bob.stderr());
    let joined = bob
        .seen
        .iter()
        .find(|v| v["event"] == "joined")
        .expect("joined")
        .clone();
    assert_eq!(joined["host_fingerprint"], ada_fp.as_str(), "{joined}");

    // Ada's room id, hosted by another machine (her settings copied, not her key).
    ada.terminate();
    ada.wait_exit(deadline());
    std::fs::create_dir_all(eve_dir.path().join("config")).unwrap();
    std::fs::copy(
        ada_dir.path().join("config/settings.json"),
        eve_dir.path().join("config/settings.json"),
    )
    .unwrap();
    let mut eve = Proc::spawn(
        &lan,
        1,
        "Eve",
        eve_dir.path(),
        &[
            "host",
            "--room",
            "Lab",
            "--name",
            "Eve",
            "--password",
            "tulip",
        ],
    );
    let hosting = eve.expect_event("hosting", &[("name", "Lab")], deadline());
    assert_eq!(hosting["id"], joined["id"], "the same room id");
    let eve_fp = hosting["fingerprint"].as_str().unwrap().to_owned();
    assert_ne!(eve_fp, ada_fp);

    let (bob, status) = join(&["--password", "tulip"]);
    assert!(!status.success(), "joined a host with another key");
    let stderr = bob.stderr();
    assert!(
        stderr.contains(&eve_fp) && stderr.contains(&ada_fp) && stderr.contains("--accept-new-key"),
        "{stderr}"
    );
    assert!(!bob.seen.iter().any(|v| v["event"] == "joined"));
    let (bob, status) = join(&["--password", "tulip", "--accept-new-key"]);
    assert!(status.success(), "{}", bob.stderr());
    let joined = bob
        .seen
        .iter()
        .find(|v| v["event"] == "joined")
        .expect("joined")
        .clone();
    assert_eq!(joined["host_fingerprint"], eve_fp.as_str(), "{joined}");
    eve.terminate();
}

/// One lanchat per profile: a second one started on the same data folder says so and leaves
/// the first alone.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_second_lanchat_on_one_profile_says_so() {
    let lan = Lan::new(1);
    let dir = data_dir();
    let mut first = Proc::spawn(&lan, 1, "first", dir.path(), &["host", "--room", "Lab"]);
    first.expect_event("hosting", &[("name", "Lab")], deadline());
    let (second, status) = run_to_end(&lan, 1, "second", dir.path(), &["rooms", "--wait", "1"]);
    assert!(!status.success());
    assert!(
        second
            .stderr()
            .contains("another lanchat is using this profile"),
        "{}",
        second.stderr()
    );
    // The first carries on, and once it is gone the profile is free.
    first.write_line("still here");
    first.expect_event("message", &[("text", "still here")], deadline());
    first.terminate();
    first.wait_exit(deadline());
    let (_, status) = run_to_end(&lan, 1, "third", dir.path(), &["rooms", "--wait", "1"]);
    assert!(status.success());
}

/// Interface names are any Unicode on some systems (Windows uses localized names): rooms are
/// found across links named "以太网" and "büro-lan", as across "eth0".
#[test]
#[ignore = "needs root: network namespaces"]
fn rooms_are_found_across_links_with_non_ascii_names() {
    let lan = Lan::new(2);
    lan.rename_link(1, "以太网")
        .expect("a UTF-8 interface name");
    lan.rename_link(2, "büro-lan")
        .expect("a UTF-8 interface name");
    let (ada_dir, rooms_dir) = (data_dir(), data_dir());
    let mut ada = Proc::spawn(
        &lan,
        1,
        "Ada",
        ada_dir.path(),
        &["host", "--room", "Café", "--name", "Ada"],
    );
    ada.expect_event("hosting", &[("name", "Café")], deadline());
    let (rooms, status) = run_to_end(
        &lan,
        2,
        "rooms",
        rooms_dir.path(),
        &["rooms", "--wait", "4"],
    );
    assert!(status.success(), "{}", rooms.stderr());
    assert!(
        rooms
            .seen
            .iter()
            .any(|v| v["event"] == "room" && v["name"] == "Café"),
        "not found across büro-lan: {:?}\n{}",
        rooms.seen,
        rooms.stderr()
    );
    ada.terminate();
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_crashed_host_leaves_an_open_room_list_and_comes_back() {
    let lan = Lan::new(3);
    let (ada_dir, carol_dir, watcher_dir) = (data_dir(), data_dir(), data_dir());
    let host_args = ["host", "--room", "Lab", "--name", "Ada"];
    let until = deadline();
    let mut ada = Proc::spawn(&lan, 1, "Ada", ada_dir.path(), &host_args);
    let lab = ada.expect_event("hosting", &[("name", "Lab")], until)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut carol = Proc::spawn(
        &lan,
        3,
        "Carol",
        carol_dir.path(),
        &["host", "--room", "Attic", "--name", "Carol"],
    );
    let attic = carol.expect_event("hosting", &[("name", "Attic")], until)["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A list that is open before anything goes wrong, as the window's is.
    let mut list = Proc::spawn(
        &lan,
        2,
        "watcher",
        watcher_dir.path(),
        &["rooms", "--watch"],
    );
    list.expect_event("room", &[("id", &lab)], until);
    list.expect_event("room", &[("id", &attic)], until);

    // The host process dies: no goodbye on mDNS, its port refuses.
    list.mark();
    ada.child.kill().unwrap();
    let killed = Instant::now();
    list.expect_event("room_gone", &[("id", &lab)], deadline());
    let crashed = killed.elapsed();

    // It comes back: listed again as soon as it announces itself.
    let mut ada = Proc::spawn(&lan, 1, "Ada again", ada_dir.path(), &host_args);
    ada.expect_event("hosting", &[("name", "Lab")], deadline());
    let restarted = Instant::now();
    list.expect_event("room", &[("id", &lab)], deadline());
    let back = restarted.elapsed();

    // The host's machine leaves the network: nothing answers, not even a refusal.
    list.mark();
    lan.set_link(3, false).unwrap();
    let cut = Instant::now();
    list.expect_event("room_gone", &[("id", &attic)], deadline());
    let vanished = cut.elapsed();
    // The room that is still there stays listed.
    std::thread::sleep(Duration::from_secs(4));
    while list.pull(Instant::now()) {}
    assert!(
        !list
            .seen
            .iter()
            .zip(&list.used)
            .any(|(v, used)| !used && v["event"] == "room_gone" && v["id"] == lab.as_str()),
        "a live room left the list: {:?}",
        list.seen
    );
    println!(
        "room left an open list {:.1} s after its host was killed, {:.1} s after its machine \
         went off the network; listed again {:.1} s after the host was back",
        crashed.as_secs_f64(),
        vanished.as_secs_f64(),
        back.as_secs_f64()
    );
}

/// A room list that stays open (as the window's does) follows the member count as people
/// join and leave.
#[test]
#[ignore = "needs root: network namespaces"]
fn an_open_room_list_keeps_the_member_count_current() {
    let lan = Lan::new(3);
    let (ada_dir, watcher_dir) = (data_dir(), data_dir());
    let member_dirs = [data_dir(), data_dir(), data_dir()];
    let until = deadline();
    let mut ada = Proc::spawn(
        &lan,
        1,
        "Ada",
        ada_dir.path(),
        &["host", "--room", "Lab", "--name", "Ada"],
    );
    let lab = ada.expect_event("hosting", &[("name", "Lab")], until)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut list = Proc::spawn(
        &lan,
        2,
        "watcher",
        watcher_dir.path(),
        &["rooms", "--watch"],
    );
    let with = |list: &mut Proc, n: u64, until| {
        list.expect(&format!("Lab with {n} members"), until, |v| {
            v["event"] == "room" && v["id"] == lab.as_str() && v["members"] == n
        });
    };
    with(&mut list, 1, until);
    let mut members: Vec<Proc> = ["Bob", "Carol", "Dan"]
        .iter()
        .zip(&member_dirs)
        .map(|(name, dir)| {
            Proc::spawn(
                &lan,
                3,
                name,
                dir.path(),
                &["join", "Lab", "--name", name, "--wait", "20"],
            )
        })
        .collect();
    for m in &mut members {
        m.expect_event("joined", &[("room", "Lab")], until);
    }
    with(&mut list, 4, deadline());
    // One leaves (its input ends), one is killed: the count follows both.
    members[0].close_stdin();
    members[1].child.kill().unwrap();
    with(&mut list, 2, deadline());
}

/// A direct message reaches its one recipient, sealed: the host relaying it (its output, its
/// data folder) and the network see no plaintext of it, and another member never gets it.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_direct_message_reaches_only_its_recipient_and_the_host_cannot_read_it() {
    const SECRET: &str = "DIRECT-4b7e-only-for-Carol";
    let lan = Lan::new(3);
    let until = deadline();
    let work = data_dir();
    let pcap = work.path().join("lan.pcap");
    let mut tcpdump = lan.capture(1, &pcap);
    let (ada_dir, bob_dir, carol_dir, dan_dir) = (data_dir(), data_dir(), data_dir(), data_dir());
    let mut ada = Proc::spawn(
        &lan,
        1,
        "Ada",
        ada_dir.path(),
        &["host", "--room", "Lab", "--name", "Ada"],
    );
    ada.expect_event("hosting", &[("name", "Lab")], until);
    let join = |host, name: &str, dir: &tempfile::TempDir, extra: &[&str]| {
        let mut args = vec!["join", "Lab", "--name", name, "--wait", "20"];
        args.extend_from_slice(extra);
        Proc::spawn(&lan, host, name, dir.path(), &args)
    };
    let mut carol = join(3, "Carol", &carol_dir, &[]);
    carol.expect_event("joined", &[("room", "Lab")], until);
    let mut dan = join(3, "Dan", &dan_dir, &[]);
    dan.expect_event("joined", &[("room", "Lab")], until);
    let mut bob = join(2, "Bob", &bob_dir, &["--to", "Carol"]);
    let joined = bob.expect_event("joined", &[("room", "Lab")], until);

    bob.write_line(SECRET);
    bob.close_stdin();
    let got = carol.expect_event("direct", &[("from", "Bob"), ("text", SECRET)], until);
    assert_eq!(
        got["fingerprint"], joined["fingerprint"],
        "from Bob's device: {got}"
    );
    let status = bob.wait_exit(deadline());
    assert!(
        status.success(),
        "Bob's line was not delivered: {}",
        bob.stderr()
    );
    // A room message after it: once Dan and Ada have it, they would have had the direct one.
    carol.write_line("after the secret");
    dan.expect_event("message", &[("text", "after the secret")], until);
    ada.expect_event("message", &[("text", "after the secret")], until);

    for p in [&mut dan, &mut ada] {
        while p.pull(Instant::now() + Duration::from_millis(200)) {}
        assert!(
            !p.seen.iter().any(|v| v.to_string().contains(SECRET)),
            "{} saw the direct message: {:?}",
            p.label,
            p.seen
        );
    }
    proc::signal(tcpdump.id() as i32, proc::SIGTERM);
    tcpdump.wait().unwrap();
    assert!(
        !holds(&pcap, SECRET),
        "the direct message crossed the network in plaintext"
    );
    ada.terminate();
    ada.wait_exit(deadline());
    assert!(!ada.stderr().contains(SECRET), "the host logged it");
    assert!(!holds(ada_dir.path(), SECRET), "the host kept it");
    // The two ends keep it, for their next start.
    assert!(
        holds(bob_dir.path(), SECRET) && holds(carol_dir.path(), SECRET),
        "each end keeps the conversation"
    );
}

/// Whether `text` is in the file at `path`, or in any file under it.
fn holds(path: &std::path::Path, text: &str) -> bool {
    if path.is_dir() {
        return std::fs::read_dir(path)
            .unwrap()
            .any(|e| holds(&e.unwrap().path(), text));
    }
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}
