//! The network diagnostics panel, for when rooms do not appear: which interfaces lanchat uses
//! and skips and why (with a choice of them), whether mDNS works, the addresses of the rooms we
//! host in a form to read out, and what to try on each system. Opened from the status bar and
//! from the empty room list. What it says is worked out first ([`room_addresses`],
//! [`Mdns::of`], [`hints`]: no egui), then drawn.

use super::state::AppState;
use super::text;
use crate::bridge::NetStatus;
use crate::discovery::{Interface, Report, Skip};
use crate::protocol::RoomId;
use crate::store::Change;
use egui::{CollapsingHeader, RichText};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

/// The panel's own state while it is open.
#[derive(Debug, Default)]
pub struct Panel {
    /// The interfaces ticked while the user changes which ones to use; `None` while the ticks
    /// show what is in use.
    ticked: Option<BTreeSet<String>>,
}

/// What became of the panel this frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Shown {
    /// Still on screen.
    Open,
    /// The user closed it.
    Closed,
    /// The user asked for "Join by address…".
    JoinByAddress,
}

/// The addresses others can join each room we host at, as `ip:port` to read out: every
/// address of the interfaces in use, IPv4 first. Link-local IPv6 ones are left out (they
/// only work with the reader's own interface named after them).
pub fn room_addresses(
    report: &Report,
    hosting: &BTreeMap<RoomId, (String, u16, bool)>,
) -> Vec<(String, Vec<String>)> {
    let ips: Vec<IpAddr> = report
        .used()
        .flat_map(|i| i.addrs.iter().copied())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_loopback(),
            IpAddr::V6(v6) => !v6.is_loopback() && !v6.is_unicast_link_local(),
        })
        .collect();
    let mut ips: Vec<IpAddr> = ips.into_iter().fold(Vec::new(), |mut seen, ip| {
        if !seen.contains(&ip) {
            seen.push(ip);
        }
        seen
    });
    ips.sort_by_key(|ip| ip.is_ipv6());
    hosting
        .values()
        .map(|(name, port, _)| {
            let addrs = ips
                .iter()
                .map(|ip| SocketAddr::new(*ip, *port).to_string())
                .collect();
            (name.clone(), addrs)
        })
        .collect()
}

/// What the panel says about mDNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mdns {
    /// Queries for rooms sent.
    pub queries: u64,
    /// Answers sent to queries for our rooms.
    pub answers: u64,
    /// Other devices whose room adverts reached us this run.
    pub others_seen: usize,
    /// How long ago another device was last heard from (its advert arrived, or answered a
    /// check), if one ever was.
    pub last_heard: Option<std::time::Duration>,
    /// Other devices with a room in the list now.
    pub others_now: usize,
    /// Adverts for rooms that were not a room's, and were left out of the list.
    pub malformed: u64,
}

impl Mdns {
    /// The counts, with our own device left out; `None` while mDNS is not running.
    pub fn of(state: &AppState) -> Option<Mdns> {
        let counts = state.network.report.mdns.as_ref()?;
        let ours = state.fingerprint.as_str();
        let now: BTreeSet<&str> = state
            .rooms
            .discovered
            .values()
            .filter_map(|ad| ad.fingerprint.as_deref())
            .filter(|fp| *fp != ours)
            .collect();
        let others = || counts.heard.iter().filter(|(fp, _)| *fp != ours);
        Some(Mdns {
            queries: counts.queries,
            answers: counts.answers,
            others_seen: others().count(),
            last_heard: others().map(|(_, at)| at.elapsed()).min(),
            others_now: now.len(),
            malformed: counts.malformed,
        })
    }
}

/// Advice for one system or one kind of network.
#[derive(Debug, PartialEq, Eq)]
pub struct Hint {
    /// Its heading.
    pub title: &'static str,
    /// The system it is for (`std::env::consts::OS`), or `None` for any.
    pub os: Option<&'static str>,
    /// What to try, a paragraph each; one starting with `$ ` is a command to type.
    pub steps: &'static [&'static str],
}

/// Every hint the panel has.
const HINTS: &[Hint] = &[
    Hint {
        title: "Windows: network profile and firewall",
        os: Some("windows"),
        steps: &[
            "Windows lets lanchat in only on networks it calls Private (the installer's firewall rule). Settings → Network & internet → Wi-Fi or Ethernet → your network → Network profile type: Private. Do this only on a network you trust.",
            "Windows Security → Firewall & network protection → Allow an app through firewall: lanchat must be ticked for Private. Answering Cancel to Windows' question once adds a rule that blocks it: untick that one there.",
            "Antivirus suites often have a firewall of their own: it must let in mDNS (UDP port 5353) and lanchat.",
        ],
    },
    Hint {
        title: "macOS: Local Network permission and firewall",
        os: Some("macos"),
        steps: &[
            "System Settings → Privacy & Security → Local Network: turn lanchat on. Without it macOS hides every room, and joining by address fails too.",
            "System Settings → Network → Firewall → Options: lanchat must allow incoming connections, and \"Block all incoming connections\" must be off, or nobody can join the rooms you host.",
        ],
    },
    Hint {
        title: "Linux: firewall",
        os: Some("linux"),
        steps: &[
            "A firewall must let in mDNS (UDP port 5353) and the port of each room you host (TCP, the number after the colon in its address above). With ufw:",
            "$ sudo ufw allow 5353/udp",
            "$ sudo ufw allow PORT/tcp",
            "With firewalld:",
            "$ sudo firewall-cmd --permanent --add-service=mdns",
            "$ sudo firewall-cmd --permanent --add-port=PORT/tcp",
            "$ sudo firewall-cmd --reload",
        ],
    },
    Hint {
        title: "Guest Wi-Fi and client isolation",
        os: None,
        steps: &[
            "Guest networks, hotels, schools and many offices keep devices from talking to each other (\"client isolation\" or \"AP isolation\"): rooms never appear, and joining by address fails too.",
            "Use a network without it (your own Wi-Fi, a phone's hotspot), or ask whoever runs the network.",
        ],
    },
    Hint {
        title: "VPNs",
        os: None,
        steps: &[
            "A VPN may send everything away from the local network, or block it: disconnect it, or turn on its setting that allows local network (LAN) access.",
            "lanchat skips VPN interfaces by itself; tick one above only if the others are on the far side of that VPN.",
        ],
    },
    Hint {
        title: "Wi-Fi and cable on different networks",
        os: None,
        steps: &[
            "In offices, Wi-Fi and cable are often separate networks, and mDNS does not cross from one to another. Join by address still works where the networks are routed; a network admin can carry mDNS across with a reflector (lanchat's README says how).",
        ],
    },
];

/// The hints, those for `os` first, then those for any system, then the other systems'.
pub fn hints(os: &str) -> Vec<&'static Hint> {
    let mut hints: Vec<&Hint> = HINTS.iter().collect();
    hints.sort_by_key(|h| match h.os {
        Some(o) if o == os => 0,
        None => 1,
        Some(_) => 2,
    });
    hints
}

/// A hint's steps as shown: a command for the port of a room (`PORT`) is given once for each
/// room hosted now, with its real port; with none hosted, `PORT` stays, said to be the
/// room's port.
pub fn steps(hint: &Hint, ports: &[u16]) -> Vec<String> {
    let mut out = Vec::new();
    for step in hint.steps {
        match (step.contains("PORT"), ports) {
            (false, _) => out.push((*step).to_owned()),
            (true, []) => out.push(format!("{step}   (PORT: the port of the room you host)")),
            (true, ports) => out.extend(ports.iter().map(|p| step.replace("PORT", &p.to_string()))),
        }
    }
    out
}

/// Whether the problem on the status line is that no interface is in use (then the window
/// says where to choose one).
pub fn no_interface(net: &NetStatus) -> bool {
    net.problem.is_some() && net.problem == net.report.trouble()
}

impl Panel {
    /// Draws the panel; says whether it is still open, or what the user asked for.
    pub fn show(&mut self, ctx: &egui::Context, state: &mut AppState) -> Shown {
        let mut open = true;
        let mut shown = Shown::Open;
        // In the middle of the window, as tall as it allows: there is a lot to read.
        let screen = ctx.content_rect();
        egui::Window::new("Network diagnostics")
            .open(&mut open)
            .collapsible(false)
            .resizable(true)
            .pivot(egui::Align2::CENTER_CENTER)
            .default_pos(screen.center())
            .default_width(600.0_f32.min(screen.width() - 40.0))
            .default_height((screen.height() - 80.0).max(300.0))
            .show(ctx, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.interfaces(ui, state);
                    ui.add_space(12.0);
                    mdns(ui, state);
                    ui.add_space(12.0);
                    if rooms(ui, state) {
                        shown = Shown::JoinByAddress;
                    }
                    ui.add_space(12.0);
                    ui.heading("If rooms still don't appear");
                    let ports: Vec<u16> = state
                        .rooms
                        .hosting
                        .values()
                        .map(|(_, port, _)| *port)
                        .collect();
                    for hint in hints(std::env::consts::OS) {
                        CollapsingHeader::new(hint.title)
                            .default_open(hint.os == Some(std::env::consts::OS))
                            .show(ui, |ui| {
                                for step in steps(hint, &ports) {
                                    match step.strip_prefix("$ ") {
                                        Some(command) => {
                                            ui.label(RichText::new(command).monospace())
                                        }
                                        None => ui.label(step),
                                    };
                                }
                            });
                    }
                });
            });
        if !open { Shown::Closed } else { shown }
    }

    /// Every interface, used or skipped and why, with ticks to choose which ones to use.
    fn interfaces(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        let report = &state.network.report;
        ui.heading("Network interfaces");
        if report.interfaces.is_empty() {
            ui.label("lanchat is not looking for rooms on the network in this run.");
            return;
        }
        ui.label(if report.chosen.is_empty() {
            "lanchat looks for rooms on every interface that seems to lead to your local network. If it guesses wrong, tick the ones to use."
        } else {
            "lanchat looks for rooms only on the interfaces you chose."
        });
        ui.add_space(4.0);
        let mut toggled = None;
        for intf in &report.interfaces {
            if self.interface(ui, report, intf) {
                toggled = Some(intf.name.clone());
            }
        }
        if let Some(name) = toggled {
            let ticked = self.ticked.get_or_insert_with(|| {
                report
                    .used()
                    .map(|i| i.name.clone())
                    .collect::<BTreeSet<_>>()
            });
            if !ticked.remove(&name) {
                ticked.insert(name);
            }
        }
        ui.add_space(4.0);
        self.choose(ui, state);
    }

    /// One interface: its tick, its addresses, and whether it is used or why not. Returns
    /// whether its tick was changed.
    fn interface(&self, ui: &mut egui::Ui, report: &Report, intf: &Interface) -> bool {
        let used = intf.skipped.is_none();
        let mut ticked = match &self.ticked {
            Some(ticked) => ticked.contains(&intf.name),
            None => used,
        };
        let mut toggled = false;
        ui.horizontal_wrapped(|ui| {
            toggled = ui
                .checkbox(&mut ticked, text::name(&intf.name).into_owned())
                .on_hover_text("Look for rooms on this interface")
                .changed();
            let addrs: Vec<String> = intf.addrs.iter().map(IpAddr::to_string).collect();
            ui.label(RichText::new(addrs.join("  ")).monospace().weak());
        });
        let why = match intf.skipped {
            None => RichText::new("✔ used").color(ui.visuals().hyperlink_color),
            Some(skip) => {
                let text = RichText::new(format!("skipped: {skip}")).weak();
                match skip {
                    Skip::Absent | Skip::Down if report.chosen.contains(&intf.name) => {
                        text.color(ui.visuals().warn_fg_color)
                    }
                    _ => text,
                }
            }
        };
        ui.indent(("why", &intf.name), |ui| ui.label(why.small()));
        toggled
    }

    /// While interfaces are being ticked, the button that uses them (and Cancel); while some
    /// were chosen, the one that lets lanchat choose again.
    fn choose(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        ui.horizontal_wrapped(|ui| {
            if let Some(ticked) = &self.ticked {
                let choose = egui::Button::new("Use the ticked interfaces");
                if ui
                    .add_enabled(!ticked.is_empty(), choose)
                    .on_disabled_hover_text("Tick at least one")
                    .clicked()
                {
                    let names = ticked.iter().cloned().collect();
                    (state.preferences).change(Change::Interfaces(names), &mut state.outbox);
                    self.ticked = None;
                }
                if ui.button("Cancel").clicked() {
                    self.ticked = None;
                }
            } else if !state.network.report.chosen.is_empty()
                && ui
                    .button("Let lanchat choose")
                    .on_hover_text("Use every interface that seems to lead to your local network")
                    .clicked()
            {
                (state.preferences).change(Change::Interfaces(Vec::new()), &mut state.outbox);
            }
        });
    }
}

/// Whether mDNS runs and whether anything reaches it.
fn mdns(ui: &mut egui::Ui, state: &AppState) {
    ui.heading("Finding rooms (mDNS)");
    let Some(counts) = Mdns::of(state) else {
        match &state.network.problem {
            Some(problem) => ui.colored_label(ui.visuals().warn_fg_color, problem),
            None => ui.label("mDNS is not running."),
        };
        return;
    };
    let used: Vec<&str> = state
        .network
        .report
        .used()
        .map(|i| i.name.as_str())
        .collect();
    if used.is_empty() {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "mDNS runs, but on no interface: tick one above.",
        );
    } else {
        ui.label(format!("mDNS runs on {}.", used.join(", ")));
    }
    egui::Grid::new("mdns_counts")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("Queries for rooms sent");
            ui.label(counts.queries.to_string());
            ui.end_row();
            ui.label("Queries for your rooms answered");
            ui.label(if state.rooms.hosting.is_empty() {
                format!("{} (only while you host a room)", counts.answers)
            } else {
                counts.answers.to_string()
            });
            ui.end_row();
            ui.label("Other lanchat devices seen");
            ui.label(format!(
                "{} ({} with a room now)",
                counts.others_seen, counts.others_now
            ));
            ui.end_row();
            if counts.malformed > 0 {
                // Something on the network publishes our service type with another TXT: an
                // incompatible or broken program, not lanchat.
                ui.label("Broken room adverts left out");
                ui.label(counts.malformed.to_string());
                ui.end_row();
            }
        });
    match verdict(&counts) {
        Verdict::Works(said) => {
            ui.label(RichText::new(said).color(ui.visuals().hyperlink_color));
        }
        Verdict::Silent(said) => {
            ui.colored_label(ui.visuals().warn_fg_color, said);
        }
        Verdict::NothingYet(said) => {
            ui.label(said);
        }
    }
    // The times said move on while the panel is open.
    ui.ctx()
        .request_repaint_after(std::time::Duration::from_secs(1));
}

/// What the panel concludes about mDNS, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Other devices' rooms are listed, heard from lately.
    Works(String),
    /// Other devices were heard from, but none is now: since when.
    Silent(String),
    /// No other device's room has reached this one.
    NothingYet(String),
}

/// The verdict on mDNS the counts support now: it follows what reaches this device now
/// (the rooms listed, and when another device was last heard), not what once did.
pub fn verdict(counts: &Mdns) -> Verdict {
    let ago = |d: std::time::Duration| match d.as_secs() {
        0..=1 => "just now".to_owned(),
        s @ 2..=119 => format!("{s} s ago"),
        s => format!("{} min ago", s / 60),
    };
    match (counts.others_now, counts.last_heard) {
        (0, None) => Verdict::NothingYet(
            "No room from another device has reached this one yet. Other devices show up only \
             while they host a room: if someone does and it is missing here, see the hints below."
                .to_owned(),
        ),
        (0, Some(last)) => {
            let since =
                chrono::Local::now() - chrono::TimeDelta::from_std(last).unwrap_or_default();
            Verdict::Silent(format!(
                "⚠ Nothing heard from other devices since {} ({}): their rooms left the list. \
                 If they still host, mDNS no longer reaches this device — see the hints below.",
                since.format("%H:%M:%S"),
                ago(last)
            ))
        }
        (n, last) => Verdict::Works(format!(
            "✔ mDNS works here: rooms from {} reach this one (last heard {}).",
            if n == 1 {
                "1 other device".to_owned()
            } else {
                format!("{n} other devices")
            },
            last.map_or_else(|| "just now".to_owned(), ago)
        )),
    }
}

/// The addresses of the rooms we host, to read out, and where to enter someone else's.
/// Returns whether the user asked for "Join by address…".
fn rooms(ui: &mut egui::Ui, state: &AppState) -> bool {
    ui.heading("Your rooms' addresses");
    let rooms = room_addresses(&state.network.report, &state.rooms.hosting);
    if rooms.is_empty() {
        ui.label(
            "You host no room now. Once you do, the addresses others can join it at are here.",
        );
    } else {
        ui.label(
            "If your room does not appear in someone's list, read them one of these: they enter \
             it under Join by address… in their sidebar.",
        );
    }
    for (name, addrs) in &rooms {
        ui.strong(text::name(name));
        if addrs.is_empty() {
            ui.label(
                RichText::new("No interface in use has an address others could reach.")
                    .color(ui.visuals().warn_fg_color),
            );
        }
        for addr in addrs {
            ui.horizontal(|ui| {
                ui.label(RichText::new(addr).monospace().strong());
                if ui
                    .small_button("Copy")
                    .on_hover_text(format!("Copy {addr}"))
                    .clicked()
                {
                    ui.ctx().copy_text(addr.clone());
                }
            });
        }
    }
    ui.add_space(8.0);
    ui.label("A room someone else hosts is missing from your list? Ask them for an address from this panel on their computer, and enter it here:");
    ui.button("Join by address…").clicked()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::Interface;

    fn report() -> Report {
        Report {
            interfaces: vec![
                Interface {
                    name: "eth0".into(),
                    addrs: vec![
                        "192.168.1.20".parse().unwrap(),
                        "fe80::1".parse().unwrap(),
                        "2001:db8::20".parse().unwrap(),
                    ],
                    skipped: None,
                },
                Interface {
                    name: "docker0".into(),
                    addrs: vec!["172.17.0.1".parse().unwrap()],
                    skipped: Some(Skip::Virtual),
                },
            ],
            chosen: Vec::new(),
            mdns: None,
        }
    }

    #[test]
    fn a_hosted_room_is_read_out_at_the_addresses_of_the_interfaces_in_use() {
        let mut hosting = BTreeMap::new();
        hosting.insert(
            RoomId::parse("r1").unwrap(),
            ("Lab".to_owned(), 40123, false),
        );
        let rooms = room_addresses(&report(), &hosting);
        assert_eq!(
            rooms,
            vec![(
                "Lab".to_owned(),
                vec![
                    "192.168.1.20:40123".to_owned(),
                    "[2001:db8::20]:40123".to_owned()
                ]
            )],
            "IPv4 first; no link-local IPv6, no skipped interface"
        );
    }

    #[test]
    fn the_mdns_verdict_follows_what_is_heard_now() {
        use std::time::Duration;
        let counts = |others_now, last_heard| Mdns {
            queries: 3,
            answers: 0,
            others_seen: 2,
            others_now,
            last_heard,
            malformed: 0,
        };
        let said = |v: Verdict| match v {
            Verdict::Works(s) | Verdict::Silent(s) | Verdict::NothingYet(s) => s,
        };
        let works = verdict(&counts(2, Some(Duration::from_secs(4))));
        assert!(
            matches!(&works, Verdict::Works(s) if s.contains("2 other devices") && s.contains("4 s ago")),
            "{works:?}"
        );
        // The rooms of others left the list: no "works", but since when nothing was heard.
        let silent = verdict(&counts(0, Some(Duration::from_secs(80))));
        assert!(matches!(silent, Verdict::Silent(_)));
        let since = chrono::Local::now() - chrono::TimeDelta::seconds(80);
        let said_silent = said(silent);
        assert!(said_silent.contains("80 s ago"), "{said_silent}");
        assert!(
            said_silent.contains(&since.format("%H:%M").to_string()),
            "{said_silent}"
        );
        assert!(said(verdict(&counts(0, Some(Duration::from_secs(600))))).contains("10 min ago"));
        assert!(matches!(
            verdict(&Mdns {
                others_seen: 0,
                ..counts(0, None)
            }),
            Verdict::NothingYet(_)
        ));
    }

    #[test]
    fn the_firewall_commands_name_the_ports_of_the_rooms_hosted() {
        let linux = HINTS.iter().find(|h| h.os == Some("linux")).unwrap();
        let shown = steps(linux, &[40123, 40200]);
        assert!(shown.contains(&"$ sudo ufw allow 40123/tcp".to_owned()));
        assert!(shown.contains(&"$ sudo ufw allow 40200/tcp".to_owned()));
        assert!(!shown.iter().any(|s| s.contains("PORT")), "{shown:?}");
        // None hosted: the placeholder stays, and says what it stands for.
        let shown = steps(linux, &[]);
        assert!(
            shown
                .iter()
                .any(|s| s.contains("PORT: the port of the room you host"))
        );
    }

    #[test]
    fn the_hints_for_the_system_we_run_on_come_first_and_none_are_lost() {
        for os in ["windows", "macos", "linux"] {
            let hints = hints(os);
            assert_eq!(hints[0].os, Some(os));
            assert_eq!(hints.len(), HINTS.len());
        }
        assert_eq!(hints("freebsd")[0].os, None);
    }
}
