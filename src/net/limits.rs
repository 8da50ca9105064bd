//! What one machine or one member may take of a host, so nobody can lock the others out:
//! connections per address (in their handshake, transfers, in all), and posts per member
//! (messages and bytes per second, with a burst for a person pasting a log).

use std::collections::HashMap;
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
    /// Posts per member: sustained messages per second, and how many may come at once.
    pub posts: Rate,
    /// Posts per member: sustained bytes of text per second, and how many at once.
    pub post_bytes: Rate,
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
            password_wait: Duration::from_secs(1),
            password_wait_max: Duration::from_secs(600),
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
        self.refill();
        self.tokens >= amount
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
        if self.tokens >= amount {
            Duration::ZERO
        } else if self.rate.per_second <= 0.0 {
            Duration::from_secs(3600)
        } else {
            let short = amount.min(self.rate.burst) - self.tokens;
            Duration::from_secs_f64(short / self.rate.per_second)
        }
    }

    /// Spends `amount` if there is that much; otherwise spends nothing.
    pub fn take(&mut self, amount: f64) -> bool {
        self.refill();
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
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
