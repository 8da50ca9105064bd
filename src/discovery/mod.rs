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
//!
//! Where things live: `interfaces` picks the interfaces and says why each is used or
//! skipped (the diagnostics [`Report`]); `advert` turns our rooms into TXT records and
//! resolved ones back into [`RoomAd`]s; `rooms` is the list those adverts make; `browse` is
//! the task that keeps the list true (port checks, looking again for rooms gone missing,
//! asking afresh for a missing TXT); `mdns` is what that task asks of mdns-sd.

mod advert;
mod browse;
mod interfaces;
mod mdns;
mod rooms;

pub use advert::Advert;
pub use interfaces::{Interface, MdnsCounts, Report, Skip, is_virtual};

use crate::protocol::RoomId;
use advert::service_info;
use browse::{Ask, Browser};
use mdns::{Network, daemon_on};
use mdns_sd::{IfKind, IfPredicate, ServiceDaemon, ServiceInfo};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The DNS-SD service type of a lanchat room.
pub const SERVICE_TYPE: &str = "_lanchat._tcp.local.";

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

    /// Someone looks at how mDNS fares (the diagnostics panel), or no longer does: while
    /// they do, every room's advert is confirmed now and then, so the report says who was
    /// heard from lately ([`MdnsCounts::heard`]), not only who was heard from once.
    pub fn listen_closely(&self, on: bool) {
        let _ = self.asks.send(Ask::Listen(on));
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
