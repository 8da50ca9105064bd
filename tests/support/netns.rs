//! A LAN in a box for tests and benchmarks: network namespaces joined by one bridge, with
//! multicast on, made by the test itself and removed when dropped. Traffic never leaves them.
//! Needs root and iproute2: tests using it are `#[ignore = "needs root: …"]`, run by `.ci/run`
//! (as root) with `--ignored`; run by hand without root, [`Lan::new`] fails saying why.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// Namespaces made by this process so far, to name each LAN uniquely.
static MADE: AtomicU32 = AtomicU32::new(0);

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
        self.heal(i);
        let rule = if percent >= 100 {
            "drop".to_owned()
        } else {
            format!("numgen random mod 100 < {percent} drop")
        };
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

    /// Ends what [`Lan::lose`] did to host `i`.
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

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain(std::iter::once(&self.hub)) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
