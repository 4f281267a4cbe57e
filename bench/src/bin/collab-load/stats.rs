//! What one load run measured: op-to-echo latencies kept exactly (a run has
//! at most a few hundred thousand of them, so sorting beats a histogram's
//! rounding) and counts per second of the measured window.

use std::time::Duration;

/// Op-to-echo latencies, in microseconds.
#[derive(Default)]
pub struct Latencies {
    micros: Vec<u32>,
    sorted: bool,
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        self.micros.push(micros);
        self.sorted = false;
    }

    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
        self.sorted = false;
    }

    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// The `q` quantile (0 to 1) by the nearest-rank rule; `None` when empty.
    pub fn quantile(&mut self, q: f64) -> Option<Duration> {
        if self.micros.is_empty() {
            return None;
        }
        if !self.sorted {
            self.micros.sort_unstable();
            self.sorted = true;
        }
        let rank = (q * self.micros.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.micros.len()) - 1;
        Some(Duration::from_micros(u64::from(self.micros[index])))
    }

    pub fn max(&mut self) -> Option<Duration> {
        self.quantile(1.0)
    }
}

/// Events counted per whole second of the measured window.
#[derive(Clone, Default)]
pub struct PerSecond {
    counts: Vec<u64>,
    /// Every event, the trailing part-second's included.
    total: u64,
}

impl PerSecond {
    pub fn new(seconds: usize) -> PerSecond {
        PerSecond {
            counts: vec![0; seconds],
            total: 0,
        }
    }

    /// Counts one event `offset` into the window; a trailing part-second
    /// has no bucket, so every bucket covers a full second.
    pub fn count(&mut self, offset: Duration) {
        self.total += 1;
        if let Some(c) = self.counts.get_mut(offset.as_secs() as usize) {
            *c += 1;
        }
    }

    pub fn merge(&mut self, other: &PerSecond) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The slowest second: a steady rate has it close to the average.
    pub fn min(&self) -> Option<u64> {
        self.counts.iter().copied().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.quantile(0.5), Some(Duration::from_millis(50)));
        assert_eq!(l.quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(l.max(), Some(Duration::from_millis(100)));
        assert_eq!(Latencies::default().quantile(0.5), None);
    }

    #[test]
    fn per_second_buckets() {
        let mut a = PerSecond::new(2);
        a.count(Duration::from_millis(100));
        a.count(Duration::from_millis(1500));
        a.count(Duration::from_millis(2500));
        let mut b = PerSecond::new(2);
        b.count(Duration::from_millis(900));
        b.merge(&a);
        assert_eq!(b.counts, vec![2, 1]);
        assert_eq!(b.min(), Some(1));
        assert_eq!(b.total(), 4);
    }
}
