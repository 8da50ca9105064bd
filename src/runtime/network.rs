//! The network as discovery sees it: rooms found and lost (redialling our sessions where
//! their rooms are seen now), and the status line of interfaces and problems.

use super::Runtime;
use crate::bridge::{Event, NetStatus};
use crate::discovery::{Discovery, DiscoveryConfig, DiscoveryEvent};
use crate::protocol::RoomId;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the interface list is re-read for the status line.
pub(super) const INTERFACE_POLL: Duration = Duration::from_secs(5);

impl Runtime {
    /// Starts discovery, if it is on, on the interfaces chosen: `--interface` decides for
    /// this run, else the choice made in the window. Returns the rooms it finds and loses; if
    /// it cannot start, the status line says so.
    pub(super) fn start_discovery(
        &mut self,
        config: Option<DiscoveryConfig>,
    ) -> Option<mpsc::UnboundedReceiver<DiscoveryEvent>> {
        let mut config = config?;
        if config.interfaces.is_empty() {
            config.interfaces = self.prefs.settings().interfaces.clone();
        }
        self.interfaces = Some(config.interfaces.clone());
        match Discovery::start(config) {
            Ok((discovery, found)) => {
                self.discovery = Some(discovery);
                Some(found)
            }
            Err(e) => {
                self.status.problem = Some(format!(
                    "{e}. Rooms on the network cannot be found; you can still join one by address."
                ));
                None
            }
        }
    }

    /// Tells the front end of a room found or lost; a room we are in, seen somewhere new,
    /// is redialled there.
    pub(super) fn discovered(&mut self, event: DiscoveryEvent) {
        match event {
            DiscoveryEvent::Found(ad) => {
                // Our own rooms are reached over loopback; others are redialled where seen,
                // unless the advert names another key than the one pinned (an impostor, or
                // a new host the user has not trusted): the session is not sent there.
                let pinned = self.trust.pin(&ad.id).map(|p| p.key.fingerprint());
                let same_host = pinned.is_none() || pinned == ad.fingerprint;
                if let Some(session) = self.sessions.get(&ad.id)
                    && !self.hosts.contains_key(&ad.id)
                    && same_host
                {
                    session.redial(ad.addrs.clone());
                    self.room_addrs.insert(ad.id.clone(), ad.addrs.clone());
                }
                self.events.send(Event::RoomFound(ad));
            }
            DiscoveryEvent::Lost(key) => self.events.send(Event::RoomLost(key)),
        }
    }

    /// Re-reads the interfaces and discovery's health; tells the front end when the status
    /// line changed.
    pub(super) fn refresh_status(&mut self) {
        let report = match (&self.discovery, &self.interfaces) {
            (Some(discovery), _) => discovery.report(),
            (None, Some(chosen)) => crate::discovery::Report::survey(chosen, None),
            (None, None) => Default::default(),
        };
        let mut status = NetStatus {
            interfaces: report.status_line(),
            discovery: self.discovery.is_some(),
            problem: self.status.problem.clone(),
            report,
        };
        // The problem of having no interface to look on comes and goes with the interfaces;
        // another (mDNS not starting) stays.
        let trouble = status.report.trouble().filter(|_| status.discovery);
        if trouble.is_some() {
            status.problem = trouble;
        } else if status.problem.is_some()
            && status.problem
                == self
                    .status
                    .report
                    .trouble()
                    .filter(|_| self.status.discovery)
        {
            status.problem = None;
        }
        if status != self.status {
            self.status = status;
            self.events.send(Event::Network(self.status.clone()));
        }
    }

    /// The user looks at how the network fares, or no longer does.
    pub(super) fn diagnosing(&self, on: bool) {
        if let Some(discovery) = &self.discovery {
            discovery.listen_closely(on);
        }
    }

    /// A session's host vanished: its advert may outlive the host by minutes, so discovery
    /// checks it (unless it is a room we host).
    pub(super) fn host_gone(&self, room: &RoomId) {
        if let Some(discovery) = &self.discovery
            && !self.hosts.contains_key(room)
        {
            discovery.verify(room);
        }
    }
}
