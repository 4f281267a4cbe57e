//! Abuse limits, each with an explicit answer (`docs/security.md`): a
//! connection's operation and byte rates ([`ConnLimiter`]: `rate_limited`
//! with a retry-after, the connection kept), and per client address the
//! open WebSockets and the WebSocket upgrades (each one `hello` attempt)
//! per minute ([`AddressLimits`]: HTTP 429 with `Retry-After`, before any
//! work is spent on the connection).
//!
//! All of them are token buckets that may go into debt: a message is let
//! through while the bucket holds anything at all, however large it is,
//! so that a single message bigger than the burst still passes once, and
//! the debt then holds back what follows until it is paid. The average
//! rate stays bounded either way.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Config;

/// "Anything at all" in a bucket: small, but large enough that the wait
/// computed for it, rounded up, does get there.
const ANY: f64 = 1e-6;

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Clone, Debug)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            last: now,
            rate,
            burst,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// How long until the bucket holds `need`, `None` when it does now.
    /// Rounded up to the millisecond, so that a retry after it finds
    /// enough rather than almost enough.
    fn wait(&mut self, now: Instant, need: f64) -> Option<Duration> {
        self.refill(now);
        if self.tokens >= need {
            return None;
        }
        let ms = ((need - self.tokens) / self.rate * 1000.0).ceil();
        Some(Duration::from_millis(ms as u64))
    }

    fn take(&mut self, n: f64) {
        self.tokens -= n;
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// A bucket, or none when its limit is off (a rate of 0).
fn bucket(rate: u64, burst: u64, now: Instant) -> Option<Bucket> {
    (rate > 0).then(|| Bucket::new(rate as f64, burst.max(1) as f64, now))
}

/// One connection's operation and byte rates.
pub struct ConnLimiter {
    ops: Option<Bucket>,
    bytes: Option<Bucket>,
}

impl ConnLimiter {
    pub fn new(config: &Config) -> ConnLimiter {
        let now = Instant::now();
        ConnLimiter {
            ops: bucket(config.op_rate, config.op_burst, now),
            bytes: bucket(config.byte_rate, config.byte_burst, now),
        }
    }

    /// Charges an `op` message of `ops` operations and `bytes` bytes, or
    /// says how long to wait; a refused message is not charged.
    pub fn admit(&mut self, ops: usize, bytes: usize) -> Result<(), Duration> {
        let now = Instant::now();
        let wait = [self.ops.as_mut(), self.bytes.as_mut()]
            .into_iter()
            .flatten()
            // Anything at all lets a message through (see the module doc).
            .filter_map(|b| b.wait(now, ANY))
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        if let Some(b) = &mut self.ops {
            b.take(ops as f64);
        }
        if let Some(b) = &mut self.bytes {
            b.take(bytes as f64);
        }
        Ok(())
    }
}

/// What a client address is counted as: an IPv4 address, or an IPv6 /64
/// (one host usually holds a whole /64, and could otherwise take a fresh
/// address for every connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct AddressKey(u128);

impl AddressKey {
    fn of(ip: IpAddr) -> AddressKey {
        match ip {
            IpAddr::V4(v4) => AddressKey(u32::from(v4) as u128),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey(u32::from(v4) as u128),
                None => AddressKey((u128::from(v6) & !((1u128 << 64) - 1)) | 1 << 32),
            },
        }
    }
}

struct Entry {
    open: usize,
    upgrades: Option<Bucket>,
}

/// Why an upgrade from an address was refused, and when to come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressRefusal {
    /// For the metrics and the body: `connections_per_ip` or `hellos_per_ip`.
    pub reason: &'static str,
    pub retry_after: Duration,
}

/// Per-address counts, shared by the whole relay. A `std` mutex: it is
/// held for a map lookup and never across an `.await`.
pub struct AddressLimits {
    max_open: usize,
    per_minute: u64,
    entries: Mutex<Entries>,
}

struct Entries {
    map: HashMap<AddressKey, Entry>,
    /// The map's size at which idle entries are swept next.
    sweep_at: usize,
}

/// Entries kept before the first sweep of idle ones.
const SWEEP_FLOOR: usize = 1024;

impl AddressLimits {
    pub fn new(config: &Config) -> Arc<AddressLimits> {
        Arc::new(AddressLimits {
            max_open: config.max_connections_per_ip,
            per_minute: config.hellos_per_ip_per_minute,
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                sweep_at: SWEEP_FLOOR,
            }),
        })
    }

    /// Counts an upgrade from `ip`; the guard counts it as open until
    /// dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<AddressGuard, AddressRefusal> {
        let key = AddressKey::of(ip);
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.map.len() >= entries.sweep_at {
            // Addresses with nothing open and nothing owed are forgotten,
            // so that the map holds only the active ones; sweeping when it
            // doubled keeps the cost per upgrade constant.
            entries
                .map
                .retain(|_, e| e.open > 0 || e.upgrades.as_mut().is_some_and(|b| !b.is_full(now)));
            entries.sweep_at = (entries.map.len() * 2).max(SWEEP_FLOOR);
        }
        let per_minute = self.per_minute;
        let entry = entries.map.entry(key).or_insert_with(|| Entry {
            open: 0,
            upgrades: bucket(per_minute, per_minute, now).map(|mut b| {
                b.rate /= 60.0;
                b
            }),
        });
        // An upgrade costs one whole token: no debt per address.
        if let Some(wait) = entry.upgrades.as_mut().and_then(|b| b.wait(now, 1.0)) {
            return Err(AddressRefusal {
                reason: "hellos_per_ip",
                retry_after: wait,
            });
        }
        if self.max_open > 0 && entry.open >= self.max_open {
            return Err(AddressRefusal {
                reason: "connections_per_ip",
                retry_after: Duration::from_secs(1),
            });
        }
        if let Some(b) = &mut entry.upgrades {
            b.take(1.0);
        }
        entry.open += 1;
        Ok(AddressGuard {
            limits: self.clone(),
            key,
        })
    }

    /// Addresses tracked now (for tests of the sweep).
    pub fn tracked(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.map.len())
    }
}

/// One open WebSocket of an address.
pub struct AddressGuard {
    limits: Arc<AddressLimits>,
    key: AddressKey,
}

impl Drop for AddressGuard {
    fn drop(&mut self) {
        let mut entries = self
            .limits
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.map.get_mut(&self.key) {
            entry.open = entry.open.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_lets_a_burst_through_then_the_rate() {
        let now = Instant::now();
        let mut b = Bucket::new(10.0, 3.0, now);
        for _ in 0..3 {
            assert_eq!(b.wait(now, ANY), None);
            b.take(1.0);
        }
        assert_eq!(
            b.wait(now, ANY),
            Some(Duration::from_millis(1)),
            "empty: wait until it is positive"
        );
        tokio::time::advance(Duration::from_millis(101)).await;
        assert_eq!(
            b.wait(Instant::now(), 1.0),
            None,
            "one token back after 100 ms"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_larger_than_the_burst_passes_once_and_its_debt_holds_the_next() {
        let mut config = Config::for_tests();
        config.op_rate = 100;
        config.op_burst = 10;
        config.byte_rate = 0;
        let mut limiter = ConnLimiter::new(&config);
        assert_eq!(limiter.admit(50, 0), Ok(()));
        let wait = limiter.admit(1, 0).expect_err("in debt by 40 ops");
        assert_eq!(
            wait,
            Duration::from_millis(401),
            "40 ops at 100/s, rounded up"
        );
        tokio::time::advance(wait).await;
        assert_eq!(limiter.admit(1, 0), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_is_capped_in_open_connections_and_upgrades_per_minute() {
        let mut config = Config::for_tests();
        config.max_connections_per_ip = 2;
        config.hellos_per_ip_per_minute = 3;
        let limits = AddressLimits::new(&config);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = limits.admit(ip).unwrap();
        let _b = limits.admit(ip).unwrap();
        let full = limits.admit(ip).err().unwrap();
        assert_eq!(full.reason, "connections_per_ip");
        assert!(
            limits.admit("10.0.0.2".parse().unwrap()).is_ok(),
            "another address"
        );
        drop(a);
        let _c = limits.admit(ip).unwrap();
        drop(_c);
        let rate = limits.admit(ip).err().unwrap();
        assert_eq!(rate.reason, "hellos_per_ip");
        assert_eq!(rate.retry_after, Duration::from_secs(20), "3 a minute");
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(limits.admit(ip).is_ok(), "one upgrade back every 20 s");
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddressKey::of(a), AddressKey::of(b));
        assert_ne!(AddressKey::of(a), AddressKey::of(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(
            AddressKey::of(mapped),
            AddressKey::of("10.0.0.1".parse().unwrap())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_addresses_are_forgotten() {
        let mut config = Config::for_tests();
        config.hellos_per_ip_per_minute = 60;
        let limits = AddressLimits::new(&config);
        for i in 0..SWEEP_FLOOR as u32 {
            drop(limits.admit(IpAddr::from(i.to_be_bytes())).unwrap());
        }
        tokio::time::advance(Duration::from_secs(2)).await;
        drop(limits.admit("10.9.9.9".parse().unwrap()).unwrap());
        assert_eq!(limits.tracked(), 1, "the refilled ones were swept");
    }
}
