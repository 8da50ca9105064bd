//! The browse task: turns mDNS events into room events, checks every listed room's port,
//! doubts the adverts of rooms that stop answering, looks again for rooms gone missing, and
//! asks the network afresh for adverts that came without their TXT. While someone looks at
//! how mDNS fares (the diagnostics panel), it also has mDNS confirm every room's advert now
//! and then, so that "heard from" follows what reaches this device now, not minutes ago.

use super::mdns::Mdns;
use super::rooms::Rooms;
use super::{AdKey, DiscoveryEvent, MdnsCounts};
use crate::protocol::RoomId;
use mdns_sd::ServiceEvent;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

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

/// While someone looks, how often every listed room's advert is confirmed. mDNS itself asks
/// again only as a record nears its end (after 96 of its 120 s), so without this a network
/// that stopped carrying mDNS would look fine for two minutes.
const LISTEN_EVERY: Duration = Duration::from_secs(10);

/// What the browse task is asked to do.
pub(super) enum Ask {
    /// Someone looks at how mDNS fares (`true`) or no longer does: confirm the adverts now
    /// and then (see [`LISTEN_EVERY`]).
    Listen(bool),
    /// A member lost this room's host: check its advert.
    Verify(RoomId),
    /// The interfaces changed: check every room's advert (the ones only seen on interfaces
    /// no longer used go).
    VerifyAll,
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
pub(super) struct Browser<M: Mdns> {
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
    /// How mDNS fares, for [`Discovery::report`](super::Discovery::report).
    counts: watch::Sender<MdnsCounts>,
    /// The daemon's counters, asked for and not yet told.
    metrics: Option<mdns_sd::Receiver<mdns_sd::Metrics>>,
    /// Whether someone looks at how mDNS fares: adverts are confirmed now and then.
    listening: bool,
    /// The adverts being confirmed, and when the ones still listed count as heard.
    round: Option<(Instant, Vec<AdKey>)>,
    /// When the last round of confirming started.
    last_round: Option<Instant>,
}

impl<M: Mdns> Browser<M> {
    pub(super) fn new(
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
            listening: false,
            round: None,
            last_round: None,
        }
    }

    /// Turns mDNS events into room events until the daemon shuts down.
    pub(super) async fn run(
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
                    self.listen(Instant::now());
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
                    if let Ask::Listen(on) = ask {
                        self.listening = on;
                        self.listen(Instant::now());
                        continue;
                    }
                    let keys: Vec<AdKey> = self.rooms.listed().into_iter().map(|(k, _)| k).filter(|k| match &ask {
                        Ask::Verify(id) => k.id == *id,
                        Ask::VerifyAll | Ask::Listen(_) => true,
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

    /// While someone looks: ends a round of confirming adverts once mDNS has had its time
    /// (each still listed was heard: nobody answering would have removed it), and starts
    /// the next one when due.
    fn listen(&mut self, now: Instant) {
        if let Some((ends, _)) = &self.round
            && *ends <= now
            && let Some((_, keys)) = self.round.take()
        {
            let listed: HashSet<AdKey> = self.rooms.listed().into_iter().map(|(k, _)| k).collect();
            let heard = keys
                .into_iter()
                .filter(|k| listed.contains(k))
                .filter_map(|k| k.fingerprint);
            self.heard(heard, now);
        }
        let due = self.last_round.is_none_or(|at| now >= at + LISTEN_EVERY);
        if !self.listening || self.round.is_some() || !due {
            return;
        }
        let keys: Vec<AdKey> = self.rooms.listed().into_iter().map(|(k, _)| k).collect();
        for key in &keys {
            self.doubt(key);
        }
        self.last_round = Some(now);
        // A moment more than mDNS gives an advert to be confirmed: one not confirmed is
        // removed by then.
        self.round = Some((now + VERIFY_LIMIT + Duration::from_secs(1), keys));
    }

    /// The hosts with these fingerprints were heard from at `now`.
    fn heard(&self, fingerprints: impl Iterator<Item = String>, now: Instant) {
        let at = now.into_std();
        self.counts.send_if_modified(|counts| {
            let mut changed = false;
            for fp in fingerprints {
                changed |= counts.heard.insert(fp, at) != Some(at);
            }
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
                    self.heard(ad.fingerprint.iter().cloned(), now);
                }
            }
        }
        out.into_iter().all(|event| self.tx.send(event).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::Advert;
    use crate::discovery::advert::service_info;
    use crate::discovery::rooms::MALFORMED_ASKS;
    use mdns_sd::ResolvedService;
    use std::sync::Arc;

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

    /// Issue 19: "mDNS works" stayed on for minutes after mDNS stopped reaching the device.
    /// While someone looks, every advert is confirmed each [`LISTEN_EVERY`]: one still
    /// listed once mDNS had its time was heard then; one nobody confirmed is gone, and its
    /// host keeps the time it was last heard.
    #[tokio::test]
    async fn while_someone_looks_adverts_are_confirmed_and_the_ones_that_stay_count_as_heard() {
        let advert = |id: &str, fingerprint: &str| Advert {
            id: RoomId::parse(id).unwrap(),
            name: "Lab".into(),
            host: "Ada".into(),
            port: 4242,
            members: 2,
            locked: false,
            fingerprint: fingerprint.into(),
        };
        let (stays, goes) = (
            advert("stays1", "AAAA-AAAA-AAAA-AAAA"),
            advert("goes22", "BBBB-BBBB-BBBB-BBBB"),
        );
        let (tx, _rx) = mpsc::unbounded_channel();
        let (counted, counts) = watch::channel(MdnsCounts::default());
        let mut browser = Browser::new(Recorder::default(), tx, counted);
        let t0 = Instant::now();
        for ad in [&stays, &goes] {
            let svc = service_info(ad).unwrap().as_resolved_service();
            assert!(browser.mdns(ServiceEvent::ServiceResolved(Box::new(svc)), t0));
        }
        let heard = |fp: &str| counts.borrow().heard.get(fp).copied();
        assert_eq!(
            heard("AAAA-AAAA-AAAA-AAAA"),
            Some(t0.into_std()),
            "heard as it came"
        );

        // Nobody looks: nothing is confirmed.
        browser.listen(t0);
        assert!(browser.round.is_none());
        // Someone looks: a round starts at once; until it ends nothing is said.
        browser.listening = true;
        let t1 = t0 + Duration::from_secs(1);
        browser.listen(t1);
        let (ends, keys) = browser.round.clone().expect("a round of confirming");
        assert_eq!(keys.len(), 2);
        browser.listen(ends - Duration::from_millis(1));
        assert_eq!(heard("AAAA-AAAA-AAAA-AAAA"), Some(t0.into_std()));
        // One advert nobody confirmed is removed meanwhile; at the end the other was heard.
        let gone = service_info(&goes).unwrap().get_fullname().to_owned();
        let removed = ServiceEvent::ServiceRemoved(crate::discovery::SERVICE_TYPE.into(), gone);
        assert!(browser.mdns(removed, ends - Duration::from_millis(1)));
        browser.listen(ends);
        assert_eq!(heard("AAAA-AAAA-AAAA-AAAA"), Some(ends.into_std()));
        assert_eq!(
            heard("BBBB-BBBB-BBBB-BBBB"),
            Some(t0.into_std()),
            "still when last heard"
        );
        // The next round comes after LISTEN_EVERY, not before; none once nobody looks.
        browser.listen(t1 + LISTEN_EVERY - Duration::from_millis(1));
        assert!(browser.round.is_none());
        browser.listen(t1 + LISTEN_EVERY);
        assert!(browser.round.is_some());
        browser.round = None;
        browser.listening = false;
        browser.listen(t1 + LISTEN_EVERY * 3);
        assert!(browser.round.is_none());
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
}
