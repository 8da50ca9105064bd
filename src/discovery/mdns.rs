//! What the browse task asks of mdns-sd, behind a trait so that the task is tested without a
//! network; and the daemon on the interfaces chosen. mdns-sd never asks again for a TXT it
//! missed (issue 22): [`Network::ask_afresh`] works around that with a daemon of its own.

use super::SERVICE_TYPE;
use super::interfaces::picked;
use mdns_sd::{IfKind, IfPredicate, ServiceDaemon, ServiceEvent};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// An mDNS daemon on the interfaces chosen; it follows a new choice (see
/// [`Discovery::choose`](super::Discovery::choose)).
pub(super) fn daemon_on(
    chosen: &Arc<RwLock<Vec<String>>>,
) -> Result<ServiceDaemon, mdns_sd::Error> {
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

/// What the browse task asks of mDNS besides its events: a trait, so that the task's
/// decisions are tested without a network.
pub(super) trait Mdns: Send + 'static {
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
pub(super) struct Network {
    /// The daemon that browses, advertises and keeps the cache.
    pub(super) daemon: ServiceDaemon,
    /// The interfaces the user chose, for the daemon that asks afresh to use the same.
    pub(super) chosen: Arc<RwLock<Vec<String>>>,
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
