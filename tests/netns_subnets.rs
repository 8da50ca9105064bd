//! Across subnets: an office splits people into VLANs, mDNS stops at the router, and network
//! admins bridge Bonjour with an mDNS reflector. Here two subnets in network namespaces are
//! joined by a router namespace running avahi-daemon as a reflector (see `support/netns.rs`,
//! [`netns::Subnets`]); lanchat, unchanged by it, finds a room hosted on one side from the
//! other and joins it, over the router.
//!
//! Needs root (for the namespaces) and avahi-daemon (`.ci/run` installs it, and runs these
//! with `--ignored`). avahi only ever runs inside the router namespace the test makes.

#![cfg(target_os = "linux")]

#[path = "support/netns.rs"]
mod netns;
#[path = "support/proc.rs"]
mod proc;

use netns::Subnets;
use proc::{Proc, data_dir, deadline, run_to_end};
use serde_json::Value;
use std::time::Instant;

/// Ada's machine, on subnet A (10.79.1.1).
const ADA: usize = 1;
/// Bob's machine, on subnet B (10.79.2.1).
const BOB: usize = 2;

#[test]
#[ignore = "needs root: network namespaces and avahi-daemon"]
fn a_room_is_found_and_joined_from_another_subnet_through_an_mdns_reflector() {
    let started = Instant::now();
    let mut net = Subnets::new(1, 1);
    let (ada_dir, rooms_dir, bob_dir) = (data_dir(), data_dir(), data_dir());
    let (mut ada, room_id) = host_lab(&net, &ada_dir);

    // Without the reflector, mDNS stops at the router: subnet B sees no room. (What carries
    // the room below is the reflector, not the router.)
    let (rooms, status) = run_to_end(
        &net,
        BOB,
        "rooms before the reflector",
        rooms_dir.path(),
        &["rooms", "--wait", "3"],
    );
    assert!(status.success(), "{}", rooms.stderr());
    assert!(
        !rooms.seen.iter().any(|v| v["event"] == "room"),
        "a room crossed the router with no reflector: {:?}",
        rooms.seen
    );

    net.start_reflector(&[])
        .unwrap_or_else(|e| panic!("cannot start the reflector: {e}"));
    listed_on_subnet_b(&net, &rooms_dir, &room_id);
    join_and_chat(&net, &mut ada, &bob_dir, &room_id);
    println!(
        "found and joined across the reflector; whole test {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Admins often reflect only the services they mean to (avahi's `reflect-filters`): the
/// service type alone is enough, the host's address records go with it.
#[test]
#[ignore = "needs root: network namespaces and avahi-daemon"]
fn a_reflector_that_lets_only_lanchat_through_is_enough() {
    let mut net = Subnets::new(1, 1);
    net.start_reflector(&["_lanchat._tcp.local"])
        .unwrap_or_else(|e| panic!("cannot start the reflector: {e}"));
    let (ada_dir, rooms_dir, bob_dir) = (data_dir(), data_dir(), data_dir());
    let (mut ada, room_id) = host_lab(&net, &ada_dir);
    listed_on_subnet_b(&net, &rooms_dir, &room_id);
    join_and_chat(&net, &mut ada, &bob_dir, &room_id);
}

/// Ada hosts "Lab" on subnet A; returns her process and the room's id.
fn host_lab(net: &Subnets, dir: &tempfile::TempDir) -> (Proc, String) {
    let mut ada = Proc::spawn(
        net,
        ADA,
        "Ada",
        dir.path(),
        &["host", "--room", "Lab", "--name", "Ada"],
    );
    let hosting = ada.expect_event("hosting", &[("name", "Lab")], deadline());
    let id = hosting["id"]
        .as_str()
        .expect("hosting has an id")
        .to_owned();
    (ada, id)
}

/// The room is listed on subnet B, at Ada's address on subnet A.
fn listed_on_subnet_b(net: &Subnets, dir: &tempfile::TempDir, room_id: &str) {
    let (rooms, status) = run_to_end(net, BOB, "rooms", dir.path(), &["rooms", "--wait", "4"]);
    assert!(status.success(), "{}", rooms.stderr());
    let Some(lab) = rooms
        .seen
        .iter()
        .find(|v| v["event"] == "room" && v["id"] == room_id)
    else {
        panic!(
            "Lab not found across the reflector: {:?}\n--- rooms' stderr ---\n{}\n--- avahi ---\n{}",
            rooms.seen,
            rooms.stderr(),
            net.reflector_log()
        );
    };
    println!("Lab as listed on subnet B: {lab}");
    assert_eq!(lab["name"], "Lab", "{lab}");
    assert_eq!(lab["host"], "Ada", "{lab}");
    let addrs: Vec<&str> = lab["addrs"]
        .as_array()
        .expect("addrs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let ada_addr = net.addr(ADA).to_string();
    assert!(
        addrs.contains(&ada_addr.as_str()),
        "Lab is not listed at {ada_addr}: {lab}"
    );
}

/// Bob joins Lab by name, found with discovery; they talk both ways over the router, and he
/// leaves cleanly.
fn join_and_chat(net: &Subnets, ada: &mut Proc, dir: &tempfile::TempDir, room_id: &str) {
    let until = deadline();
    let mut bob = Proc::spawn(
        net,
        BOB,
        "Bob",
        dir.path(),
        &["join", "Lab", "--name", "Bob", "--wait", "20"],
    );
    let joined = bob.expect_event("joined", &[("name", "Bob"), ("room", "Lab")], until);
    assert_eq!(joined["id"], room_id, "{joined}");
    assert_eq!(joined["host"], "Ada", "{joined}");
    ada.expect_event("joined", &[("name", "Bob")], until);

    bob.write_line("hello from subnet B");
    ada.expect_event(
        "message",
        &[("from", "Bob"), ("text", "hello from subnet B")],
        until,
    );
    ada.write_line("hello from subnet A");
    bob.expect_event(
        "message",
        &[("from", "Ada"), ("text", "hello from subnet A")],
        until,
    );

    ada.mark();
    bob.close_stdin();
    let status = bob.wait_exit(deadline());
    assert!(
        status.success(),
        "Bob exited with {status}; stderr:\n{}",
        bob.stderr()
    );
    ada.expect_event("left", &[("name", "Bob")], deadline());
}
