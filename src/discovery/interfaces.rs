//! Which network interfaces discovery uses, and why it leaves each other one out; and the
//! [`Report`] of both (with how mDNS fares) for the diagnostics panel.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Name prefixes of virtual adapters (containers, VMs, VPN bridges) that no LAN peer sits
/// behind; skipped unless chosen (in the window, or with `--interface`).
const VIRTUAL_PREFIXES: &[&str] = &[
    "docker",
    "br-",
    "veth",
    "virbr",
    "vboxnet",
    "vmnet",
    "vEthernet",
    "VMware",
    "VirtualBox",
    "utun",
    "tailscale",
    "zt",
    "podman",
    "cni",
    "flannel",
    "lxc",
    "lxd",
    "tun",
    "tap",
    "wg",
    "ppp",
    "ipsec",
    "nordlynx",
];

/// Why discovery leaves an interface out. Its `Display` is the reason a person reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Only this computer is behind it.
    Loopback,
    /// Not connected: no cable, Wi-Fi off, or turned off. (mDNS cannot use it, chosen or not.)
    Down,
    /// A point-to-point link (most VPNs, dial-up): no LAN behind it, and mDNS cannot use it.
    PointToPoint,
    /// Apple's peer-to-peer links for AirDrop (`awdl`, `llw`), which mDNS leaves alone.
    AppleLink,
    /// Its name is one of a virtual adapter's ([`VIRTUAL_PREFIXES`]).
    Virtual,
    /// Other interfaces were chosen.
    NotChosen,
    /// Chosen, but this computer has no interface of that name now.
    Absent,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Skip::Loopback => "loopback: only this computer is behind it",
            Skip::Down => "not connected (no cable, Wi-Fi off, or turned off)",
            Skip::PointToPoint => "a point-to-point link (most VPNs): no local network behind it",
            Skip::AppleLink => "Apple's AirDrop link: no local network behind it",
            Skip::Virtual => {
                "looks virtual (containers, virtual machines, VPNs): usually no one else is behind it"
            }
            Skip::NotChosen => "not chosen: you picked other interfaces",
            Skip::Absent => "chosen, but this computer has no interface of that name now",
        })
    }
}

/// One network interface, as discovery sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name, as the system shows it (`eth0`, `en0`, `Wi-Fi`, `以太网`).
    pub name: String,
    /// Its addresses, IPv4 first: others reach our rooms at these.
    pub addrs: Vec<IpAddr>,
    /// Why discovery does not use it; `None` when it does.
    pub skipped: Option<Skip>,
}

/// How mDNS has fared this run, from the daemon's counters and the adverts that arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MdnsCounts {
    /// Queries for rooms sent to the network (the first ones, and the ones asking again).
    pub queries: u64,
    /// Answers sent to queries for the rooms this device hosts (its own queries included).
    pub answers: u64,
    /// The fingerprint of every host whose room advert arrived this run (this device's too,
    /// when it hosts), with when it was last heard: its advert arrived, or answered a check
    /// (made while someone looks: see [`super::Discovery::listen_closely`]). The other
    /// devices among them prove that mDNS reaches this one, and since when it has not.
    pub heard: BTreeMap<String, std::time::Instant>,
    /// Adverts of our service type whose TXT was not a lanchat room's (a device on the
    /// network that publishes something else under our name, or a broken one).
    pub malformed: u64,
}

/// What discovery uses and how it fares, for the diagnostics panel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Every interface of this machine (and every chosen one it lacks), used or not.
    pub interfaces: Vec<Interface>,
    /// The interfaces chosen by name; empty when lanchat picks every suitable one.
    pub chosen: Vec<String>,
    /// How mDNS fares; `None` while it is not running.
    pub mdns: Option<MdnsCounts>,
}

impl Report {
    /// What discovery reports with these interfaces chosen, read from the system now.
    pub fn survey(chosen: &[String], mdns: Option<MdnsCounts>) -> Report {
        let seen = if_addrs::get_if_addrs()
            .unwrap_or_default()
            .into_iter()
            .map(|intf| Seen {
                loopback: intf.is_loopback(),
                up: intf.is_oper_up(),
                p2p: intf.is_p2p(),
                ip: intf.ip(),
                name: intf.name,
            });
        Report {
            interfaces: interfaces(seen, chosen),
            chosen: chosen.to_vec(),
            mdns,
        }
    }

    /// The interfaces in use.
    pub fn used(&self) -> impl Iterator<Item = &Interface> {
        self.interfaces.iter().filter(|i| i.skipped.is_none())
    }

    /// The interfaces in use with an address each (IPv4, else IPv6), for the status line:
    /// `["eth0 10.0.0.5"]`.
    pub fn status_line(&self) -> Vec<String> {
        self.used()
            .filter_map(|i| Some(format!("{} {}", i.name, i.addrs.first()?)))
            .collect()
    }

    /// Why no room can be found, when no interface is in use, in words that fit every front
    /// end (each says how to choose an interface its own way).
    pub fn trouble(&self) -> Option<String> {
        if self.used().next().is_some() {
            return None;
        }
        Some(if !self.chosen.is_empty() {
            format!(
                "None of the interfaces chosen for finding rooms ({}) is connected",
                self.chosen.join(", ")
            )
        } else if self
            .interfaces
            .iter()
            .any(|i| matches!(i.skipped, Some(Skip::Virtual)))
        {
            "No network connection found: connect to Wi-Fi or a cable, or choose an interface lanchat skips".into()
        } else {
            "No network connection found: connect to Wi-Fi or a cable".into()
        })
    }
}

/// One address of one interface, as the system lists it.
struct Seen {
    name: String,
    ip: IpAddr,
    loopback: bool,
    up: bool,
    p2p: bool,
}

/// Groups the system's addresses by interface and says which interfaces discovery uses:
/// used ones first, each group by name. A chosen name the system lacks is listed too.
fn interfaces(seen: impl Iterator<Item = Seen>, chosen: &[String]) -> Vec<Interface> {
    let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
    for s in seen {
        let intf = by_name.entry(s.name.clone()).or_insert_with(|| Interface {
            skipped: skip(chosen, &s.name, s.loopback, s.up, s.p2p),
            name: s.name,
            addrs: Vec::new(),
        });
        if !intf.addrs.contains(&s.ip) {
            intf.addrs.push(s.ip);
        }
    }
    for name in chosen {
        by_name.entry(name.clone()).or_insert_with(|| Interface {
            name: name.clone(),
            addrs: Vec::new(),
            skipped: Some(Skip::Absent),
        });
    }
    let mut list: Vec<Interface> = by_name.into_values().collect();
    for intf in &mut list {
        intf.addrs.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    }
    list.sort_by_key(|i| i.skipped.is_some());
    list
}

/// Why discovery leaves out an interface; `None` when it uses it. An interface mDNS cannot
/// run on (down, point-to-point, AirDrop's) is left out whatever was chosen; otherwise a
/// choice decides, and without one loopback and virtual adapters are left out.
fn skip(chosen: &[String], name: &str, loopback: bool, up: bool, p2p: bool) -> Option<Skip> {
    if !up {
        Some(Skip::Down)
    } else if p2p {
        Some(Skip::PointToPoint)
    } else if ["awdl", "llw"].iter().any(|p| name.starts_with(p)) {
        Some(Skip::AppleLink)
    } else if !picked(chosen, name, loopback) {
        Some(if !chosen.is_empty() {
            Skip::NotChosen
        } else if loopback {
            Skip::Loopback
        } else {
            Skip::Virtual
        })
    } else {
        None
    }
}

/// Whether discovery uses an interface: the ones chosen, or else every one but loopback
/// and virtual adapters.
pub(super) fn picked(chosen: &[String], name: &str, loopback: bool) -> bool {
    if chosen.is_empty() {
        !loopback && !is_virtual(name)
    } else {
        chosen.iter().any(|n| n == name)
    }
}

/// True for interface names that are virtual adapters. Names are any Unicode (Windows uses
/// localized, user-editable names such as "以太网" or "Büro-LAN"): the prefixes, all ASCII, are
/// compared byte by byte, never by slicing the name at a byte index.
pub fn is_virtual(name: &str) -> bool {
    VIRTUAL_PREFIXES.iter().any(|p| {
        name.as_bytes()
            .get(..p.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(p.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_adapters_are_recognised() {
        for name in [
            "docker0",
            "veth12ab",
            "virbr0",
            "vEthernet (WSL)",
            "VMware Network Adapter VMnet8",
        ] {
            assert!(is_virtual(name), "{name}");
        }
        // Every prefix the code knows, in any case, with anything after it (ASCII or not).
        for prefix in VIRTUAL_PREFIXES {
            for name in [
                prefix.to_string(),
                format!("{prefix}0"),
                prefix.to_uppercase(),
                format!("{prefix} (Büro) 2"),
                format!("{prefix}以太网"),
            ] {
                assert!(is_virtual(&name), "{name}");
            }
        }
        for name in [
            "eth0",
            "wlan0",
            "en0",
            "enp3s0",
            "Wi-Fi",
            "Ethernet",
            "Ethernet 2",
        ] {
            assert!(!is_virtual(name), "{name}");
        }
    }

    #[test]
    fn any_unicode_interface_name_is_checked_without_panicking() {
        // Localized and user-edited names, and ones whose bytes a prefix's length would cut
        // in the middle of a character.
        for name in [
            "以太网",
            "以太网 2",
            "Büro-LAN",
            "Подключение по локальной сети",
            "WLAN-Verbindung 2",
            "é",
            "ét",
            "vÉth0",
            "dock€r",
            "wé",
            "t\u{301}ap",
            "",
            " ",
            "🐳docker",
        ] {
            assert!(!is_virtual(name), "{name:?}");
        }
        assert!(picked(&[], "以太网", false));
        assert!(
            !picked(&[], "以太网", true),
            "loopback is never picked by default"
        );
        let chosen = ["Büro-LAN".to_owned()];
        assert!(picked(&chosen, "Büro-LAN", false) && !picked(&chosen, "eth0", false));
    }

    fn seen(name: &str, ip: &str, up: bool, p2p: bool) -> Seen {
        let ip: IpAddr = ip.parse().unwrap();
        Seen {
            name: name.into(),
            loopback: ip.is_loopback(),
            ip,
            up,
            p2p,
        }
    }

    /// A laptop: its Wi-Fi, a container bridge, loopback, a VPN tunnel, AirDrop's link and
    /// an unplugged cable.
    fn laptop() -> Vec<Seen> {
        vec![
            seen("wlan0", "fe80::1", true, false),
            seen("wlan0", "192.168.1.20", true, false),
            seen("docker0", "172.17.0.1", true, false),
            seen("lo", "127.0.0.1", true, false),
            seen("lo", "::1", true, false),
            seen("tun0", "10.8.0.2", true, true),
            seen("awdl0", "fe80::2", true, false),
            seen("eth0", "192.168.1.21", false, false),
        ]
    }

    fn skips(list: &[Interface]) -> Vec<(&str, Option<Skip>)> {
        list.iter().map(|i| (i.name.as_str(), i.skipped)).collect()
    }

    #[test]
    fn every_interface_is_used_or_skipped_with_its_reason() {
        let list = interfaces(laptop().into_iter(), &[]);
        assert_eq!(
            skips(&list),
            [
                ("wlan0", None),
                ("awdl0", Some(Skip::AppleLink)),
                ("docker0", Some(Skip::Virtual)),
                ("eth0", Some(Skip::Down)),
                ("lo", Some(Skip::Loopback)),
                ("tun0", Some(Skip::PointToPoint)),
            ],
            "the used ones first, then by name"
        );
        assert_eq!(
            list[0].addrs,
            [
                "192.168.1.20".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ],
            "IPv4 first"
        );
        let report = Report {
            interfaces: list,
            ..Report::default()
        };
        assert_eq!(report.status_line(), ["wlan0 192.168.1.20"]);
        assert_eq!(report.trouble(), None);

        // Chosen: exactly those, if mDNS can run on them; a name not there is listed too.
        let chosen = ["docker0".to_owned(), "eth0".to_owned(), "eth9".to_owned()];
        let list = interfaces(laptop().into_iter(), &chosen);
        assert_eq!(
            skips(&list),
            [
                ("docker0", None),
                ("awdl0", Some(Skip::AppleLink)),
                ("eth0", Some(Skip::Down)),
                ("eth9", Some(Skip::Absent)),
                ("lo", Some(Skip::NotChosen)),
                ("tun0", Some(Skip::PointToPoint)),
                ("wlan0", Some(Skip::NotChosen)),
            ]
        );
    }

    #[test]
    fn without_an_interface_in_use_the_trouble_is_said_and_how_depends_on_what_is_skipped() {
        let report = |seen: Vec<Seen>, chosen: &[String]| Report {
            interfaces: interfaces(seen.into_iter(), chosen),
            chosen: chosen.to_vec(),
            mdns: None,
        };
        let unplugged = report(vec![seen("lo", "127.0.0.1", true, false)], &[]);
        assert_eq!(
            unplugged.trouble().as_deref(),
            Some("No network connection found: connect to Wi-Fi or a cable")
        );
        let vm = report(vec![seen("vEthernet (LAN)", "10.0.0.5", true, false)], &[]);
        assert!(
            vm.trouble()
                .unwrap()
                .contains("choose an interface lanchat skips")
        );
        let gone = report(laptop(), &["eth9".to_owned()]);
        assert_eq!(
            gone.trouble().as_deref(),
            Some("None of the interfaces chosen for finding rooms (eth9) is connected")
        );
        assert!(
            Skip::Absent
                .to_string()
                .contains("no interface of that name")
        );
    }
}
