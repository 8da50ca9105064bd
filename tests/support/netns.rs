//! A LAN in a box for tests and benchmarks: network namespaces joined by one bridge, with
//! multicast on, made by the test itself and removed when dropped. Traffic never leaves them.
//! Needs root and iproute2: tests using it are `#[ignore = "needs root: …"]`, run by `.ci/run`
//! (as root) with `--ignored`; run by hand without root, [`Lan::new`] fails saying why.
//! [`Subnets`] is an office network instead: two LANs joined by a router, which can run an mDNS
//! reflector (avahi-daemon) as network admins do.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// Namespaces made by this process so far, to name each LAN uniquely.
static MADE: AtomicU32 = AtomicU32::new(0);

/// Namespaces that test programs run in, numbered from 1.
pub trait Hosts {
    /// The namespace name of host `i` (1-based).
    fn ns(&self, i: usize) -> &str;
}

/// Hosts `1..=n` on one bridge, at 10.79.0.1..n/24.
pub struct Lan {
    /// Holds the bridge; the hosts' veth peers are plugged into it.
    hub: String,
    /// The hosts' namespace names, host 1 first.
    hosts: Vec<String>,
}

fn ip(args: &[&str]) -> Result<Output, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lan {
    /// Makes `n` hosts, or says why it cannot (benchmarks then skip their namespace part).
    pub fn try_new(n: usize) -> Result<Lan, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc_geteuid() } != 0 {
            return Err("network namespaces need root".into());
        }
        Lan::build(n)
    }

    /// Makes `n` hosts, or fails the test saying why it cannot.
    pub fn new(n: usize) -> Lan {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc_geteuid() } != 0 {
            panic!("network namespaces need root (run .ci/run, or the tests with sudo)");
        }
        match Lan::build(n) {
            Ok(lan) => lan,
            Err(e) => panic!("cannot make network namespaces: {e}"),
        }
    }

    fn build(n: usize) -> Result<Lan, String> {
        let tag = format!(
            "{:x}{}",
            std::process::id() & 0xfffff,
            MADE.fetch_add(1, Ordering::SeqCst)
        );
        let mut lan = Lan {
            hub: format!("lct{tag}hub"),
            hosts: Vec::new(),
        };
        ip(&["netns", "add", &lan.hub])?;
        ip(&[
            "-n",
            &lan.hub,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", &lan.hub, "link", "set", "br0", "up"])?;
        for i in 1..=n {
            let ns = format!("lct{tag}h{i}");
            ip(&["netns", "add", &ns])?;
            lan.hosts.push(ns.clone());
            let veth = format!("v{i}");
            ip(&[
                "link", "add", &veth, "netns", &lan.hub, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            ip(&["-n", &lan.hub, "link", "set", &veth, "master", "br0", "up"])?;
            // No duplicate address detection: link-local IPv6 is usable at once.
            let _ = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.eth0.accept_dad=0",
                ])
                .output();
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "multicast", "on", "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.79.0.{i}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
        }
        Ok(lan)
    }

    /// The namespace name of host `i` (1-based).
    pub fn ns(&self, i: usize) -> &str {
        &self.hosts[i - 1]
    }

    /// The IPv4 address of host `i`.
    pub fn addr(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 79, 0, i as u8)
    }

    /// Moves the calling thread into host `i`'s network namespace, for code of the test's own
    /// process that must run on this LAN: the threads it starts from then on are there too.
    /// Panics if it cannot, so that nothing meant for the LAN runs on the machine's network.
    pub fn enter(&self, i: usize) {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let path = format!("/run/netns/{}", self.ns(i));
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns takes an open namespace file and a namespace kind; it changes only the
        // calling thread's network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "setns into {path}: {}",
            std::io::Error::last_os_error()
        );
        let want = format!("net:[{}]", file.metadata().unwrap().ino());
        let now = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        assert_eq!(now.to_str(), Some(want.as_str()), "not in {path}");
    }

    /// A command that runs `program` inside host `i`.
    pub fn command(&self, i: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.ns(i)]).arg(program);
        cmd
    }

    /// Caps what reaches host `i` (the bridge's side of its link) at `rate` (e.g. "2mbit"),
    /// with a token bucket: the queue beyond it waits, as on a slow Wi-Fi link.
    pub fn cap_rate(&self, i: usize, rate: &str) -> Result<(), String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.hub, "tc", "qdisc", "add", "dev"])
            .arg(format!("v{i}"))
            .args([
                "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "2s",
            ])
            .output()
            .map_err(|e| format!("cannot run tc: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Starts tcpdump on host `i`'s link, writing every packet whole to `file`; returns once
    /// it is capturing. Kill the child to stop it.
    pub fn capture(&self, i: usize, file: &std::path::Path) -> std::process::Child {
        use std::io::{BufRead, BufReader};
        let mut child = self
            .command(i, "tcpdump")
            .args(["-i", "eth0", "-s", "0", "-U", "-n", "-w"])
            .arg(file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tcpdump (apt-get install tcpdump; .ci/run does)");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on") => break,
                Some(Ok(_)) => {}
                _ => panic!("tcpdump did not start"),
            }
        }
        // Keep draining its stderr so it never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        child
    }

    /// Renames host `i`'s link (Linux takes any UTF-8 name of up to 15 bytes), as Windows
    /// users' localized names ("以太网", "Büro-LAN") are.
    pub fn rename_link(&self, i: usize, name: &str) -> Result<(), String> {
        let ns = self.ns(i);
        ip(&["-n", ns, "link", "set", "eth0", "down"])?;
        ip(&["-n", ns, "link", "set", "eth0", "name", name])?;
        ip(&["-n", ns, "link", "set", name, "up"])?;
        ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", name]).map(|_| ())
    }

    /// Drops `percent` % of host `i`'s packets, both ways, at random (nftables; 100 is a
    /// partition the host does not see: its link stays up and packets just vanish).
    pub fn lose(&self, i: usize, percent: u32) -> Result<(), String> {
        let rule = if percent >= 100 {
            "drop".to_owned()
        } else {
            format!("numgen random mod 100 < {percent} drop")
        };
        self.filter(i, &rule)
    }

    /// Drops host `i`'s mDNS (UDP 5353) both ways, as many office and guest networks do:
    /// it sees no rooms and no room sees it, but TCP to a room's port still works.
    pub fn block_mdns(&self, i: usize) -> Result<(), String> {
        self.filter(i, "udp dport 5353 drop; udp sport 5353 drop")
    }

    /// Applies an nftables `rule` to what host `i` sends and receives (replacing any earlier).
    fn filter(&self, i: usize, rule: &str) -> Result<(), String> {
        self.heal(i);
        let rules = format!(
            "table inet lanchat_test {{
  chain o {{ type filter hook output priority 0; {rule}; }}
  chain i {{ type filter hook input priority 0; {rule}; }}
}}"
        );
        let mut nft = self
            .command(i, "nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run nft (apt-get install nftables): {e}"))?;
        use std::io::Write;
        nft.stdin
            .take()
            .unwrap()
            .write_all(rules.as_bytes())
            .map_err(|e| e.to_string())?;
        let out = nft.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Ends what [`Lan::lose`] or [`Lan::block_mdns`] did to host `i`.
    pub fn heal(&self, i: usize) {
        let _ = self
            .command(i, "nft")
            .args(["delete", "table", "inet", "lanchat_test"])
            .stderr(std::process::Stdio::null())
            .status();
    }

    /// Turns IPv6 off on every host, so that a host's IPv4 address is the only way to it (a
    /// link-local IPv6 address would outlive an IPv4 change).
    pub fn without_ipv6(&self) -> Result<(), String> {
        for ns in &self.hosts {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "sysctl", "-qw"])
                .arg("net.ipv6.conf.all.disable_ipv6=1")
                .output()
                .map_err(|e| format!("cannot run sysctl: {e}"))?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
        }
        Ok(())
    }

    /// Gives host `i` the address 10.79.0.`octet` in place of its own, as a laptop that
    /// joins the network again (or roams) gets another one.
    pub fn readdress(&self, i: usize, octet: u8) -> Result<(), String> {
        let ns = self.ns(i);
        ip(&["-n", ns, "addr", "flush", "dev", "eth0"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("10.79.0.{octet}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", ns, "route", "replace", "224.0.0.0/4", "dev", "eth0"]).map(|_| ())
    }

    /// Takes host `i`'s link down (a partition) or back up.
    pub fn set_link(&self, i: usize, up: bool) -> Result<(), String> {
        ip(&[
            "-n",
            self.ns(i),
            "link",
            "set",
            "eth0",
            if up { "up" } else { "down" },
        ])
        .map(|_| ())
    }
}

impl Hosts for Lan {
    fn ns(&self, i: usize) -> &str {
        &self.hosts[i - 1]
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain(std::iter::once(&self.hub)) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Runs `sysctl -qw SETTING` inside namespace `ns`.
fn sysctl(ns: &str, setting: &str) -> Result<(), String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-qw", setting])
        .output()
        .map_err(|e| format!("cannot run sysctl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "sysctl {setting} in {ns}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// An office network in a box: two subnets, each a bridge of its own, joined by a router
/// namespace that forwards IPv4 between them (and, as any router, no multicast: mDNS stays on
/// its own side). Hosts `1..=a` are on subnet A, 10.79.1.1..a/24; hosts `a+1..=a+b` on subnet
/// B, 10.79.2.1..b/24; each host's default route is the router, 10.79.1.254 and 10.79.2.254.
/// [`Subnets::start_reflector`] runs avahi-daemon as an mDNS reflector on the router, as
/// network admins bridge Bonjour between VLANs.
pub struct Subnets {
    /// Holds the two bridges, `br1` (subnet A) and `br2` (subnet B).
    hub: String,
    /// The router's namespace: `eth1` on subnet A, `eth2` on subnet B.
    router: String,
    /// The hosts' namespace names, host 1 first.
    hosts: Vec<String>,
    /// How many hosts are on subnet A.
    a: usize,
    /// The reflector, while it runs.
    reflector: Option<Reflector>,
}

impl Subnets {
    /// Makes `a` hosts on subnet A and `b` on subnet B, or fails the test saying why it cannot.
    pub fn new(a: usize, b: usize) -> Subnets {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc_geteuid() } != 0 {
            panic!("network namespaces need root (run .ci/run, or the tests with sudo)");
        }
        let tag = format!(
            "{:x}{}",
            std::process::id() & 0xfffff,
            MADE.fetch_add(1, Ordering::SeqCst)
        );
        let mut net = Subnets {
            hub: format!("lct{tag}hub"),
            router: format!("lct{tag}rtr"),
            hosts: Vec::new(),
            a,
            reflector: None,
        };
        if let Err(e) = net.build(b) {
            panic!("cannot make network namespaces: {e}");
        }
        net
    }

    fn build(&mut self, b: usize) -> Result<(), String> {
        let (hub, router) = (self.hub.clone(), self.router.clone());
        ip(&["netns", "add", &hub])?;
        ip(&["netns", "add", &router])?;
        for side in 1..=2 {
            let br = format!("br{side}");
            ip(&[
                "-n",
                &hub,
                "link",
                "add",
                &br,
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ])?;
            ip(&["-n", &hub, "link", "set", &br, "up"])?;
            // The router's leg on this side: `r{side}` on the bridge, `eth{side}` inside.
            let (leg, eth) = (format!("r{side}"), format!("eth{side}"));
            ip(&[
                "link", "add", &leg, "netns", &hub, "type", "veth", "peer", "name", &eth, "netns",
                &router,
            ])?;
            ip(&["-n", &hub, "link", "set", &leg, "master", &br, "up"])?;
            sysctl(&router, &format!("net.ipv6.conf.{eth}.accept_dad=0"))?;
            ip(&["-n", &router, "link", "set", &eth, "multicast", "on", "up"])?;
            ip(&[
                "-n",
                &router,
                "addr",
                "add",
                &format!("10.79.{side}.254/24"),
                "dev",
                &eth,
            ])?;
        }
        ip(&["-n", &router, "link", "set", "lo", "up"])?;
        sysctl(&router, "net.ipv4.ip_forward=1")?;
        for i in 1..=self.a + b {
            let ns = self.hub.replace("hub", &format!("h{i}"));
            ip(&["netns", "add", &ns])?;
            self.hosts.push(ns.clone());
            let side = self.side(i);
            let veth = format!("v{i}");
            ip(&[
                "link", "add", &veth, "netns", &hub, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            ip(&[
                "-n",
                &hub,
                "link",
                "set",
                &veth,
                "master",
                &format!("br{side}"),
                "up",
            ])?;
            // No duplicate address detection: link-local IPv6 is usable at once.
            sysctl(&ns, "net.ipv6.conf.eth0.accept_dad=0")?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "multicast", "on", "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", self.addr(i)),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
            ip(&[
                "-n",
                &ns,
                "route",
                "add",
                "default",
                "via",
                &format!("10.79.{side}.254"),
            ])?;
        }
        Ok(())
    }

    /// Which subnet host `i` is on: 1 (A) or 2 (B).
    pub fn side(&self, i: usize) -> u8 {
        if i <= self.a { 1 } else { 2 }
    }

    /// The IPv4 address of host `i`.
    pub fn addr(&self, i: usize) -> Ipv4Addr {
        let octet = if i <= self.a { i } else { i - self.a };
        Ipv4Addr::new(10, 79, self.side(i), octet as u8)
    }

    /// Starts avahi-daemon on the router as an mDNS reflector between the two subnets, and
    /// returns once it runs. Only the router's two legs are given to it: avahi never sees
    /// this machine's real interfaces. `filters`, if any, become its `reflect-filters` (only
    /// services matching one of them are reflected).
    pub fn start_reflector(&mut self, filters: &[&str]) -> Result<(), String> {
        if self.reflector.is_none() {
            self.reflector = Some(Reflector::start(&self.router, filters)?);
        }
        Ok(())
    }

    /// Stops the reflector (mDNS stops at the router again).
    pub fn stop_reflector(&mut self) {
        self.reflector = None;
    }

    /// What the reflector logged so far, for failure messages.
    pub fn reflector_log(&self) -> String {
        self.reflector
            .as_ref()
            .map(|r| r.log.lock().unwrap().clone())
            .unwrap_or_default()
    }
}

impl Hosts for Subnets {
    fn ns(&self, i: usize) -> &str {
        &self.hosts[i - 1]
    }
}

impl Drop for Subnets {
    fn drop(&mut self) {
        // The daemon first: a namespace deleted under a running process outlives it.
        self.reflector = None;
        for ns in self.hosts.iter().chain([&self.router, &self.hub]) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// avahi-daemon running as an mDNS reflector in a router namespace, killed on drop.
struct Reflector {
    child: std::process::Child,
    /// Its stderr (it logs there when not daemonized).
    log: std::sync::Arc<std::sync::Mutex<String>>,
    /// Holds its configuration file.
    _dir: tempfile::TempDir,
}

impl Reflector {
    /// What avahi-daemon is given: both legs of the router, no D-Bus, nothing published of
    /// its own, and every mDNS record heard on one leg repeated on the other (`[reflector]`
    /// comes last, for `reflect-filters` to be added to it).
    const CONF: &'static str = "[server]
allow-interfaces=eth1,eth2
enable-dbus=no
use-ipv4=yes
use-ipv6=yes

[wide-area]
enable-wide-area=no

[publish]
disable-publishing=yes

[reflector]
enable-reflector=yes
";

    fn start(router: &str, filters: &[&str]) -> Result<Reflector, String> {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        let dir = tempfile::tempdir().map_err(|e| format!("a temp dir: {e}"))?;
        let conf = dir.path().join("avahi-daemon.conf");
        let mut text = Self::CONF.to_owned();
        if !filters.is_empty() {
            text.push_str(&format!("reflect-filters={}\n", filters.join(",")));
        }
        std::fs::write(&conf, text).map_err(|e| format!("writing {conf:?}: {e}"))?;
        // avahi-daemon keeps its pid file and socket in /run/avahi-daemon, a path built in: in
        // a mount namespace of its own, a tmpfs over /run gives each daemon its own (and the
        // machine's /run is untouched). `ip netns exec` and `unshare` exec, and so does the
        // shell: the child is avahi-daemon itself.
        let mut child = Command::new("ip")
            .args(["netns", "exec", router])
            .args(["unshare", "--mount", "--propagation", "private", "--"])
            .args([
                "sh",
                "-c",
                "mount -t tmpfs lanchat-test /run && exec \"$0\" \"$@\"",
            ])
            .args([
                "avahi-daemon",
                "--no-drop-root",
                "--no-chroot",
                "--no-rlimits",
                "--no-proc-title",
                "-f",
            ])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!("cannot run avahi-daemon (apt-get install avahi-daemon; .ci/run does): {e}")
            })?;
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("Server startup complete") {
                    let _ = ready_tx.send(());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut reflector = Reflector {
            child,
            log,
            _dir: dir,
        };
        if ready
            .recv_timeout(std::time::Duration::from_secs(10))
            .is_err()
        {
            let _ = reflector.child.kill();
            let _ = reflector.child.wait();
            // Let the reader take the last lines.
            std::thread::sleep(std::time::Duration::from_millis(100));
            return Err(format!(
                "avahi-daemon did not start:\n{}",
                reflector.log.lock().unwrap()
            ));
        }
        Ok(reflector)
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
