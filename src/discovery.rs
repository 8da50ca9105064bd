//! Finding rooms on the LAN and announcing our own, with mDNS/DNS-SD. The only module that
//! touches `mdns-sd`: it turns adverts into [`DiscoveryEvent::Found`] and
//! [`DiscoveryEvent::Lost`], and rooms we host into adverts. A host that crashes sends no
//! goodbye, so every listed room's port is checked every few seconds; one that stops
//! answering has mDNS ask for its advert again, and an advert nobody confirms is removed.
//!
//! Each room is one instance of [`SERVICE_TYPE`]. Its TXT record carries `id`, `name`, `host`,
//! `v` (protocol version), `n` (member count), `lock` (`1` for a password room) and `fp` (the
//! fingerprint of the host's key). TXT comes from anyone on the network: a record with a
//! missing, oversized or malformed field is ignored, and `fp` is only a hint for the list —
//! the handshake proves the key. Two hosts advertising one room id with different keys are
//! two rooms here, never merged.
//!
//! An advert can also arrive without its TXT: a responder may leave out of an answer a record
//! it multicast within the last second (RFC 6762 §6), and mdns-sd's browser then resolves the
//! advert with no TXT and never asks for it. Such an advert is not "malformed": the network is
//! asked afresh (with a second, cache-less daemon, whose query no known answer trims) until the
//! TXT arrives. Our own adverts are re-published without a new probe when their TXT changes,
//! and under lower-case names, so that mdns-sd sends both copies of each announcement.
//!
//! It also says what it can about itself, for the diagnostics panel ([`Report`]): every
//! interface of the machine, used or skipped and why, and how mDNS fares.

use crate::protocol::{MAX_MEMBERS, RoomId, check_name};
use mdns_sd::{
    IfKind, IfPredicate, ResolvedService, ScopedIp, ServiceDaemon, ServiceEvent, ServiceInfo,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The DNS-SD service type of a lanchat room.
pub const SERVICE_TYPE: &str = "_lanchat._tcp.local.";

/// How often every listed room's port is checked. A host that crashed sends no goodbye and
/// its advert would stay in every list for its TTL (two minutes): a port that no longer
/// answers has mDNS ask for the advert again, and nobody answering removes it.
const CHECK_EVERY: Duration = Duration::from_secs(3);
/// Longest a check waits for a room's port to answer (a host whose machine went off the
/// network answers nothing, rather than refusing).
const CHECK_LIMIT: Duration = Duration::from_secs(2);
/// How long mDNS gives a doubted advert to be confirmed before it is removed. With the two
/// above, a crashed host's room leaves the lists within 3 + 3 s, a vanished machine's
/// within 3 + 2 + 3 s.
const VERIFY_LIMIT: Duration = Duration::from_secs(3);
/// After an advert was confirmed although its port did not answer (a firewall in between),
/// how long before its port is checked again: the network is not asked every few seconds.
const CONFIRMED_QUIET: Duration = Duration::from_secs(30);
/// A room that left the list because it stopped answering may come back without announcing
/// itself (a partition heals; a laptop wakes). mDNS asks for rooms less and less often (at
/// last hourly), so while such a room is missing the network is asked again: first after
/// this long, then twice as long each time, up to [`LOOK_AGAIN_MAX`].
const LOOK_AGAIN: Duration = Duration::from_secs(10);
const LOOK_AGAIN_MAX: Duration = Duration::from_secs(300);
/// How long a room that stopped answering is looked for.
const MISSING_FOR: Duration = Duration::from_secs(3600);

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

/// A room as seen on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomAd {
    /// The room's identity; the same room seen twice has one id.
    pub id: RoomId,
    /// The room's name.
    pub name: String,
    /// The host's display name.
    pub host: String,
    /// Members in the room, as last advertised.
    pub members: u32,
    /// Whether joining needs a password.
    pub locked: bool,
    /// The host's protocol version; a different one cannot be joined.
    pub protocol: u16,
    /// Every address the room was seen at, with the scope of link-local IPv6 ones.
    pub addrs: Vec<SocketAddr>,
    /// The fingerprint of the host's key, as the advert claims it (older versions send none).
    pub fingerprint: Option<String>,
}

/// A room as the list tells rooms apart: by id and by the host key its advert claims.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AdKey {
    pub id: RoomId,
    pub fingerprint: Option<String>,
}

impl RoomAd {
    /// Which list entry this advert is.
    pub fn key(&self) -> AdKey {
        AdKey {
            id: self.id.clone(),
            fingerprint: self.fingerprint.clone(),
        }
    }
}

/// What discovery reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryEvent {
    /// A room appeared or its advert changed.
    Found(RoomAd),
    /// A room's last advert went away.
    Lost(AdKey),
}

/// Which interfaces to use.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryConfig {
    /// Use exactly these interfaces (by name); empty means every suitable one.
    pub interfaces: Vec<String>,
}

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
    /// The fingerprint of every host whose room advert arrived (this device's too, when it
    /// hosts): the other devices among them prove that mDNS reaches this one.
    pub hosts: BTreeSet<String>,
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

/// A room we publish.
#[derive(Debug, Clone)]
/// Its fields are those of [`RoomAd`], with the port the room listens on.
pub struct Advert {
    pub id: RoomId,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub members: u32,
    pub locked: bool,
    /// The fingerprint of this device's key.
    pub fingerprint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("could not start mDNS: {0}")]
    Start(String),
    #[error("could not advertise the room: {0}")]
    Advertise(String),
}

/// The mDNS daemon, our adverts and the browse task.
pub struct Discovery {
    /// Owns the mDNS sockets and thread; shut down explicitly in [`Discovery::shutdown`].
    daemon: ServiceDaemon,
    /// Our published rooms by id, kept to re-publish on member count changes and to withdraw.
    adverts: HashMap<RoomId, Published>,
    /// The interfaces chosen (empty: every suitable one), shared with the daemon's interface
    /// filter so that a new choice applies without starting mDNS again.
    chosen: Arc<RwLock<Vec<String>>>,
    /// To the browse task.
    asks: mpsc::UnboundedSender<Ask>,
    /// How mDNS fares, as the browse task last counted.
    counts: watch::Receiver<MdnsCounts>,
}

/// A room we publish, as mDNS has it.
struct Published {
    /// What was registered last.
    info: ServiceInfo,
    /// When it was first registered: once [`PROBED`] has passed, its names are proven ours.
    since: std::time::Instant,
}

/// Longer than mDNS takes to probe a new advert's names (three probes 250 ms apart, starting
/// within 250 ms, then 250 ms of silence: at most a second).
const PROBED: Duration = Duration::from_secs(2);

/// What the browse task is asked to do.
enum Ask {
    /// A member lost this room's host: check its advert.
    Verify(RoomId),
    /// The interfaces changed: check every room's advert (the ones only seen on interfaces
    /// no longer used go).
    VerifyAll,
}

/// An mDNS daemon on the interfaces chosen; it follows a new choice (see
/// [`Discovery::choose`]).
fn daemon_on(chosen: &Arc<RwLock<Vec<String>>>) -> Result<ServiceDaemon, mdns_sd::Error> {
    let daemon = ServiceDaemon::new()?;
    let filter = chosen.clone();
    let skipped = daemon.disable_interface(IfKind::Predicate(IfPredicate::new(move |intf| {
        let chosen = filter.read().unwrap_or_else(PoisonError::into_inner);
        !picked(&chosen, &intf.name, intf.is_loopback())
    })));
    if let Err(e) = skipped {
        let _ = daemon.shutdown();
        return Err(e);
    }
    Ok(daemon)
}

/// Whether discovery uses an interface: the ones chosen, or else every one but loopback
/// and virtual adapters.
fn picked(chosen: &[String], name: &str, loopback: bool) -> bool {
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

impl Discovery {
    /// Starts the mDNS daemon on the chosen interfaces and browses for rooms; events arrive
    /// on the returned channel until [`Discovery::shutdown`].
    pub fn start(
        config: DiscoveryConfig,
    ) -> Result<(Discovery, mpsc::UnboundedReceiver<DiscoveryEvent>), DiscoveryError> {
        let start = |e: mdns_sd::Error| DiscoveryError::Start(e.to_string());
        let chosen = Arc::new(RwLock::new(config.interfaces));
        let daemon = daemon_on(&chosen).map_err(start)?;
        let browse = daemon.browse(SERVICE_TYPE).map_err(start)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (asks, asked) = mpsc::unbounded_channel();
        let (counted, counts) = watch::channel(MdnsCounts::default());
        let network = Network {
            daemon: daemon.clone(),
            chosen: chosen.clone(),
        };
        tokio::spawn(Browser::new(network, tx, counted).run(browse, asked));
        Ok((
            Discovery {
                daemon,
                adverts: HashMap::new(),
                chosen,
                asks,
                counts,
            },
            rx,
        ))
    }

    /// What discovery uses now and how mDNS fares.
    pub fn report(&self) -> Report {
        let chosen = self
            .chosen
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Report::survey(&chosen, Some(self.counts.borrow().clone()))
    }

    /// Uses exactly these interfaces from now on (empty: every suitable one): mDNS starts on
    /// the ones added and leaves the ones dropped, and every listed room is checked again.
    pub fn choose(&self, interfaces: Vec<String>) {
        *self.chosen.write().unwrap_or_else(PoisonError::into_inner) = interfaces;
        // The daemon applies its interface filters again, ours among them, each time one is
        // added: this one matches nothing and only makes it do so.
        let again = IfKind::Predicate(IfPredicate::new(|_| false));
        if let Err(e) = self.daemon.enable_interface(again) {
            tracing::warn!("changing the interfaces mDNS uses: {e}");
        }
        let _ = self.asks.send(Ask::VerifyAll);
    }

    /// Publishes a room, or re-publishes it with a changed member count or host name.
    ///
    /// A room's names are probed for once, when it is first published (RFC 6762 §8.1: two
    /// devices hosting one room id must not both claim them). A later change of its TXT only
    /// needs announcing (§8.4), so it is re-published without a probe: mdns-sd would probe
    /// again, and while it probes it answers no query for the room (issue 22).
    pub fn advertise(&mut self, ad: &Advert) -> Result<(), DiscoveryError> {
        let mut info = service_info(ad).map_err(|e| DiscoveryError::Advertise(e.to_string()))?;
        let since = match self.adverts.get(&ad.id) {
            Some(old) if old.info.get_fullname() == info.get_fullname() => {
                // Changed while the first probe runs, it joins that probe instead.
                if old.since.elapsed() >= PROBED {
                    info.set_requires_probe(false);
                }
                old.since
            }
            _ => std::time::Instant::now(),
        };
        self.daemon
            .register(info.clone())
            .map_err(|e| DiscoveryError::Advertise(e.to_string()))?;
        self.adverts
            .insert(ad.id.clone(), Published { info, since });
        Ok(())
    }

    /// Asks the network whether a room's adverts are still true (a member lost its host);
    /// adverts nobody confirms are dropped and the room is reported lost.
    pub fn verify(&self, id: &RoomId) {
        let _ = self.asks.send(Ask::Verify(id.clone()));
    }

    /// Withdraws a room's advert now; the returned future ends when the goodbye is sent
    /// (browsers then drop the room at once), or after a limit.
    pub fn withdraw(
        &mut self,
        id: &RoomId,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let done = self.adverts.remove(id).and_then(|published| {
            match self.daemon.unregister(published.info.get_fullname()) {
                Ok(done) => Some(done),
                Err(e) => {
                    tracing::warn!("withdrawing room {id}: {e}");
                    None
                }
            }
        });
        async move {
            if let Some(done) = done {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), done.recv_async())
                    .await;
            }
        }
    }

    /// Withdraws every advert and stops the daemon.
    pub async fn shutdown(mut self) {
        let ids: Vec<RoomId> = self.adverts.keys().cloned().collect();
        let mut goodbyes = Vec::new();
        for id in &ids {
            goodbyes.push(self.withdraw(id));
        }
        futures::future::join_all(goodbyes).await;
        if let Ok(done) = self.daemon.shutdown() {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(2), done.recv_async()).await;
        }
    }
}

fn service_info(ad: &Advert) -> Result<ServiceInfo, mdns_sd::Error> {
    // The instance name is for other DNS-SD browsers' eyes; ours read the TXT. The id suffix
    // keeps two rooms with one name apart, so name conflicts never arise. It is lower case:
    // mdns-sd keeps its services under their lower-cased names but looks one up by its name
    // as given when it sends an announcement's second copy, so a name with a capital letter
    // is announced once only (a browser that missed that one copy may never get the TXT).
    let mut instance = String::new();
    let lower = ad.name.to_lowercase();
    for c in lower.chars().filter(|c| !c.is_control() && *c != '.') {
        if instance.len() + c.len_utf8() > 40 {
            break;
        }
        instance.push(c);
    }
    let instance = format!("{instance} [{}]", ad.id);
    let hostname = format!("lanchat-{}.local.", ad.id);
    let members = ad.members.to_string();
    let props = [
        ("id", ad.id.as_str()),
        ("name", ad.name.as_str()),
        ("host", ad.host.as_str()),
        ("v", &crate::protocol::PROTOCOL_VERSION.to_string()),
        ("n", members.as_str()),
        ("lock", if ad.locked { "1" } else { "0" }),
        ("fp", ad.fingerprint.as_str()),
    ];
    let info = ServiceInfo::new(SERVICE_TYPE, &instance, &hostname, (), ad.port, &props[..])?;
    Ok(info.enable_addr_auto())
}

/// Why a resolved advert is not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BadAd {
    /// It came without its TXT record: mDNS resolves an advert from an answer that left the
    /// TXT out (a responder may leave out what it sent within the last second). Asked for again.
    NoTxt,
    /// Its TXT is not a lanchat room's: a missing, oversized or malformed field.
    Malformed,
}

/// Parses a resolved advert.
fn parse_ad(svc: &ResolvedService) -> Result<RoomAd, BadAd> {
    // Every lanchat advert has properties; none at all is a TXT that has not arrived.
    if svc.get_properties().is_empty() {
        return Err(BadAd::NoTxt);
    }
    fields(svc).ok_or(BadAd::Malformed)
}

/// The room an advert's TXT, port and addresses describe; `None` for anything malformed.
fn fields(svc: &ResolvedService) -> Option<RoomAd> {
    let txt = |key: &str| svc.get_property_val_str(key);
    let id = RoomId::parse(txt("id")?)?;
    let name = txt("name")?.to_owned();
    let host = txt("host")?.to_owned();
    check_name("room name", &name).ok()?;
    check_name("host name", &host).ok()?;
    let protocol: u16 = txt("v")?.parse().ok()?;
    let members: u32 = txt("n")?
        .parse()
        .ok()
        .filter(|&n| n as usize <= MAX_MEMBERS)?;
    let locked = match txt("lock")? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let fingerprint = match txt("fp") {
        None => None,
        Some(fp) if is_fingerprint(fp) => Some(fp.to_owned()),
        Some(_) => return None,
    };
    if svc.get_port() == 0 {
        return None;
    }
    let mut addrs: Vec<SocketAddr> = svc
        .get_addresses()
        .iter()
        .map(|ip| socket_addr(ip, svc.get_port()))
        .collect();
    addrs.sort();
    Some(RoomAd {
        id,
        name,
        host,
        members,
        locked,
        protocol,
        addrs,
        fingerprint,
    })
}

/// Whether an advert's `fp` has the shape of a fingerprint (`XXXX-XXXX-XXXX-XXXX`).
fn is_fingerprint(fp: &str) -> bool {
    fp.len() == 19
        && fp.bytes().enumerate().all(|(i, b)| {
            if i % 5 == 4 {
                b == b'-'
            } else {
                b.is_ascii_digit() || b.is_ascii_uppercase()
            }
        })
}

/// A socket address for a resolved IP, with the interface scope for link-local IPv6.
fn socket_addr(ip: &ScopedIp, port: u16) -> SocketAddr {
    match ip {
        ScopedIp::V6(v6) => {
            let scope = if v6.addr().is_unicast_link_local() {
                v6.scope_id().index
            } else {
                0
            };
            SocketAddr::V6(SocketAddrV6::new(*v6.addr(), port, 0, scope))
        }
        other => SocketAddr::new(other.to_ip_addr(), port),
    }
}

/// Tracks adverts per instance name and reports them per room id and claimed key: a room seen
/// under two names or on two interfaces is one room with the union of its addresses, but one
/// room id claimed by two keys is two rooms.
#[derive(Default)]
struct Rooms {
    /// Parsed advert per DNS-SD instance full name.
    by_instance: HashMap<String, RoomAd>,
    /// Instances last resolved without a usable TXT: the network is asked for them again
    /// (mDNS itself never asks for a missing TXT, and a room must not stay unlisted for it).
    incomplete: HashSet<String>,
    /// Adverts this run whose TXT was not a room's, for the diagnostics panel.
    malformed: u64,
    /// How often each instance came malformed: one cut short is asked for again, but one that
    /// is simply not a room's is not asked about forever (see [`MALFORMED_ASKS`]).
    malformed_times: HashMap<String, u32>,
}

/// Times a malformed advert is asked for again at most.
const MALFORMED_ASKS: u32 = 3;

impl Rooms {
    /// An instance resolved, with or without a usable TXT: what changes in the list. One
    /// without its TXT leaves the list as it was (a listed room stays listed) until it comes;
    /// a malformed one is dropped, and asked for again too (it may have been cut short).
    fn advert(&mut self, svc: &ResolvedService) -> Vec<DiscoveryEvent> {
        let fullname = svc.get_fullname();
        match parse_ad(svc) {
            Ok(ad) => {
                self.incomplete.remove(fullname);
                self.malformed_times.remove(fullname);
                self.resolved(fullname.to_owned(), ad)
            }
            Err(bad) => {
                tracing::debug!("advert {fullname} not listed: {bad:?}; asking again");
                let (lost, ask) = match bad {
                    BadAd::NoTxt => (None, true),
                    BadAd::Malformed => {
                        self.malformed += 1;
                        if self.malformed_times.len() >= 1024 {
                            self.malformed_times.clear(); // bounded, whatever the network says
                        }
                        let times = self.malformed_times.entry(fullname.to_owned()).or_default();
                        *times += 1;
                        let ask = *times <= MALFORMED_ASKS;
                        (self.removed(fullname), ask)
                    }
                };
                if ask {
                    self.incomplete.insert(fullname.to_owned());
                } else {
                    self.incomplete.remove(fullname);
                }
                lost.into_iter().collect()
            }
        }
    }

    /// The merged advert of one room, if any instance still carries it.
    fn merged(&self, key: &AdKey) -> Option<RoomAd> {
        let mut found: Option<RoomAd> = None;
        for ad in self.by_instance.values().filter(|ad| &ad.key() == key) {
            match &mut found {
                None => found = Some(ad.clone()),
                Some(merged) => {
                    merged.addrs.extend(ad.addrs.iter().copied());
                    merged.addrs.sort();
                    merged.addrs.dedup();
                }
            }
        }
        found
    }

    /// An instance resolved: its room is found (and a room it no longer carries may be gone).
    fn resolved(&mut self, fullname: String, ad: RoomAd) -> Vec<DiscoveryEvent> {
        let key = ad.key();
        let old = self
            .by_instance
            .insert(fullname, ad)
            .filter(|old| old.key() != key);
        let was = old.and_then(|old| self.gone(&old.key()));
        was.into_iter()
            .chain(self.merged(&key).map(DiscoveryEvent::Found))
            .collect()
    }

    /// The instance names whose advert matches.
    fn instances(&self, which: impl Fn(&RoomAd) -> bool) -> Vec<String> {
        self.by_instance
            .iter()
            .filter(|(_, ad)| which(ad))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Every room listed, with all its addresses.
    fn listed(&self) -> Vec<(AdKey, Vec<SocketAddr>)> {
        let mut rooms: BTreeMap<AdKey, Vec<SocketAddr>> = BTreeMap::new();
        for ad in self.by_instance.values() {
            rooms.entry(ad.key()).or_default().extend(&ad.addrs);
        }
        rooms.into_iter().collect()
    }

    fn removed(&mut self, fullname: &str) -> Option<DiscoveryEvent> {
        self.incomplete.remove(fullname);
        let old = self.by_instance.remove(fullname)?;
        self.gone(&old.key())
    }

    fn gone(&self, key: &AdKey) -> Option<DiscoveryEvent> {
        Some(match self.merged(key) {
            Some(ad) => DiscoveryEvent::Found(ad),
            None => DiscoveryEvent::Lost(key.clone()),
        })
    }
}

/// What the browse task asks of mDNS besides its events: a trait, so that the task's
/// decisions are tested without a network.
trait Mdns: Send + 'static {
    /// Asks the network whether an instance's records are still true; the ones nobody
    /// confirms within `limit` are removed.
    fn verify(&self, instance: String, limit: Duration);
    /// Browses for rooms again, from often: the new query replaces the old one.
    fn browse(&self) -> Option<mdns_sd::Receiver<ServiceEvent>>;
    /// Asks the network for every room afresh, as a lanchat just started would (see
    /// [`Network::ask_afresh`]).
    fn ask_afresh(&self);
    /// The daemon's counters.
    fn metrics(&self) -> Option<mdns_sd::Receiver<mdns_sd::Metrics>>;
}

/// The real network: our daemon, and the interfaces chosen for the asking one.
struct Network {
    /// The daemon that browses, advertises and keeps the cache.
    daemon: ServiceDaemon,
    /// The interfaces the user chose, for the daemon that asks afresh to use the same.
    chosen: Arc<RwLock<Vec<String>>>,
}

/// How long the daemon that asks afresh waits for answers (responders answer a query within
/// 120 ms; ours hears them anyway) before it stops.
const ASKER_LIFE: Duration = Duration::from_millis(500);

impl Mdns for Network {
    fn verify(&self, instance: String, limit: Duration) {
        if let Err(e) = self.daemon.verify(instance.clone(), limit) {
            tracing::debug!("verifying {instance}: {e}");
        }
    }

    fn browse(&self) -> Option<mdns_sd::Receiver<ServiceEvent>> {
        self.daemon
            .browse(SERVICE_TYPE)
            .inspect_err(|e| tracing::debug!("asking for rooms again: {e}"))
            .ok()
    }

    /// Our daemon cannot ask for one record (mdns-sd has no such call), and its own queries
    /// carry the rooms it knows as known answers, which hosts then rightly leave unanswered.
    /// A daemon of its own, started for this, has no cache: its query gets every room's
    /// records in full from every host, and those answers are multicast, so our daemon hears
    /// the TXT it missed.
    fn ask_afresh(&self) {
        let asker = match daemon_on(&self.chosen) {
            Ok(asker) => asker,
            Err(e) => return tracing::debug!("asking for rooms afresh: {e}"),
        };
        // Its events are not needed, but a browse whose receiver is gone is dropped unsent.
        let events = asker.browse(SERVICE_TYPE);
        if let Err(e) = &events {
            tracing::debug!("asking for rooms afresh: {e}");
        }
        tokio::spawn(async move {
            tokio::time::sleep(ASKER_LIFE).await;
            let _ = asker.shutdown();
            drop(events);
        });
    }

    fn metrics(&self) -> Option<mdns_sd::Receiver<mdns_sd::Metrics>> {
        self.daemon.get_metrics().ok()
    }
}

/// A retry schedule (the waits from backon): started when there is something to try, stopped
/// when there is not.
#[derive(Debug)]
struct Backoff {
    /// How the waits grow: from the first to the most, doubling.
    waits: backon::ExponentialBuilder,
    /// When the next try is due, and the waits after it; `None` while there is nothing to try.
    next: Option<(Instant, backon::ExponentialBackoff)>,
}

impl Backoff {
    /// The first try after `first`, then after twice as long each time, up to `max`, without end.
    const fn new(first: Duration, max: Duration) -> Self {
        Self {
            waits: backon::ExponentialBuilder::new()
                .with_min_delay(first)
                .with_max_delay(max)
                .without_max_times(),
            next: None,
        }
    }

    /// When the next try is due.
    fn due(&self) -> Option<Instant> {
        self.next.as_ref().map(|(at, _)| *at)
    }

    /// Starts trying, unless already trying.
    fn start(&mut self, now: Instant) {
        if self.next.is_none() {
            let mut waits = backon::BackoffBuilder::build(self.waits);
            let first = waits.next().unwrap_or_default();
            self.next = Some((now + first, waits));
        }
    }

    /// A try was made: the next one after the next wait.
    fn tried(&mut self, now: Instant) {
        if let Some((at, waits)) = &mut self.next {
            *at = now + waits.next().unwrap_or_default();
        }
    }

    fn stop(&mut self) {
        self.next = None;
    }
}

/// After an advert resolved without a usable TXT, how long before the network is asked for
/// it afresh: longer than a host takes to send its announcement's second copy (1 to 1.2 s),
/// which carries the TXT to a browser that missed the first. Then twice as long each time,
/// up to [`ASK_AGAIN_MAX`], for as long as some advert is incomplete.
const ASK_AGAIN: Duration = Duration::from_millis(1500);
const ASK_AGAIN_MAX: Duration = Duration::from_secs(60);

/// The browse task's state: the rooms seen, the checks of their ports, the rooms that
/// stopped answering and are looked for again, and the adverts that came incomplete.
struct Browser<M: Mdns> {
    mdns: M,
    rooms: Rooms,
    /// Room events out.
    tx: mpsc::UnboundedSender<DiscoveryEvent>,
    /// Port checks under way, by room.
    checks: JoinSet<(AdKey, bool)>,
    checking: HashSet<AdKey>,
    /// Rooms whose advert is being verified, or was confirmed in spite of a port that did not
    /// answer, with when they may be checked again.
    doubted: HashMap<AdKey, Instant>,
    /// Rooms that left the list because nobody answered for them, with when they left.
    missing: HashMap<AdKey, Instant>,
    /// When to browse for rooms again while some are missing.
    look_again: Backoff,
    /// When to ask the network afresh while some advert is incomplete.
    ask_again: Backoff,
    /// Times the network was asked afresh, counted with the queries sent.
    asked: u64,
    /// How mDNS fares, for [`Discovery::report`].
    counts: watch::Sender<MdnsCounts>,
    /// The daemon's counters, asked for and not yet told.
    metrics: Option<mdns_sd::Receiver<mdns_sd::Metrics>>,
}

impl<M: Mdns> Browser<M> {
    fn new(
        mdns: M,
        tx: mpsc::UnboundedSender<DiscoveryEvent>,
        counts: watch::Sender<MdnsCounts>,
    ) -> Self {
        Self {
            mdns,
            rooms: Rooms::default(),
            tx,
            checks: JoinSet::new(),
            checking: HashSet::new(),
            doubted: HashMap::new(),
            missing: HashMap::new(),
            look_again: Backoff::new(LOOK_AGAIN, LOOK_AGAIN_MAX),
            ask_again: Backoff::new(ASK_AGAIN, ASK_AGAIN_MAX),
            asked: 0,
            counts,
            metrics: None,
        }
    }

    /// Turns mDNS events into room events until the daemon shuts down.
    async fn run(
        mut self,
        mut browse: mdns_sd::Receiver<ServiceEvent>,
        mut asked: mpsc::UnboundedReceiver<Ask>,
    ) {
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let never = || Instant::now() + Duration::from_secs(24 * 3600);
        loop {
            let look_again = self.look_again.due();
            let ask_again = self.ask_again.due();
            let metrics = self.metrics.clone();
            tokio::select! {
                event = browse.recv_async() => match event {
                    Ok(event) => {
                        if !self.mdns(event, Instant::now()) {
                            break;
                        }
                    }
                    Err(_) => break,
                },
                _ = check.tick() => {
                    self.check_ports();
                    if self.metrics.is_none() {
                        self.metrics = self.mdns.metrics();
                    }
                }
                told = async { metrics?.recv_async().await.ok() }, if metrics.is_some() => {
                    self.metrics = None;
                    if let Some(told) = told {
                        self.counted(&told);
                    }
                }
                Some(Ok((key, answered))) = self.checks.join_next() => {
                    self.checking.remove(&key);
                    if !answered {
                        tracing::debug!("room {} does not answer; asking for its advert", key.id);
                        self.doubt(&key);
                    }
                }
                Some(ask) = asked.recv() => {
                    let keys: Vec<AdKey> = self.rooms.listed().into_iter().map(|(k, _)| k).filter(|k| match &ask {
                        Ask::Verify(id) => k.id == *id,
                        Ask::VerifyAll => true,
                    }).collect();
                    for key in keys {
                        self.doubt(&key);
                    }
                }
                _ = tokio::time::sleep_until(look_again.unwrap_or_else(never)), if look_again.is_some() => {
                    if let Some(fresh) = self.mdns.browse() {
                        browse = fresh;
                    }
                    self.look_again.tried(Instant::now());
                    self.forget_missing();
                }
                _ = tokio::time::sleep_until(ask_again.unwrap_or_else(never)), if ask_again.is_some() => {
                    self.ask_if_due(Instant::now());
                }
            }
        }
    }

    /// Keeps the daemon's counters that tell whether mDNS works.
    fn counted(&self, metrics: &mdns_sd::Metrics) {
        let count = |key: &str| metrics.get(key).copied().unwrap_or(0).max(0) as u64;
        let queries = count("browse") + count("cache-refresh-ptr") + self.asked;
        let answers = count("respond");
        let malformed = self.rooms.malformed;
        self.counts.send_if_modified(|counts| {
            let now = (queries, answers, malformed);
            let changed = (counts.queries, counts.answers, counts.malformed) != now;
            (counts.queries, counts.answers, counts.malformed) = now;
            changed
        });
    }

    /// Starts a port check of every listed room not doubted lately.
    fn check_ports(&mut self) {
        let now = Instant::now();
        self.doubted.retain(|_, until| *until > now);
        for (key, addrs) in self.rooms.listed() {
            if !self.doubted.contains_key(&key) && self.checking.insert(key.clone()) {
                self.checks.spawn(async move {
                    (key, crate::net::link::listening(&addrs, CHECK_LIMIT).await)
                });
            }
        }
    }

    /// Has mDNS ask for a room's adverts again; the ones nobody confirms within
    /// [`VERIFY_LIMIT`] are removed (and the room is reported lost, and looked for).
    fn doubt(&mut self, key: &AdKey) {
        self.doubted
            .insert(key.clone(), Instant::now() + CONFIRMED_QUIET);
        for name in self.rooms.instances(|ad| &ad.key() == key) {
            self.mdns.verify(name, VERIFY_LIMIT);
        }
    }

    /// Stops looking for rooms missing for longer than [`MISSING_FOR`], and for any once
    /// none is missing.
    fn forget_missing(&mut self) {
        let now = Instant::now();
        self.missing
            .retain(|_, since| now.duration_since(*since) < MISSING_FOR);
        if self.missing.is_empty() {
            self.look_again.stop();
        }
    }

    /// Asks the network afresh if some advert is still incomplete and the time has come.
    fn ask_if_due(&mut self, now: Instant) {
        if self.rooms.incomplete.is_empty() {
            return self.ask_again.stop();
        }
        if self.ask_again.due().is_some_and(|at| at <= now) {
            tracing::debug!(
                "{} advert(s) came without a usable TXT; asking the network afresh",
                self.rooms.incomplete.len()
            );
            self.mdns.ask_afresh();
            self.asked += 1;
            self.ask_again.tried(now);
        }
    }

    /// Acts on one mDNS event; false once nobody listens for rooms.
    fn mdns(&mut self, event: ServiceEvent, now: Instant) -> bool {
        let out = match event {
            ServiceEvent::ServiceResolved(svc) => self.rooms.advert(&svc),
            ServiceEvent::ServiceRemoved(_, fullname) => {
                self.rooms.removed(&fullname).into_iter().collect()
            }
            _ => Vec::new(),
        };
        if self.rooms.incomplete.is_empty() {
            self.ask_again.stop();
        } else {
            self.ask_again.start(now);
        }
        for event in &out {
            match event {
                DiscoveryEvent::Lost(key) => {
                    // Gone because nobody answered for it: it may come back unannounced.
                    if self.doubted.remove(key).is_some() {
                        self.missing.insert(key.clone(), now);
                        self.look_again.start(now);
                    }
                }
                DiscoveryEvent::Found(ad) => {
                    self.missing.remove(&ad.key());
                    if let Some(fp) = &ad.fingerprint {
                        self.counts
                            .send_if_modified(|counts| counts.hosts.insert(fp.clone()));
                    }
                }
            }
        }
        out.into_iter().all(|event| self.tx.send(event).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ad(id: &str, addr: &str) -> RoomAd {
        RoomAd {
            id: RoomId::parse(id).unwrap(),
            name: "Lab".into(),
            host: "Ada".into(),
            members: 1,
            locked: false,
            protocol: 1,
            addrs: vec![addr.parse().unwrap()],
            fingerprint: Some("AAAA-BBBB-CCCC-DDDD".into()),
        }
    }

    fn lost(id: &str) -> Option<DiscoveryEvent> {
        Some(DiscoveryEvent::Lost(AdKey {
            id: RoomId::parse(id).unwrap(),
            fingerprint: Some("AAAA-BBBB-CCCC-DDDD".into()),
        }))
    }

    #[test]
    fn one_room_on_two_instances_is_listed_once_and_lost_with_the_last() {
        let mut rooms = Rooms::default();
        rooms.resolved("a".into(), ad("r1", "10.0.0.1:5000"));
        let [DiscoveryEvent::Found(merged)] =
            &rooms.resolved("b".into(), ad("r1", "10.0.1.1:5000"))[..]
        else {
            panic!("expected a merged room");
        };
        assert_eq!(merged.addrs.len(), 2);
        assert!(
            matches!(rooms.removed("a"), Some(DiscoveryEvent::Found(ad)) if ad.addrs.len() == 1)
        );
        assert_eq!(rooms.removed("b"), lost("r1"));
        assert_eq!(rooms.removed("b"), None);

        // An instance that now carries another room: the old room is gone, the new found.
        rooms.resolved("c".into(), ad("r2", "10.0.0.3:5000"));
        let events = rooms.resolved("c".into(), ad("r3", "10.0.0.3:5000"));
        assert_eq!(Some(events[0].clone()), lost("r2"));
        assert!(matches!(&events[1], DiscoveryEvent::Found(ad) if ad.id.as_str() == "r3"));
    }

    #[test]
    fn one_room_id_claimed_by_two_keys_is_two_rooms() {
        let mut rooms = Rooms::default();
        rooms.resolved("a".into(), ad("r1", "10.0.0.1:5000"));
        let impostor = RoomAd {
            fingerprint: Some("ZZZZ-BBBB-CCCC-DDDD".into()),
            ..ad("r1", "10.0.0.66:5000")
        };
        let [DiscoveryEvent::Found(second)] = &rooms.resolved("b".into(), impostor)[..] else {
            panic!("expected the impostor as a room of its own");
        };
        assert_eq!(second.addrs, vec!["10.0.0.66:5000".parse().unwrap()]);
        assert!(
            matches!(rooms.removed("b"), Some(DiscoveryEvent::Lost(key)) if key.fingerprint.as_deref() == Some("ZZZZ-BBBB-CCCC-DDDD"))
        );
    }

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

    #[test]
    fn adverts_round_trip_through_txt_and_bad_txt_is_ignored() {
        let advert = Advert {
            id: RoomId::parse("abc123").unwrap(),
            name: "Ada's room".into(),
            host: "Ada".into(),
            port: 4242,
            members: 3,
            locked: true,
            fingerprint: "K7QF-M2XA-PL9D-3RTW".into(),
        };
        let info = service_info(&advert).unwrap();
        let mut svc = info.as_resolved_service();
        let parsed = parse_ad(&svc).unwrap();
        assert_eq!(
            (parsed.name.as_str(), parsed.members, parsed.locked),
            ("Ada's room", 3, true)
        );
        assert_eq!(parsed.protocol, crate::protocol::PROTOCOL_VERSION);
        assert_eq!(parsed.fingerprint.as_deref(), Some("K7QF-M2XA-PL9D-3RTW"));

        use mdns_sd::IntoTxtProperties;
        let absurd = [
            ("id", "abc123"),
            ("name", "x"),
            ("host", "y"),
            ("v", "1"),
            ("n", "9999999"),
            ("lock", "0"),
        ];
        svc.txt_properties = (&absurd[..]).into_txt_properties();
        assert_eq!(parse_ad(&svc), Err(BadAd::Malformed), "absurd member count");
        svc.txt_properties = mdns_sd::TxtProperties::new();
        assert_eq!(parse_ad(&svc), Err(BadAd::NoTxt), "no TXT at all");
    }

    /// Stands in for the network: counts what the browser asks of it.
    #[derive(Clone, Default)]
    struct Recorder {
        afresh: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Mdns for Recorder {
        fn verify(&self, _: String, _: Duration) {}
        fn browse(&self) -> Option<mdns_sd::Receiver<ServiceEvent>> {
            None
        }
        fn ask_afresh(&self) {
            self.afresh
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        fn metrics(&self) -> Option<mdns_sd::Receiver<mdns_sd::Metrics>> {
            None
        }
    }

    /// Issue 22: an answer that left the TXT out made the room unlisted for good.
    #[tokio::test]
    async fn an_advert_resolved_without_its_txt_is_asked_for_again_and_listed_once_it_comes() {
        let advert = Advert {
            id: RoomId::parse("abc123").unwrap(),
            name: "Lab".into(),
            host: "Ada".into(),
            port: 4242,
            members: 2,
            locked: false,
            fingerprint: "K7QF-M2XA-PL9D-3RTW".into(),
        };
        let whole = service_info(&advert).unwrap().as_resolved_service();
        let mut cut = whole.clone();
        cut.txt_properties = mdns_sd::TxtProperties::new();
        let resolved = |svc: &ResolvedService| ServiceEvent::ServiceResolved(Box::new(svc.clone()));

        let network = Recorder::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut browser = Browser::new(network.clone(), tx, watch::channel(Default::default()).0);
        let asks = || network.afresh.load(std::sync::atomic::Ordering::SeqCst);
        let t0 = Instant::now();
        assert!(browser.mdns(resolved(&cut), t0));
        assert!(rx.try_recv().is_err(), "nothing to list without the TXT");
        let first = browser
            .ask_again
            .due()
            .expect("the network is to be asked again");
        assert_eq!(first, t0 + ASK_AGAIN);

        // Not before it is due; then again and again, each wait twice the one before.
        browser.ask_if_due(first - Duration::from_millis(1));
        assert_eq!(asks(), 0);
        browser.ask_if_due(first);
        assert_eq!(asks(), 1);
        let second = browser.ask_again.due().unwrap();
        assert_eq!(second - first, ASK_AGAIN * 2);
        browser.ask_if_due(second);
        assert_eq!(asks(), 2);
        assert_eq!(browser.ask_again.due().unwrap() - second, ASK_AGAIN * 4);
        // Another incomplete answer does not start the waits over.
        assert!(browser.mdns(resolved(&cut), second));
        assert_eq!(browser.ask_again.due().unwrap() - second, ASK_AGAIN * 4);

        // The TXT comes: the room is listed, and nothing more is asked.
        assert!(browser.mdns(resolved(&whole), second));
        match rx.try_recv() {
            Ok(DiscoveryEvent::Found(ad)) => assert_eq!((ad.name.as_str(), ad.members), ("Lab", 2)),
            other => panic!("expected Lab listed, got {other:?}"),
        }
        assert_eq!(browser.ask_again.due(), None);
        browser.ask_if_due(second + ASK_AGAIN_MAX);
        assert_eq!(asks(), 2);

        // A listed room answered once more without its TXT stays listed while it is asked for.
        assert!(browser.mdns(resolved(&cut), second));
        assert!(rx.try_recv().is_err(), "still listed, unchanged");
        assert!(browser.ask_again.due().is_some());
        assert_eq!(
            browser.rooms.malformed, 0,
            "a missing TXT is not a malformed one"
        );

        // A TXT that is not a room's: dropped from the list, counted, and asked for again.
        use mdns_sd::IntoTxtProperties;
        let mut bad = whole.clone();
        bad.txt_properties = (&[("id", "abc123"), ("v", "x")][..]).into_txt_properties();
        assert!(browser.mdns(resolved(&bad), second));
        assert!(matches!(rx.try_recv(), Ok(DiscoveryEvent::Lost(_))));
        assert_eq!(browser.rooms.malformed, 1);
        assert!(browser.ask_again.due().is_some());
        // Malformed again and again: not asked about without end.
        for _ in 0..MALFORMED_ASKS {
            assert!(browser.mdns(resolved(&bad), second));
        }
        assert_eq!(browser.ask_again.due(), None, "given up on");
    }

    #[test]
    fn a_room_name_with_capitals_is_published_under_a_lower_case_instance() {
        // mdns-sd sends an announcement's second copy only for names already in lower case.
        let advert = Advert {
            id: RoomId::parse("abc123").unwrap(),
            name: "Büro LAB".into(),
            host: "Ada".into(),
            port: 4242,
            members: 1,
            locked: false,
            fingerprint: "K7QF-M2XA-PL9D-3RTW".into(),
        };
        let info = service_info(&advert).unwrap();
        assert_eq!(info.get_fullname(), info.get_fullname().to_lowercase());
        assert!(info.get_fullname().starts_with("büro lab [abc123]"));
        let parsed = parse_ad(&info.as_resolved_service()).unwrap();
        assert_eq!(parsed.name, "Büro LAB", "the TXT keeps the name as written");
    }
}
