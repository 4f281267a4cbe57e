//! Runs the libraries over one trace: a checked warm-up, round-robin timed runs, an untimed memory pass.

use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::alloc::{self, Via};
use crate::libs::Subject;
use crate::trace::Trace;

pub struct Config {
    pub iters: usize,
    pub slow_iters: usize,
}

/// A warm-up slower than this (local + merge + load) puts a library in the
/// slow group, which gets `slow_iters` rounds after the others' rounds, so
/// the slowest library does not dominate the wall-clock time.
const SLOW_RUN: Duration = Duration::from_secs(1);

/// Median, min and max of one step's timed runs, in ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(samples: &[f64]) -> Option<Spread> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        let mid = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        };
        Some(Spread { median, min, max })
    }
}

/// Results of one (library, trace) pair; `None` means not applicable.
#[derive(Default)]
pub struct Row {
    pub library: &'static str,
    pub local: Option<Spread>,
    pub merge: Option<Spread>,
    pub load: Option<Spread>,
    pub encoded_bytes: Option<usize>,
    pub peak_mem: Option<usize>,
    /// Heap still held by the replayed document, to tell lasting size from
    /// transient peaks.
    pub retained_mem: Option<usize>,
    /// How many timed rounds the medians were taken over.
    pub runs: usize,
    pub ok: bool,
    /// Why `ok` is false.
    pub problems: Vec<String>,
    /// A library-specific remark.
    pub note: Option<String>,
}

/// One library's side of the comparison, type-erased so that the libraries
/// can take turns; each method runs the monomorphic code of one library.
pub trait Bench {
    fn name(&self) -> &'static str;
    /// Runs every step once, uncounted, checking the texts against
    /// `endContent` and keeping the saved form for the load runs; returns
    /// how long the three steps took.
    fn warm_up(&mut self) -> Duration;
    /// One timed local replay, merge and load.
    fn timed_run(&mut self);
    /// One untimed local replay with the counting allocator on.
    fn memory(&mut self);
    fn into_row(self: Box<Self>) -> Row;
}

pub type Factory = for<'t> fn(&'t Trace) -> Box<dyn Bench + 't>;

pub fn bench<L: Subject + 'static>(trace: &Trace) -> Box<dyn Bench + '_> {
    Box::new(Runner::<L> {
        trace,
        row: Row {
            library: L::NAME,
            ..Row::default()
        },
        saved: None,
        mergeable: false,
        failed: false,
        local: Vec::new(),
        merge: Vec::new(),
        load: Vec::new(),
        lib: PhantomData,
    })
}

struct Runner<'t, L> {
    trace: &'t Trace,
    row: Row,
    /// The warm-up's saved form, loaded by every timed run.
    saved: Option<Vec<u8>>,
    mergeable: bool,
    /// Set once the library errored or panicked; its later steps are skipped
    /// rather than timed on a broken state.
    failed: bool,
    local: Vec<f64>,
    merge: Vec<f64>,
    load: Vec<f64>,
    lib: PhantomData<fn() -> L>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn same_text(what: &str, got: &str, want: &str) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let at = got
        .chars()
        .zip(want.chars())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| got.chars().count().min(want.chars().count()));
    Err(format!(
        "{what} text differs from endContent: {} chars vs {} expected, first difference at char {at}",
        got.chars().count(),
        want.chars().count()
    ))
}

impl<L: Subject> Runner<'_, L> {
    /// A panicking library (ours is young) must not take the other rows down.
    fn guarded<T>(&mut self, step: impl FnOnce(&mut Self) -> Result<T, String>) -> Option<T> {
        if self.failed {
            return None;
        }
        let problem = match panic::catch_unwind(AssertUnwindSafe(|| step(self))) {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(e)) => e,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string payload".to_owned());
                format!("panicked: {message}")
            }
        };
        self.row.problems.push(problem);
        self.failed = true;
        None
    }

    /// A wrong text is recorded but the library is still timed, so the
    /// table shows how far off it is in speed as well.
    fn check(&mut self, result: Result<(), String>) {
        if let Err(e) = result {
            self.row.problems.push(e);
        }
    }

    fn try_warm_up(&mut self) -> Result<Duration, String> {
        let trace = self.trace;
        let end = &trace.end;
        let start = Instant::now();
        let mut doc = L::replay(trace)?;
        let mut spent = start.elapsed();
        let text = L::text(&mut doc);
        self.check(text.and_then(|t| same_text("local", &t, end)));
        self.row.note = L::note(&mut doc);

        if let Some(remote) = L::remote(&mut doc)? {
            self.mergeable = true;
            let start = Instant::now();
            let (replica, text) = L::merge(remote)?;
            spent += start.elapsed();
            drop(replica);
            self.check(same_text("merged", &text, end));
        }
        if let Some(bytes) = L::save(&mut doc)? {
            self.row.encoded_bytes = Some(bytes.len());
            let start = Instant::now();
            let (replica, text) = L::load(&bytes)?;
            spent += start.elapsed();
            drop(replica);
            self.check(same_text("loaded", &text, end));
            self.saved = Some(bytes);
        }
        Ok(spent)
    }

    /// Outputs are dropped only after the clock is read, so no drop is timed.
    fn try_timed_run(&mut self) -> Result<(), String> {
        let start = Instant::now();
        let mut doc = L::replay(self.trace)?;
        self.local.push(ms(start.elapsed()));

        if self.mergeable {
            let remote = L::remote(&mut doc)?.ok_or("remote vanished")?;
            // Freed first so the merge does not run beside a second full document.
            drop(doc);
            let start = Instant::now();
            let replica = L::merge(remote)?;
            self.merge.push(ms(start.elapsed()));
            drop(replica);
        } else {
            drop(doc);
        }
        if let Some(bytes) = &self.saved {
            let start = Instant::now();
            let replica = L::load(bytes)?;
            self.load.push(ms(start.elapsed()));
            drop(replica);
        }
        Ok(())
    }

    fn try_memory(&mut self) -> Result<(), String> {
        let window = alloc::Window::open();
        let doc = L::replay(self.trace)?;
        self.row.peak_mem = Some(window.peak());
        self.row.retained_mem = Some(window.current());
        drop(window);
        drop(doc);
        Ok(())
    }
}

impl<L: Subject> Bench for Runner<'_, L> {
    fn name(&self) -> &'static str {
        L::NAME
    }

    fn warm_up(&mut self) -> Duration {
        self.guarded(Self::try_warm_up).unwrap_or_default()
    }

    fn timed_run(&mut self) {
        self.guarded(Self::try_timed_run);
    }

    fn memory(&mut self) {
        self.guarded(Self::try_memory);
    }

    fn into_row(self: Box<Self>) -> Row {
        let mut row = self.row;
        row.local = Spread::of(&self.local);
        row.merge = Spread::of(&self.merge);
        row.load = Spread::of(&self.load);
        row.runs = self.local.len();
        row.ok = row.problems.is_empty();
        row
    }
}

/// The order of round `round` over `len` libraries: a rotation, so that no
/// library always runs first, on whatever state the previous round left.
fn rotation(len: usize, round: usize) -> impl Iterator<Item = usize> {
    (0..len).map(move |k| (round + k) % len)
}

fn rounds(benches: &mut [Box<dyn Bench + '_>], group: &[usize], count: usize) {
    if group.is_empty() {
        return;
    }
    let names: Vec<&str> = group.iter().map(|&i| benches[i].name()).collect();
    eprintln!("  {count} round(s) of {}", names.join(", "));
    for round in 0..count {
        for k in rotation(group.len(), round) {
            benches[group[k]].timed_run();
        }
    }
}

/// Measures every library on `trace` and returns one row each, in the
/// order given.
pub fn compare(trace: &Trace, libs: &[(&'static str, Factory)], config: &Config) -> Vec<Row> {
    let mut benches: Vec<Box<dyn Bench + '_>> = libs.iter().map(|(_, make)| make(trace)).collect();
    let mut fast = Vec::new();
    let mut slow = Vec::new();
    for (i, bench) in benches.iter_mut().enumerate() {
        eprintln!("  warm-up {}", bench.name());
        if bench.warm_up() > SLOW_RUN {
            slow.push(i);
        } else {
            fast.push(i);
        }
    }
    rounds(&mut benches, &fast, config.iters);
    rounds(&mut benches, &slow, config.iters.min(config.slow_iters));
    eprintln!("  memory pass");
    for bench in &mut benches {
        bench.memory();
    }
    benches.into_iter().map(Bench::into_row).collect()
}

pub const ALLOC_ROUNDS: usize = 15;

/// Per alloc+free pair: `System` directly, the counting allocator with
/// counting off (as in the timed runs) and on (as in the memory pass).
/// The three take turns, like the libraries, so drift hits all alike.
pub fn allocator_cost() -> [Spread; 3] {
    const PAIRS: u32 = 200_000;
    let vias = [Via::System, Via::CountingOff, Via::CountingOn];
    let mut samples = [const { Vec::new() }; 3];
    for round in 0..ALLOC_ROUNDS {
        for k in rotation(vias.len(), round) {
            samples[k].push(alloc::alloc_free_ns(vias[k], PAIRS));
        }
    }
    samples.map(|s| Spread::of(&s).expect("ALLOC_ROUNDS is not zero"))
}

#[cfg(test)]
mod tests {
    use super::{Spread, rotation};

    #[test]
    fn spread_takes_median_min_and_max() {
        assert_eq!(Spread::of(&[]), None);
        let odd = Spread::of(&[5.0, 1.0, 3.0]).expect("samples");
        assert_eq!((odd.median, odd.min, odd.max), (3.0, 1.0, 5.0));
        let even = Spread::of(&[4.0, 1.0, 2.0, 9.0]).expect("samples");
        assert_eq!((even.median, even.min, even.max), (3.0, 1.0, 9.0));
    }

    #[test]
    fn every_library_leads_one_round_in_turn() {
        let order = |round| rotation(3, round).collect::<Vec<_>>();
        assert_eq!(order(0), [0, 1, 2]);
        assert_eq!(order(1), [1, 2, 0]);
        assert_eq!(order(2), [2, 0, 1]);
        assert_eq!(order(3), [0, 1, 2]);
    }
}
