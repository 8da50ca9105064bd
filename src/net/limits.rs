//! What one machine or one member may take of a host, so nobody can lock the others out:
//! connections per address (in their handshake, transfers, in all), and what each key and
//! each machine may spend of the room (posts, bytes, history pages, joins), kept for as long
//! as the host runs so that new sessions refill nothing ([`Allowances`]).

use crate::protocol::DeviceId;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A host's limits, in one value so tests and benchmarks can change them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Connections in their handshake at once, from everyone: each holds a little memory
    /// until it proves itself.
    pub handshakes: usize,
    /// Connections in their handshake at once from one address: one machine cannot take
    /// every place.
    pub handshakes_per_address: usize,
    /// Connections open at once from one address, members and transfers together.
    pub connections_per_address: usize,
    /// File transfers at once, from everyone: each holds up to two pieces in memory.
    pub transfers: usize,
    /// File transfers at once from one address.
    pub transfers_per_address: usize,
    /// Bytes an upload must bring in each idle period (see
    /// [`crate::net::link::Timeouts::idle`]), so a trickle cannot hold a transfer place.
    pub min_upload_per_idle: u64,
    /// Posts per key (one person's device, over all its sessions): sustained messages per
    /// second, and how many may come at once. History pages, presence changes, renames and
    /// direct messages cost posts too.
    pub posts: Rate,
    /// Posts per key: sustained bytes of text per second, and how many at once.
    pub post_bytes: Rate,
    /// What all the keys of one machine together may spend: a machine that makes up keys
    /// gets no more than a few people's worth.
    pub machine_posts: Rate,
    /// The bytes of what all the keys of one machine post together.
    pub machine_post_bytes: Rate,
    /// Joins per key, and per machine: each join and leave is told to every member.
    pub joins: Rate,
    /// Joins of all the keys of one machine together.
    pub machine_joins: Rate,
    /// Member sessions one key may hold at once (a window, a `send`, one reconnecting).
    pub sessions_per_key: usize,
    /// Sessions only passing through (`lanchat send`) at once, from everyone: they take no
    /// member's place and hear none of the room.
    pub passing: usize,
    /// Bytes queued for one member before it counts as too slow and is dropped.
    pub member_queue_bytes: usize,
    /// Bytes queued for all the members of one machine together: past it, the one whose
    /// frame does not fit is dropped as too slow.
    pub machine_queue_bytes: usize,
    /// Bytes of posts one member may have held back while over its allowance.
    pub held_bytes: usize,
    /// Reads of the room's history from disk at once, for all its members together.
    pub history_readers: usize,
    /// The wait after the first wrong password from an address; it doubles with each
    /// further one, up to `password_wait_max`.
    pub password_wait: Duration,
    /// The longest wait between password tries from one address.
    pub password_wait_max: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshakes: 64,
            handshakes_per_address: 8,
            connections_per_address: 48,
            transfers: 16,
            transfers_per_address: 4,
            min_upload_per_idle: 64 * 1024,
            // A fast typist sends a few messages a second; a paste is one message.
            posts: Rate {
                per_second: 5.0,
                burst: 30.0,
            },
            post_bytes: Rate {
                per_second: 64.0 * 1024.0,
                burst: 1024.0 * 1024.0,
            },
            machine_posts: Rate {
                per_second: 15.0,
                burst: 90.0,
            },
            machine_post_bytes: Rate {
                per_second: 192.0 * 1024.0,
                burst: 3.0 * 1024.0 * 1024.0,
            },
            // Reconnecting after a dropped link is a join: a few in a row are fine.
            joins: Rate {
                per_second: 1.0 / 6.0,
                burst: 10.0,
            },
            machine_joins: Rate {
                per_second: 0.5,
                burst: 30.0,
            },
            sessions_per_key: 3,
            passing: 32,
            // A page of history (at most `store::PAGE_BYTES`) and live traffic beside it.
            member_queue_bytes: 4 * 1024 * 1024,
            machine_queue_bytes: 16 * 1024 * 1024,
            held_bytes: 1024 * 1024,
            history_readers: 2,
            password_wait: Duration::from_secs(1),
            password_wait_max: Duration::from_secs(600),
        }
    }
}

impl Limits {
    /// The default limits, with nothing metered of what members spend (posts, bytes, joins)
    /// or of what one machine's members may have queued: for tests and benchmarks whose many
    /// members all connect from this one machine.
    pub fn unmetered() -> Self {
        let unlimited = Rate {
            per_second: 1e12,
            burst: 1e12,
        };
        Self {
            posts: unlimited,
            post_bytes: unlimited,
            machine_posts: unlimited,
            machine_post_bytes: unlimited,
            joins: unlimited,
            machine_joins: unlimited,
            machine_queue_bytes: usize::MAX / 2,
            ..Self::default()
        }
    }
}

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// What comes back each second.
    pub per_second: f64,
    /// The most that may be spent at once.
    pub burst: f64,
}

/// A token bucket: spends at most `burst` at once, refilled at `per_second`.
#[derive(Debug)]
pub struct Bucket {
    rate: Rate,
    /// What may be spent now.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            tokens: rate.burst,
            at: Instant::now(),
        }
    }

    /// Whether `amount` could be spent now.
    pub fn can_take(&mut self, amount: f64) -> bool {
        self.wait_for(amount) == Duration::ZERO
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate.per_second;
        self.tokens = (self.tokens + refill).min(self.rate.burst);
        self.at = now;
    }

    /// How long until `amount` could be spent (zero: now).
    pub fn wait_for(&mut self, amount: f64) -> Duration {
        self.refill();
        let short = amount.min(self.rate.burst) - self.tokens;
        if short <= 0.0 {
            Duration::ZERO
        } else if self.rate.per_second <= 0.0 {
            Duration::from_secs(3600)
        } else {
            Duration::from_secs_f64(short / self.rate.per_second)
        }
    }

    /// Spends `amount` if there is that much; otherwise spends nothing. More than a burst
    /// is spent from a full bucket, into debt: it waits out the rest afterwards.
    pub fn take(&mut self, amount: f64) -> bool {
        self.refill();
        if self.tokens >= amount.min(self.rate.burst) {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}

/// Keys and machines remembered at most, each: past it, the one unused longest is forgotten
/// (with whatever it had spent; its machine's account still holds what the machine spent).
const REMEMBERED: usize = 4096;

/// What one key or one machine may still spend.
#[derive(Debug)]
struct Account {
    /// Posts, history pages, presence, typing, renames, direct messages (each a post or part).
    posts: Bucket,
    /// The bytes of what it posts.
    bytes: Bucket,
    /// Joins, coming back included.
    joins: Bucket,
    /// When it last spent anything, to forget the one unused longest.
    used: Instant,
}

impl Account {
    fn new(posts: Rate, bytes: Rate, joins: Rate) -> Self {
        Self {
            posts: Bucket::new(posts),
            bytes: Bucket::new(bytes),
            joins: Bucket::new(joins),
            used: Instant::now(),
        }
    }
}

/// Accounts by key or by machine, at most [`REMEMBERED`].
#[derive(Debug)]
struct Ledger<K> {
    /// One account per key or machine, at most [`REMEMBERED`].
    accounts: HashMap<K, Account>,
    /// What a new account starts with: posts, bytes and joins.
    rates: (Rate, Rate, Rate),
}

impl<K: Hash + Eq + Clone> Ledger<K> {
    fn new(posts: Rate, bytes: Rate, joins: Rate) -> Self {
        Self {
            accounts: HashMap::new(),
            rates: (posts, bytes, joins),
        }
    }

    fn account(&mut self, key: &K) -> &mut Account {
        if !self.accounts.contains_key(key) && self.accounts.len() >= REMEMBERED {
            let oldest = self
                .accounts
                .iter()
                .min_by_key(|(_, a)| a.used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.accounts.remove(&oldest);
            }
        }
        let (posts, bytes, joins) = self.rates;
        let account = self
            .accounts
            .entry(key.clone())
            .or_insert_with(|| Account::new(posts, bytes, joins));
        account.used = Instant::now();
        account
    }
}

/// How long a link between a key and an address is believed without being seen again: an
/// address handed to another machine (DHCP) stops counting as the old one's after this.
const LINKED_FOR: Duration = Duration::from_secs(3600);

/// What each key and each machine may still spend of a room, for as long as its host runs:
/// a key's posts, history pages and joins come out of its own account and its machine's, so
/// neither forty sessions of one key nor forty keys of one machine get forty allowances, and
/// leaving and coming back refills nothing. A machine is an address (see
/// [`crate::net::host::address_key`]); a key seen at a second address (a dual-stack machine,
/// IPv4 and IPv6) spends from the machine it was first seen at.
#[derive(Debug)]
pub struct Allowances {
    keys: Ledger<DeviceId>,
    machines: Ledger<IpAddr>,
    /// The address each key was last seen joining from first (its machine), and when: a
    /// second address of the key is linked to it.
    first_seen: HashMap<DeviceId, (IpAddr, Instant)>,
    /// Exact addresses that stand for another address's machine (the same key joined from
    /// both), and when that was last seen; forgotten after [`LINKED_FOR`].
    aliases: HashMap<IpAddr, (IpAddr, Instant)>,
}

impl Allowances {
    pub fn new(limits: &Limits) -> Self {
        Self {
            keys: Ledger::new(limits.posts, limits.post_bytes, limits.joins),
            machines: Ledger::new(
                limits.machine_posts,
                limits.machine_post_bytes,
                limits.machine_joins,
            ),
            first_seen: HashMap::new(),
            aliases: HashMap::new(),
        }
    }

    /// The machine `address` belongs to, as far as keys link addresses.
    pub fn machine(&self, address: IpAddr) -> IpAddr {
        match self.aliases.get(&address) {
            Some((machine, seen)) if seen.elapsed() < LINKED_FOR => *machine,
            _ => address,
        }
    }

    /// Links `address` to the machine `key` was first seen at (for [`LINKED_FOR`]).
    fn link(&mut self, key: &DeviceId, address: IpAddr) {
        let now = Instant::now();
        if self.first_seen.len() >= REMEMBERED && !self.first_seen.contains_key(key) {
            self.first_seen
                .retain(|_, (_, seen)| seen.elapsed() < LINKED_FOR);
            if self.first_seen.len() >= REMEMBERED {
                self.first_seen.clear();
            }
        }
        let first = match self.first_seen.get(key) {
            Some((first, seen)) if seen.elapsed() < LINKED_FOR => *first,
            _ => address,
        };
        self.first_seen.insert(key.clone(), (first, now));
        if first == address {
            return;
        }
        let machine = self.machine(first);
        if machine == address {
            return; // never an address standing for itself
        }
        if self.aliases.len() >= REMEMBERED && !self.aliases.contains_key(&address) {
            self.aliases
                .retain(|_, (_, seen)| seen.elapsed() < LINKED_FOR);
            if self.aliases.len() >= REMEMBERED {
                self.aliases.clear();
            }
        }
        self.aliases.insert(address, (machine, now));
    }

    /// A key joins from `address`: spends a join of the key's and of its machine's, or says
    /// how long until one is there. Links the address to the key's first machine.
    pub fn join(&mut self, key: &DeviceId, address: IpAddr) -> Result<(), Duration> {
        self.link(key, address);
        let machine = self.machine(address);
        let wait = self
            .keys
            .account(key)
            .joins
            .wait_for(1.0)
            .max(self.machines.account(&machine).joins.wait_for(1.0));
        if wait > Duration::ZERO {
            return Err(wait);
        }
        self.keys.account(key).joins.take(1.0);
        self.machines.account(&machine).joins.take(1.0);
        Ok(())
    }

    /// Spends `posts` posts of `bytes` bytes of a key at a machine, if both accounts allow;
    /// otherwise spends nothing.
    pub fn spend(&mut self, key: &DeviceId, machine: IpAddr, posts: f64, bytes: f64) -> bool {
        if self.wait(key, machine, posts, bytes) > Duration::ZERO {
            return false;
        }
        let account = self.keys.account(key);
        account.posts.take(posts);
        account.bytes.take(bytes);
        let account = self.machines.account(&machine);
        account.posts.take(posts);
        account.bytes.take(bytes);
        true
    }

    /// How long until `posts` posts of `bytes` bytes could be spent (zero: now).
    pub fn wait(&mut self, key: &DeviceId, machine: IpAddr, posts: f64, bytes: f64) -> Duration {
        let key = self.keys.account(key);
        let wait = key.posts.wait_for(posts).max(key.bytes.wait_for(bytes));
        let machine = self.machines.account(&machine);
        wait.max(machine.posts.wait_for(posts))
            .max(machine.bytes.wait_for(bytes))
    }
}

/// The connections still in their handshake, at most a number of them. When every place is
/// taken, a newcomer takes the place of the oldest unfinished handshake of the address
/// holding the most (told to give it up through its token): addresses that open connections
/// and say nothing cannot keep anyone out for longer than a handshake takes.
#[derive(Debug)]
pub struct Handshakes {
    /// The places taken, in no order.
    pending: Mutex<Vec<Pending>>,
    /// Places in all.
    cap: usize,
}

#[derive(Debug)]
struct Pending {
    /// Which place it is (see [`HandshakePlace`]).
    id: u64,
    /// Whose: places are taken from the address holding the most.
    address: IpAddr,
    /// When it was taken: the oldest goes first.
    since: Instant,
    /// Cancelled when its place is given to a newcomer.
    evict: tokio_util::sync::CancellationToken,
    /// Set once the connection has finished its key exchange (see [`HandshakePlace::spoke`]).
    spoke: Arc<std::sync::atomic::AtomicBool>,
}

impl Pending {
    fn spoke(&self) -> bool {
        self.spoke.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Numbers places, to find one again when it is given back.
static PLACES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Handshakes {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            pending: Mutex::default(),
            cap,
        })
    }

    /// A place for a connection from `address` until the returned place is dropped; `evict`
    /// is cancelled if the place is taken from it first.
    pub fn take(
        self: &Arc<Self>,
        address: IpAddr,
        evict: tokio_util::sync::CancellationToken,
    ) -> HandshakePlace {
        let mut pending = self.pending.lock().expect("handshakes");
        if pending.len() >= self.cap {
            let mut held: HashMap<IpAddr, usize> = HashMap::new();
            for p in pending.iter() {
                *held.entry(p.address).or_default() += 1;
            }
            // Silent connections go first: one that has shown its key is further along than
            // any flood of connections that say nothing, and is not starved by them.
            let silent = pending.iter().any(|p| !p.spoke());
            let candidates = || {
                pending
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| !silent || !p.spoke())
            };
            let most = candidates()
                .map(|(_, p)| held[&p.address])
                .max()
                .unwrap_or(0);
            let victim = candidates()
                .filter(|(_, p)| held[&p.address] == most)
                .min_by_key(|(_, p)| p.since)
                .map(|(i, _)| i);
            if let Some(victim) = victim {
                pending.swap_remove(victim).evict.cancel();
            }
        }
        let id = PLACES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let spoke = Arc::new(std::sync::atomic::AtomicBool::new(false));
        pending.push(Pending {
            id,
            address,
            since: Instant::now(),
            evict,
            spoke: spoke.clone(),
        });
        HandshakePlace {
            table: self.clone(),
            id,
            spoke,
        }
    }

    /// Handshakes under way.
    pub fn under_way(&self) -> usize {
        self.pending.lock().expect("handshakes").len()
    }
}

/// One connection's place among those in their handshake; given back when dropped.
#[derive(Debug)]
pub struct HandshakePlace {
    /// Where the place is given back.
    table: Arc<Handshakes>,
    /// Which place it is in the table.
    id: u64,
    /// Shared with the table's entry: the connection got past its silent start.
    spoke: Arc<std::sync::atomic::AtomicBool>,
}

impl HandshakePlace {
    /// The connection has finished its key exchange: it is taken from after silent ones.
    pub fn spoke(&self) {
        self.spoke.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for HandshakePlace {
    fn drop(&mut self) {
        let mut pending = self.table.pending.lock().expect("handshakes");
        if let Some(i) = pending.iter().position(|p| p.id == self.id) {
            pending.swap_remove(i);
        }
    }
}

/// Counts what each address holds, up to a cap per address.
#[derive(Debug)]
pub struct PerAddress {
    held: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

impl PerAddress {
    /// At most `max` at once per address.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            held: Mutex::default(),
            max,
        })
    }

    /// One more for `ip`, held until the returned place is dropped; `None` at the cap.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<AddressPlace> {
        let mut held = self.held.lock().expect("address counts");
        let count = held.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressPlace {
            counts: self.clone(),
            ip,
        })
    }
}

/// One place held by one address; given back when dropped.
#[derive(Debug)]
pub struct AddressPlace {
    counts: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for AddressPlace {
    fn drop(&mut self) {
        let mut held = self.counts.held.lock().expect("address counts");
        if let Some(count) = held.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(name: &str) -> DeviceId {
        DeviceId::parse(name).unwrap()
    }

    #[test]
    fn a_key_spends_one_allowance_over_all_its_sessions_and_returns() {
        let limits = Limits::default();
        let mut allowances = Allowances::new(&limits);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let burst = limits.posts.burst as usize;
        let spent = (0..burst * 3)
            .filter(|_| allowances.spend(&device("ann"), ip, 1.0, 10.0))
            .count();
        assert_eq!(spent, burst, "one burst, however the posts come");
        // Leaving and joining again refills nothing.
        allowances.join(&device("ann"), ip).unwrap();
        assert!(!allowances.spend(&device("ann"), ip, 1.0, 10.0));
        assert!(allowances.wait(&device("ann"), ip, 1.0, 10.0) > Duration::ZERO);
    }

    #[test]
    fn keys_made_up_on_one_machine_share_its_allowance() {
        let limits = Limits::default();
        let mut allowances = Allowances::new(&limits);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let spent = (0..100)
            .flat_map(|k| (0..40).map(move |_| k))
            .filter(|k| allowances.spend(&device(&format!("k{k}")), ip, 1.0, 10.0))
            .count();
        assert_eq!(spent, limits.machine_posts.burst as usize);
        let elsewhere: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(
            allowances.spend(&device("bob"), elsewhere, 1.0, 10.0),
            "others go on"
        );
    }

    #[test]
    fn joins_are_limited_per_key_and_a_second_address_of_a_key_is_its_machine() {
        let limits = Limits::default();
        let mut allowances = Allowances::new(&limits);
        let (v4, v6): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap());
        let ann = device("ann");
        let joined = (0..50)
            .filter(|_| allowances.join(&ann, v4).is_ok())
            .count();
        assert_eq!(joined, limits.joins.burst as usize);
        assert!(allowances.join(&ann, v4).unwrap_err() > Duration::from_secs(1));
        // The same key from its IPv6 address: the same machine, still out of joins.
        assert!(allowances.join(&ann, v6).is_err());
        assert_eq!(allowances.machine(v6), v4);
        let burst = limits.machine_posts.burst as usize;
        let spent = (0..burst)
            .filter(|i| allowances.spend(&device(&format!("k{i}")), v4, 1.0, 1.0))
            .count();
        assert_eq!(spent, burst);
        assert!(
            !allowances.spend(&device("other"), allowances.machine(v6), 1.0, 1.0),
            "its IPv6 address spends from the same machine"
        );
    }

    #[test]
    fn ipv6_addresses_of_one_lan_are_machines_of_their_own() {
        use crate::net::host::address_key;
        let (a, b): (IpAddr, IpAddr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
        assert_ne!(address_key(a), address_key(b), "one /64 is the whole LAN");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(address_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
        let limits = Limits::default();
        let mut allowances = Allowances::new(&limits);
        let burst = limits.machine_posts.burst as usize;
        let spent = (0..burst)
            .filter(|i| allowances.spend(&device(&format!("k{i}")), a, 1.0, 1.0))
            .count();
        assert_eq!(spent, burst);
        assert!(
            allowances.spend(&device("bob"), b, 1.0, 1.0),
            "a neighbour in the same prefix goes on"
        );
        // Mallory's key from a second address links that address, never Bob's.
        allowances.join(&device("mallory"), a).unwrap();
        allowances
            .join(&device("mallory"), "fd00::3".parse().unwrap())
            .unwrap();
        assert_eq!(allowances.machine("fd00::3".parse().unwrap()), a);
        assert_eq!(allowances.machine(b), b);
    }

    #[test]
    fn more_than_a_burst_is_spent_from_a_full_bucket_and_then_waited_out() {
        let mut bucket = Bucket::new(Rate {
            per_second: 10.0,
            burst: 10.0,
        });
        assert_eq!(bucket.wait_for(25.0), Duration::ZERO);
        assert!(bucket.take(25.0));
        assert!(!bucket.take(1.0), "in debt");
        let wait = bucket.wait_for(1.0);
        assert!(wait > Duration::from_millis(1500) && wait <= Duration::from_millis(1600));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let mut bucket = Bucket::new(Rate {
            per_second: 0.0,
            burst: 3.0,
        });
        assert!(bucket.take(1.0) && bucket.take(2.0));
        assert!(!bucket.take(1.0));
        let mut refilling = Bucket::new(Rate {
            per_second: 1e9,
            burst: 2.0,
        });
        assert!(refilling.take(2.0));
        std::thread::sleep(Duration::from_millis(1));
        assert!(refilling.take(2.0), "refilled, up to the burst");
    }

    #[test]
    fn when_every_handshake_place_is_taken_the_biggest_holder_gives_its_oldest_up() {
        use tokio_util::sync::CancellationToken;
        let table = Handshakes::new(4);
        let (flood, other): (IpAddr, IpAddr) =
            ("10.0.0.66".parse().unwrap(), "10.0.0.7".parse().unwrap());
        let tokens: Vec<CancellationToken> = (0..3).map(|_| CancellationToken::new()).collect();
        let mut places: Vec<HandshakePlace> = tokens
            .iter()
            .map(|t| table.take(flood, t.clone()))
            .collect();
        let first_other = CancellationToken::new();
        places.push(table.take(other, first_other.clone()));
        assert_eq!(table.under_way(), 4);
        // Full: the newcomer takes the flood's oldest place, not the other machine's.
        let newcomer = CancellationToken::new();
        let _kept = table.take(other, newcomer.clone());
        assert!(tokens[0].is_cancelled());
        assert!(!tokens[1].is_cancelled() && !first_other.is_cancelled());
        assert_eq!(table.under_way(), 4);
        // Places given back (their handshakes done) are free again; the evicted one's was
        // given away already.
        places.truncate(1);
        assert_eq!(table.under_way(), 1);
    }

    #[test]
    fn a_connection_that_spoke_is_not_starved_by_silent_ones_from_many_addresses() {
        use tokio_util::sync::CancellationToken;
        let table = Handshakes::new(3);
        let ada = CancellationToken::new();
        let ada_place = table.take("10.0.0.1".parse().unwrap(), ada.clone());
        ada_place.spoke();
        // One silent connection each from twenty addresses: Ada is the oldest, and stays.
        let mut silent = Vec::new();
        for i in 0..20u8 {
            let token = CancellationToken::new();
            silent.push((
                table.take(IpAddr::from([10, 0, 1, i]), token.clone()),
                token,
            ));
        }
        assert!(!ada.is_cancelled());
        assert_eq!(table.under_way(), 3);
        assert!(silent[..18].iter().all(|(_, t)| t.is_cancelled()));
    }

    #[test]
    fn each_address_has_its_own_cap() {
        let counts = PerAddress::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = counts.take(a).unwrap();
        let _second = counts.take(a).unwrap();
        assert!(counts.take(a).is_none());
        assert!(counts.take(b).is_some(), "another machine still gets in");
        drop(first);
        assert!(counts.take(a).is_some(), "a place given back is free again");
    }
}
