//! The room list: adverts per instance name in, rooms found and lost out, one room per id
//! and claimed key.

use super::advert::{BadAd, parse_ad};
use super::{AdKey, DiscoveryEvent, RoomAd};
use mdns_sd::ResolvedService;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

/// Tracks adverts per instance name and reports them per room id and claimed key: a room seen
/// under two names or on two interfaces is one room with the union of its addresses, but one
/// room id claimed by two keys is two rooms.
#[derive(Default)]
pub(super) struct Rooms {
    /// Parsed advert per DNS-SD instance full name.
    by_instance: HashMap<String, RoomAd>,
    /// Instances last resolved without a usable TXT: the network is asked for them again
    /// (mDNS itself never asks for a missing TXT, and a room must not stay unlisted for it).
    pub(super) incomplete: HashSet<String>,
    /// Adverts this run whose TXT was not a room's, for the diagnostics panel.
    pub(super) malformed: u64,
    /// How often each instance came malformed: one cut short is asked for again, but one that
    /// is simply not a room's is not asked about forever (see [`MALFORMED_ASKS`]).
    malformed_times: HashMap<String, u32>,
}

/// Times a malformed advert is asked for again at most.
pub(super) const MALFORMED_ASKS: u32 = 3;

impl Rooms {
    /// An instance resolved, with or without a usable TXT: what changes in the list. One
    /// without its TXT leaves the list as it was (a listed room stays listed) until it comes;
    /// a malformed one is dropped, and asked for again too (it may have been cut short).
    pub(super) fn advert(&mut self, svc: &ResolvedService) -> Vec<DiscoveryEvent> {
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
    pub(super) fn resolved(&mut self, fullname: String, ad: RoomAd) -> Vec<DiscoveryEvent> {
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
    pub(super) fn instances(&self, which: impl Fn(&RoomAd) -> bool) -> Vec<String> {
        self.by_instance
            .iter()
            .filter(|(_, ad)| which(ad))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Every room listed, with all its addresses.
    pub(super) fn listed(&self) -> Vec<(AdKey, Vec<SocketAddr>)> {
        let mut rooms: BTreeMap<AdKey, Vec<SocketAddr>> = BTreeMap::new();
        for ad in self.by_instance.values() {
            rooms.entry(ad.key()).or_default().extend(&ad.addrs);
        }
        rooms.into_iter().collect()
    }

    pub(super) fn removed(&mut self, fullname: &str) -> Option<DiscoveryEvent> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::RoomId;

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
}
