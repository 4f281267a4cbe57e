//! Runs one library over one trace: timed medians, peak heap, sizes and text checks.

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::alloc;
use crate::libs::Subject;
use crate::trace::Trace;

pub struct Config {
    pub iters: usize,
    pub slow_iters: usize,
}

/// A single run slower than this caps the iteration count at `slow_iters`,
/// so the slowest library does not dominate the wall-clock time.
const SLOW_RUN: Duration = Duration::from_secs(1);

/// Results of one (library, trace) pair; `None` means not applicable.
#[derive(Default)]
pub struct Row {
    pub library: &'static str,
    pub local_ms: Option<f64>,
    pub merge_ms: Option<f64>,
    pub load_ms: Option<f64>,
    pub encoded_bytes: Option<usize>,
    pub peak_mem: Option<usize>,
    /// Heap still held by the replayed document, to tell lasting size from
    /// transient peaks.
    pub retained_mem: Option<usize>,
    /// How many local replays the median was taken over.
    pub runs: usize,
    pub ok: bool,
    /// Why `ok` is false.
    pub problems: Vec<String>,
    /// A library-specific remark.
    pub note: Option<String>,
}

/// Median wall time of a measured step, how many runs it took, and the
/// last run's output (kept so later steps can reuse it untimed).
struct Timed<O> {
    median_ms: f64,
    runs: usize,
    last: O,
}

/// Times `f` until enough runs were made. `prepare` builds each run's input
/// outside the timed region; `check` inspects the first run's output, and a
/// failed check is recorded in `problems` without stopping the measurement.
fn timed<I, O>(
    config: &Config,
    problems: &mut Vec<String>,
    mut prepare: impl FnMut() -> Result<I, String>,
    mut f: impl FnMut(I) -> Result<O, String>,
    mut check: impl FnMut(&mut O) -> Result<(), String>,
) -> Result<Timed<O>, String> {
    let mut times = Vec::new();
    let mut wanted = config.iters.max(1);
    loop {
        let input = prepare()?;
        let start = Instant::now();
        let mut out = f(input)?;
        let elapsed = start.elapsed();
        if times.is_empty() {
            if let Err(e) = check(&mut out) {
                problems.push(e);
            }
            if elapsed > SLOW_RUN {
                wanted = wanted.min(config.slow_iters.max(1));
            }
        }
        times.push(elapsed.as_secs_f64() * 1e3);
        if times.len() >= wanted {
            times.sort_by(f64::total_cmp);
            let mid = times.len() / 2;
            let median_ms = if times.len() % 2 == 0 {
                (times[mid - 1] + times[mid]) / 2.0
            } else {
                times[mid]
            };
            return Ok(Timed {
                median_ms,
                runs: times.len(),
                last: out,
            });
        }
    }
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

pub fn run<L: Subject>(trace: &Trace, config: &Config) -> Row {
    let mut row = Row {
        library: L::NAME,
        ..Row::default()
    };
    // A panicking library (ours is young) must not take the other rows down.
    match panic::catch_unwind(AssertUnwindSafe(|| fill::<L>(trace, config, &mut row))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => row.problems.push(e),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string payload".to_owned());
            row.problems.push(format!("panicked: {message}"));
        }
    }
    row.ok = row.problems.is_empty();
    row
}

fn fill<L: Subject>(trace: &Trace, config: &Config, row: &mut Row) -> Result<(), String> {
    // Only the first replay's peak is kept: every replay allocates the same,
    // give or take hash-map seeds.
    let mut memory = None;
    let local = timed(
        config,
        &mut row.problems,
        || Ok(alloc::reset_peak()),
        |baseline| {
            let doc = L::replay(trace)?;
            memory.get_or_insert_with(|| {
                (
                    alloc::peak() - baseline,
                    alloc::current().saturating_sub(baseline),
                )
            });
            Ok(doc)
        },
        |doc| L::text(doc).and_then(|t| same_text("local", &t, &trace.end)),
    )?;
    row.local_ms = Some(local.median_ms);
    row.runs = local.runs;
    row.peak_mem = memory.map(|(peak, _)| peak);
    row.retained_mem = memory.map(|(_, retained)| retained);

    let mut doc = local.last;
    row.note = L::note(&mut doc);
    if L::remote(&mut doc)?.is_some() {
        let merge = timed(
            config,
            &mut row.problems,
            || L::remote(&mut doc)?.ok_or_else(|| "remote vanished".to_owned()),
            L::merge,
            |(_, text)| same_text("merged", text, &trace.end),
        )?;
        row.merge_ms = Some(merge.median_ms);
    }
    if let Some(bytes) = L::save(&mut doc)? {
        row.encoded_bytes = Some(bytes.len());
        let load = timed(
            config,
            &mut row.problems,
            || Ok(()),
            |()| L::load(&bytes),
            |(_, text)| same_text("loaded", text, &trace.end),
        )?;
        row.load_ms = Some(load.median_ms);
    }
    Ok(())
}
