//! Discovery benchmark: how long until a room is seen elsewhere on the LAN, inside network
//! namespaces this bench makes itself (a bridge with hosts at 10.79.0.1..3; needs root and
//! iproute2, and prints SKIPPED otherwise). No mDNS ever runs in the machine's own namespace:
//! the child modes below refuse to start there.
//!
//! Run it with `cargo build --release && cargo bench --bench discovery` (it starts the real
//! `lanchat` binary from target/release, next to the bench's own directory; add
//! `-- --reps 20` for more repetitions). No timing is asserted.
//!
//! (a) hosted → seen elsewhere: browsers (this bench binary re-run as `--child browse`, i.e.
//!     `lanchat::discovery::Discovery::start` in a tokio runtime) run in ns2 and ns3; then
//!     `lanchat host` starts in ns1. Measured from spawning it to its `hosting` line, and to each
//!     browser's `Found` line. After each repetition the host gets SIGTERM, and the time to the
//!     browsers' `Lost` (the goodbye packet) is measured too.
//!     Baseline, in the same run: a bare mdns-sd advertiser (`--child advertise`, one
//!     `ServiceDaemon::register` of the same service type and TXT) in ns1, measured the same way;
//!     and RFC 6762 probing alone takes ~750 ms (3 probes, 250 ms apart).
//! (b) app opened → existing room listed: a `lanchat host` already running in ns1; in ns2/ns3 a
//!     fresh browser process starts each repetition. Measured inside the child from just
//!     before `Discovery::start` to the first `Found` (one process, one clock), and in the
//!     parent from spawning the child to reading its `Found` line. "cold": started after 1.5 s
//!     in which nobody was answered; "warm": started right after another browser was answered,
//!     when the host's responder still holds back its multicast answers (RFC 6762 §6: at most
//!     one per record per second, applied by mdns-sd), so the first answer is to the
//!     browser's retransmitted query, 1 s later. Baseline, in the same run: a bare mdns-sd
//!     browser (`--child rawbrowse`: `ServiceDaemon::new` + `browse`, no interface filter).
//!
//! (c) a member joins → a fresh browser lists the room with its new member count: a `lanchat
//!     host` in ns1; each repetition a `lanchat join` starts in ns2, and once it has joined, a
//!     fresh browser process starts in ns3 at a moment spread over the 3 s after the join (the
//!     first 0.1 s after, the last 2.8 s), when the room's advert has just changed. Measured in
//!     the child, from just before `Discovery::start` to the first `Found` carrying the new
//!     count; a browser that lists no such advert within 10 s counts as never. Then the member
//!     leaves, and the next repetition waits until the count is back and settled. Baseline,
//!     in the same run and at the same moments on alternate repetitions: the bare mdns-sd
//!     browser, until it resolves the advert with the new count in its TXT.
//!
//! `-- --verbose` echoes every line the children print (all their mDNS events) on stderr.
//!
//! All times are taken in this (parent) process with `Instant` when a child's line is read,
//! except (b)'s in-child figure, which the child measures with its own `Instant`.

#[path = "../../tests/support/netns.rs"]
mod netns;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One line read from a child, with when it was read and from which child.
struct Line {
    from: String,
    at: Instant,
    text: String,
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGTERM: i32 = 15;

pub fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        return child(&args[i + 1..]);
    }
    if args.iter().any(|a| a == "--verbose") {
        // SAFETY: set before any other thread starts.
        unsafe { std::env::set_var("LANCHAT_BENCH_VERBOSE", "1") };
    }
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);

    let me = std::env::current_exe().expect("current_exe");
    // target/release/deps/discovery-… → target/release/lanchat
    let lanchat = me
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("lanchat"))
        .filter(|p| p.exists());
    let Some(lanchat) = lanchat else {
        println!(
            "discovery: SKIPPED: no lanchat binary next to {} — run `cargo build --release` first",
            me.display()
        );
        return;
    };
    let lan = match netns::Lan::try_new(3) {
        Ok(lan) => lan,
        Err(e) => {
            println!("discovery: SKIPPED: the discovery figures need network namespaces: {e}");
            return;
        }
    };
    println!(
        "discovery: 3 hosts on a bridge in network namespaces; lanchat = {}",
        lanchat.display()
    );
    println!(
        "reference: RFC 6762 probing alone = 3 probes × 250 ms = 750 ms before the first announcement"
    );

    let (tx, rx) = mpsc::channel::<Line>();
    let mut bench = Bench {
        lan,
        me,
        lanchat,
        tx,
        rx,
        children: Vec::new(),
    };
    bench.hosted_then_seen(reps);
    bench.opened_then_listed(reps);
    bench.listed_right_after_a_change(reps);
    bench.stop_all();
}

struct Bench {
    lan: netns::Lan,
    me: PathBuf,
    lanchat: PathBuf,
    tx: mpsc::Sender<Line>,
    rx: mpsc::Receiver<Line>,
    /// Children still running, to stop at the end (by their own pid).
    children: Vec<(String, Child)>,
}

impl Bench {
    /// Spawns a program in host `ns` with its stdout lines forwarded to the channel.
    fn spawn(&mut self, name: &str, ns: usize, program: &PathBuf, args: &[&str]) -> (Instant, u32) {
        let mut cmd = self.lan.command(ns, program);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("RUST_LOG", "warn")
            .env(ROOT_NETNS_VAR, netns_of("self").unwrap_or_default());
        let at = Instant::now();
        let mut child = cmd.spawn().expect("spawn in namespace");
        let out = child.stdout.take().unwrap();
        let tx = self.tx.clone();
        let from = name.to_owned();
        std::thread::spawn(move || {
            for text in BufReader::new(out).lines().map_while(Result::ok) {
                let at = Instant::now();
                if std::env::var_os("LANCHAT_BENCH_VERBOSE").is_some() {
                    eprintln!("[{from}] {text}");
                }
                if tx
                    .send(Line {
                        from: from.clone(),
                        at,
                        text,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
        let pid = child.id();
        self.children.push((name.to_owned(), child));
        (at, pid)
    }

    /// Waits for a line from `from` containing every one of `needles`; `None` after `limit`.
    fn wait_line(&self, from: &str, needles: &[&str], limit: Duration) -> Option<Line> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.rx.recv_timeout(left).ok()?;
            if line.from == from && needles.iter().all(|n| line.text.contains(n)) {
                return Some(line);
            }
            // Lines nobody waits for are dropped: each wait names what it needs.
        }
    }

    /// Waits for lines matching each (from, needles), in any order.
    fn wait_all(&self, wanted: &[(&str, Vec<String>)], limit: Duration) -> Vec<Option<Instant>> {
        let deadline = Instant::now() + limit;
        let mut got: Vec<Option<Instant>> = vec![None; wanted.len()];
        while got.iter().any(Option::is_none) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            let Ok(line) = self.rx.recv_timeout(left) else {
                break;
            };
            for (i, (from, needles)) in wanted.iter().enumerate() {
                if got[i].is_none()
                    && line.from == *from
                    && needles.iter().all(|n| line.text.contains(n.as_str()))
                {
                    got[i] = Some(line.at);
                }
            }
        }
        got
    }

    /// Ends a child: SIGTERM (lanchat) or closing its stdin (bench children), then waits.
    fn stop(&mut self, name: &str, term: bool) {
        let Some(i) = self.children.iter().position(|(n, _)| n == name) else {
            return;
        };
        let (_, mut child) = self.children.remove(i);
        if term {
            // SAFETY: kill has no memory preconditions; the pid is our own child's.
            unsafe { kill(child.id() as i32, SIGTERM) };
        }
        drop(child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop_all(&mut self) {
        let names: Vec<String> = self.children.iter().map(|(n, _)| n.clone()).collect();
        for name in names {
            let term = name.starts_with("lanchat");
            self.stop(&name, term);
        }
    }

    /// (a) and its baseline.
    fn hosted_then_seen(&mut self, reps: usize) {
        let me = self.me.clone();
        let lanchat = self.lanchat.clone();
        self.spawn("browser2", 2, &me, &["--child", "browse"]);
        self.spawn("browser3", 3, &me, &["--child", "browse"]);
        let started = self.wait_all(
            &[
                ("browser2", vec!["started".into()]),
                ("browser3", vec!["started".into()]),
            ],
            Duration::from_secs(10),
        );
        if started.iter().any(Option::is_none) {
            println!("(a) SKIPPED: the browsers did not start");
            return;
        }
        std::thread::sleep(Duration::from_millis(1500));

        println!();
        println!("(a) hosted in ns1 → seen in ns2 and ns3   (ms from spawning the host process)");
        println!(
            "{:>3} | {:<8} | {:>9} | {:>9} | {:>9} | {:>12} | {:>12}",
            "rep", "host", "up line", "found ns2", "found ns3", "lost ns2 (*)", "lost ns3 (*)"
        );
        let mut rows: Vec<(String, [f64; 5])> = Vec::new();
        for rep in 0..reps {
            for kind in ["mdns-sd", "lanchat"] {
                let room = format!("bench-{kind}-{rep}-{}", std::process::id());
                let dir = tempfile::tempdir().expect("tempdir");
                let (t0, _) = if kind == "lanchat" {
                    let dir = dir.path().to_str().unwrap().to_owned();
                    self.spawn(
                        "lanchat-a",
                        1,
                        &lanchat,
                        &[
                            "host",
                            "--room",
                            &room,
                            "--name",
                            "bencher",
                            "--data-dir",
                            &dir,
                        ],
                    )
                } else {
                    self.spawn("mdns-a", 1, &me, &["--child", "advertise", &room])
                };
                let name = if kind == "lanchat" {
                    "lanchat-a"
                } else {
                    "mdns-a"
                };
                let up = if kind == "lanchat" {
                    "\"hosting\""
                } else {
                    "registered"
                };
                let found_tag = format!("name={room}");
                let got = self.wait_all(
                    &[
                        (name, vec![up.into()]),
                        ("browser2", vec!["found".into(), found_tag.clone()]),
                        ("browser3", vec!["found".into(), found_tag.clone()]),
                    ],
                    Duration::from_secs(20),
                );
                let t_stop = Instant::now();
                self.stop(name, kind == "lanchat");
                let lost = self.wait_all(
                    &[
                        ("browser2", vec!["lost".into(), found_tag.clone()]),
                        ("browser3", vec!["lost".into(), found_tag.clone()]),
                    ],
                    Duration::from_secs(10),
                );
                let ms = |t: Option<Instant>, from: Instant| {
                    t.map_or(f64::NAN, |t| {
                        t.saturating_duration_since(from).as_secs_f64() * 1e3
                    })
                };
                let row = [
                    ms(got[0], t0),
                    ms(got[1], t0),
                    ms(got[2], t0),
                    ms(lost[0], t_stop),
                    ms(lost[1], t_stop),
                ];
                println!(
                    "{:>3} | {:<8} | {:>9.1} | {:>9.1} | {:>9.1} | {:>12.1} | {:>12.1}",
                    rep + 1,
                    kind,
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    row[4]
                );
                rows.push((kind.to_owned(), row));
                // Let the goodbye and any re-queries settle before the next room.
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        println!("(*) lost: ms from SIGTERM to lanchat / closing the advertiser's stdin");
        println!();
        println!("(a) summary, ms: min / median / max");
        for kind in ["mdns-sd", "lanchat"] {
            let col = |c: usize| {
                summary(
                    rows.iter()
                        .filter(|(k, _)| k == kind)
                        .map(|(_, r)| r[c])
                        .collect(),
                )
            };
            let label = if kind == "lanchat" {
                "lanchat host (hosting line)"
            } else {
                "bare mdns-sd advertiser (registered)"
            };
            println!("  {:<38} {}", label, col(0));
            println!("  {:<38} {}", format!("  → found in ns2 ({kind})"), col(1));
            println!("  {:<38} {}", format!("  → found in ns3 ({kind})"), col(2));
            println!(
                "  {:<38} {}",
                format!("  stop → lost in ns2 ({kind})"),
                col(3)
            );
        }
        self.stop("browser2", false);
        self.stop("browser3", false);
    }

    /// (b): a room already hosted, a fresh browser each repetition.
    fn opened_then_listed(&mut self, reps: usize) {
        let me = self.me.clone();
        let lanchat = self.lanchat.clone();
        let dir = tempfile::tempdir().expect("tempdir");
        let room = format!("bench-listed-{}", std::process::id());
        let d = dir.path().to_str().unwrap().to_owned();
        self.spawn(
            "lanchat-b",
            1,
            &lanchat,
            &[
                "host",
                "--room",
                &room,
                "--name",
                "bencher",
                "--data-dir",
                &d,
            ],
        );
        if self
            .wait_line("lanchat-b", &["\"hosting\""], Duration::from_secs(10))
            .is_none()
        {
            println!("(b) SKIPPED: lanchat host did not start");
            return;
        }
        // Past probing and the announcements: the room is simply there.
        std::thread::sleep(Duration::from_secs(3));
        println!();
        println!(
            "(b) room already hosted in ns1 → a fresh browser process (in ns2 / ns3 by turns) lists it"
        );
        println!(
            "{:>3} | {:<12} | {:>24} | {:>22} | {:>22}",
            "rep",
            "browser",
            "in child: start→Found ms",
            "parent: spawn→started",
            "parent: spawn→Found ms"
        );
        let mut inner: Vec<(String, f64)> = Vec::new();
        let mut outer: Vec<(String, f64)> = Vec::new();
        // The host's mDNS responder multicasts a record at most once a second (RFC 6762 §6,
        // which mdns-sd applies): a browser whose first query comes within a second of an
        // answer to someone else's waits for its own retransmission, 1 s later. So each
        // repetition runs "cold" browsers after 1.5 s of quiet, and one "warm" browser
        // started right after another browser was answered.
        let cases = [
            ("mdns-sd", "rawbrowse", "cold"),
            ("lanchat", "browse", "cold"),
            ("lanchat", "browse", "warm"),
        ];
        for rep in 0..reps {
            for (i, (kind, mode, when)) in cases.into_iter().enumerate() {
                if when == "cold" {
                    std::thread::sleep(Duration::from_millis(1500));
                }
                let ns = 2 + (rep + i) % 2; // alternate ns2 / ns3
                let name = format!("fresh-{kind}-{when}-{rep}");
                let (t0, _) = self.spawn(&name, ns, &me, &["--child", mode]);
                let tag = format!("name={room}");
                let started = self.wait_line(&name, &["started"], Duration::from_secs(10));
                let found = self.wait_line(&name, &["found", &tag], Duration::from_secs(20));
                let in_child = found
                    .as_ref()
                    .and_then(|l| l.text.split_whitespace().nth(1)?.parse::<f64>().ok())
                    .map_or(f64::NAN, |ns| ns / 1e6);
                let ms = |l: &Option<Line>| {
                    l.as_ref()
                        .map_or(f64::NAN, |l| (l.at - t0).as_secs_f64() * 1e3)
                };
                let label = format!("{kind} {when}");
                println!(
                    "{:>3} | {:<12} | {:>24.1} | {:>22.1} | {:>22.1}",
                    rep + 1,
                    label,
                    in_child,
                    ms(&started),
                    ms(&found)
                );
                inner.push((label.clone(), in_child));
                outer.push((label, ms(&found)));
                self.stop(&name, false);
            }
        }
        println!();
        println!("(b) summary, ms: min / median / max");
        for label in ["mdns-sd cold", "lanchat cold", "lanchat warm"] {
            let pick = |v: &[(String, f64)]| {
                v.iter()
                    .filter(|(k, _)| k == label)
                    .map(|(_, x)| *x)
                    .collect()
            };
            println!(
                "  {:<44} {}",
                format!("in child: start → Found ({label})"),
                summary(pick(&inner))
            );
            println!(
                "  {:<44} {}",
                format!("parent: spawn → Found line ({label})"),
                summary(pick(&outer))
            );
        }
        println!(
            "  (cold: ≥1.5 s after any answer; warm: started right after another browser was answered)"
        );
        self.stop("lanchat-b", true);
    }
}

impl Bench {
    /// (c): a fresh browser started at moments just after a member joined.
    fn listed_right_after_a_change(&mut self, reps: usize) {
        let me = self.me.clone();
        let lanchat = self.lanchat.clone();
        let dir = tempfile::tempdir().expect("tempdir");
        let room = format!("bench-changed-{}", std::process::id());
        let d = dir.path().to_str().unwrap().to_owned();
        let host_args = [
            "host",
            "--room",
            &room,
            "--name",
            "bencher",
            "--data-dir",
            &d,
        ];
        self.spawn("lanchat-c", 1, &lanchat, &host_args);
        if self
            .wait_line("lanchat-c", &["\"hosting\""], Duration::from_secs(10))
            .is_none()
        {
            println!("(c) SKIPPED: lanchat host did not start");
            return;
        }
        std::thread::sleep(Duration::from_secs(3));
        println!();
        println!(
            "(c) a member joins in ns2 → a fresh browser in ns3, started at a moment after the join, lists the new count"
        );
        println!(
            "{:>3} | {:<12} | {:>14} | {:>26}",
            "rep", "browser", "ms after join", "in child: start→Found ms"
        );
        let mut rows: Vec<(&str, f64)> = Vec::new();
        for rep in 0..reps * 2 {
            let (kind, mode) = if rep % 2 == 0 {
                ("lanchat", "browse")
            } else {
                ("mdns-sd", "rawbrowse")
            };
            let member_dir = tempfile::tempdir().expect("tempdir");
            let md = member_dir.path().to_str().unwrap().to_owned();
            let member = format!("member-{rep}");
            let join = ["join", &room, "--name", "member", "--data-dir", &md];
            self.spawn(&member, 2, &lanchat, &join);
            let Some(joined) = self.wait_line(&member, &["\"joined\""], Duration::from_secs(20))
            else {
                println!("(c) SKIPPED: the member did not join");
                return;
            };
            let reps_each = reps.max(2) as f64;
            let moment = 0.1 + 2.7 * (rep / 2) as f64 / (reps_each - 1.0);
            let at = joined.at + Duration::from_secs_f64(moment);
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            let name = format!("fresh-{kind}-{rep}");
            self.spawn(&name, 3, &me, &["--child", mode]);
            let tags = [
                "found".to_owned(),
                format!("name={room} "),
                "members=2".into(),
            ];
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let found = self.wait_line(&name, &tags, Duration::from_secs(10));
            let in_child = found
                .as_ref()
                .and_then(|l| l.text.split_whitespace().nth(1)?.parse::<f64>().ok())
                .map_or(f64::NAN, |ns| ns / 1e6);
            println!(
                "{:>3} | {:<12} | {:>14.0} | {:>26.1}",
                rep + 1,
                kind,
                moment * 1e3,
                in_child
            );
            rows.push((kind, in_child));
            self.stop(&name, false);
            // The member leaves; the count goes back to 1, announced at once or after the
            // host's 2 s between announcements of the count, and settles.
            self.stop(&member, true);
            std::thread::sleep(Duration::from_secs(4));
        }
        println!();
        println!("(c) summary, ms: min / median / max");
        for kind in ["mdns-sd", "lanchat"] {
            let v = rows
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, x)| *x)
                .collect();
            println!(
                "  {:<44} {}",
                format!("in child: start → Found ({kind})"),
                summary(v)
            );
        }
        self.stop("lanchat-c", true);
    }
}

fn summary(mut v: Vec<f64>) -> String {
    let missing = v.iter().filter(|x| x.is_nan()).count();
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return "no data".into();
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let mut s = format!(
        "{:>8.1} / {:>8.1} / {:>8.1}",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1]
    );
    if missing > 0 {
        s.push_str(&format!("   ({missing} never seen)"));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Child modes, run inside a namespace by the parent
// ---------------------------------------------------------------------------------------------

/// Names the network namespace this process is in, e.g. `net:[4026531833]`.
fn netns_of(pid: &str) -> Option<std::ffi::OsString> {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(PathBuf::into_os_string)
}

/// The parent tells its children which namespace is the machine's own (its own), since
/// `/proc/1/ns/net` may not be readable.
const ROOT_NETNS_VAR: &str = "LANCHAT_BENCH_ROOT_NETNS";

/// True only when this process is provably not in the machine's own network namespace:
/// neither the parent's (passed down in [`ROOT_NETNS_VAR`]) nor, where readable, pid 1's.
fn in_own_namespace() -> bool {
    let Some(mine) = netns_of("self") else {
        return false;
    };
    let Some(parents) = std::env::var_os(ROOT_NETNS_VAR) else {
        return false;
    };
    mine != parents && netns_of("1").is_none_or(|init| init != mine)
}

fn child(args: &[String]) {
    if !in_own_namespace() {
        eprintln!(
            "refusing: the discovery bench's children only run inside its network namespaces"
        );
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("browse") => rt.block_on(browse()),
        Some("rawbrowse") => rawbrowse(),
        Some("advertise") => advertise(args.get(1).cloned().unwrap_or_else(|| "bench".into())),
        other => {
            eprintln!("unknown child mode {other:?}");
            std::process::exit(2);
        }
    }
}

/// Runs lanchat's discovery; prints `started NS`, then `found NS name=…` / `lost NS name=…`
/// (NS = nanoseconds since just before `Discovery::start`) until stdin closes.
async fn browse() {
    use lanchat::discovery::{Discovery, DiscoveryConfig, DiscoveryEvent};
    use tokio::io::AsyncBufReadExt;
    let t0 = Instant::now();
    let (discovery, mut found) = match Discovery::start(DiscoveryConfig::default()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("discovery: {e}");
            std::process::exit(1);
        }
    };
    println!("started {}", t0.elapsed().as_nanos());
    let mut names = std::collections::HashMap::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = stdin.next_line() => if !matches!(line, Ok(Some(_))) { break },
            event = found.recv() => match event {
                Some(DiscoveryEvent::Found(ad)) => {
                    println!(
                        "found {} name={} id={} members={}",
                        t0.elapsed().as_nanos(),
                        ad.name,
                        ad.id,
                        ad.members
                    );
                    names.insert(ad.id.clone(), ad.name.clone());
                }
                Some(DiscoveryEvent::Lost(key)) => {
                    let name = names.get(&key.id).cloned().unwrap_or_default();
                    println!("lost {} name={name} id={}", t0.elapsed().as_nanos(), key.id);
                }
                None => break,
            },
        }
        let _ = std::io::stdout().flush();
    }
    discovery.shutdown().await;
}

/// The baseline browser: a bare mdns-sd daemon browsing the room service type, without
/// lanchat's interface filtering or TXT parsing; prints every event, and `found NS name=…`
/// for each resolved instance (NS as in [`browse`]). Ends when stdin closes.
fn rawbrowse() {
    use mdns_sd::{ServiceDaemon, ServiceEvent};
    let t0 = Instant::now();
    let daemon = ServiceDaemon::new().expect("mdns daemon");
    let events = daemon
        .browse(lanchat::discovery::SERVICE_TYPE)
        .expect("browse");
    println!("started {}", t0.elapsed().as_nanos());
    std::thread::spawn(|| {
        let mut sink = String::new();
        while std::io::stdin()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {}
        std::process::exit(0);
    });
    while let Ok(event) = events.recv() {
        let ns = t0.elapsed().as_nanos();
        match event {
            ServiceEvent::ServiceResolved(svc) => println!(
                "found {ns} name={} members={} addrs={:?}",
                svc.get_property_val_str("name").unwrap_or("?"),
                svc.get_property_val_str("n").unwrap_or("?"),
                svc.get_addresses()
            ),
            other => println!("event {ns} {other:?}"),
        }
    }
}

/// The baseline advertiser: one mdns-sd registration of a room-shaped service, without
/// lanchat's runtime; prints `registered` once `register` returned, withdraws at stdin's end.
fn advertise(name: String) {
    use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};
    let id = lanchat::protocol::RoomId::random();
    let daemon = ServiceDaemon::new().expect("mdns daemon");
    let _ = daemon.disable_interface(IfKind::LoopbackV4);
    let _ = daemon.disable_interface(IfKind::LoopbackV6);
    let v = lanchat::protocol::PROTOCOL_VERSION.to_string();
    let props = [
        ("id", id.as_str()),
        ("name", name.as_str()),
        ("host", "bencher"),
        ("v", v.as_str()),
        ("n", "0"),
        ("lock", "0"),
    ];
    let info = ServiceInfo::new(
        lanchat::discovery::SERVICE_TYPE,
        &format!("{name} [{id}]"),
        &format!("bench-{id}.local."),
        (),
        40000,
        &props[..],
    )
    .expect("service info")
    .enable_addr_auto();
    let fullname = info.get_fullname().to_owned();
    daemon.register(info).expect("register");
    println!("registered");
    let _ = std::io::stdout().flush();
    let mut sink = String::new();
    while std::io::stdin()
        .read_line(&mut sink)
        .map(|n| n > 0)
        .unwrap_or(false)
    {}
    if let Ok(done) = daemon.unregister(&fullname) {
        let _ = done.recv_timeout(Duration::from_secs(2));
    }
    if let Ok(done) = daemon.shutdown() {
        let _ = done.recv_timeout(Duration::from_secs(2));
    }
}
