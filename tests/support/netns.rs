//! A LAN in a box for tests and benchmarks: network namespaces joined by one bridge, with
//! multicast on, made by the test itself and removed when dropped. Traffic never leaves them.
//! Needs root and iproute2; [`Lan::new`] returns `None` (after saying why) where it cannot.

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
    /// Makes `n` hosts, or says why it cannot and returns `None` (the caller skips).
    pub fn new(n: usize) -> Option<Lan> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc_geteuid() } != 0 {
            eprintln!(
                "SKIPPED: network namespaces need root (run .ci/run, or the tests with sudo)"
            );
            return None;
        }
        match Lan::build(n) {
            Ok(lan) => Some(lan),
            Err(e) => {
                eprintln!("SKIPPED: cannot make network namespaces: {e}");
                None
            }
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
