//! `compare`: replays sequential editing traces with several text CRDTs and prints how they compare.

mod alloc;
mod libs;
mod measure;
mod report;
#[cfg(feature = "collab")]
mod synth;
mod trace;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use measure::Config;
use trace::Loaded;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

const DEFAULT_TRACES: [&str; 3] = [
    "automerge-paper.json.gz",
    "rustcode.json.gz",
    "sveltecomponent.json.gz",
];

const USAGE: &str = "usage: compare [--iters N] [--slow-iters N] [--lib NAME ...] \
     [TRACE.json.gz | synthetic[:AGENTS:EDITS] ...]";

/// The synthetic concurrent trace's default size: 10 agents, 100,000 edits.
const SYNTHETIC: (usize, usize) = (10, 100_000);

/// `synthetic` or `synthetic:AGENTS:EDITS`: the generated concurrent trace.
fn synthetic(arg: &std::path::Path) -> Option<Result<(usize, usize), String>> {
    let arg = arg.to_str()?;
    let rest = arg.strip_prefix("synthetic")?;
    if rest.is_empty() {
        return Some(Ok(SYNTHETIC));
    }
    let mut parts = rest.strip_prefix(':')?.split(':').map(str::parse::<usize>);
    Some(match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(e)), None) if a > 0 && e > 0 => Ok((a, e)),
        _ => Err(format!("{arg}: expected synthetic:AGENTS:EDITS")),
    })
}

struct Args {
    config: Config,
    libs: Vec<String>,
    traces: Vec<PathBuf>,
}

/// The traces live in the project's shared folder, beside the repository.
fn default_trace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces")
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        config: Config {
            iters: 11,
            slow_iters: 3,
        },
        libs: Vec::new(),
        traces: Vec::new(),
    };
    let count = |flag: &str, value: Option<String>| -> Result<usize, String> {
        value
            .as_deref()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .ok_or_else(|| format!("{flag} needs a positive number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--iters" => parsed.config.iters = count("--iters", args.next())?,
            "--slow-iters" => parsed.config.slow_iters = count("--slow-iters", args.next())?,
            "--lib" => {
                let name = args.next().ok_or("--lib needs a library name")?;
                parsed
                    .libs
                    .extend(name.split(',').map(|n| libs::canonical(n).to_owned()));
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            path => parsed.traces.push(PathBuf::from(path)),
        }
    }
    if parsed.traces.is_empty() {
        let dir = default_trace_dir();
        parsed.traces = DEFAULT_TRACES.iter().map(|t| dir.join(t)).collect();
    }
    Ok(parsed)
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    // On a shared machine the load at the start tells how much to trust the numbers.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    format!("machine: nproc={cores}, cpu={cpu}, loadavg(1 min)={load}")
}

fn main() -> ExitCode {
    let started = Instant::now();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };

    let all = libs::all();
    if let Some(unknown) = args
        .libs
        .iter()
        .find(|name| !all.iter().any(|(n, _)| n == name))
    {
        let known: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        eprintln!(
            "error: unknown library {unknown}; known: {}",
            known.join(", ")
        );
        return ExitCode::from(2);
    }
    // Checked up front so a typo fails in a second, not after minutes of runs.
    if let Some(missing) = args
        .traces
        .iter()
        .find(|p| synthetic(p).is_none() && !p.is_file())
    {
        eprintln!("error: trace not found: {}", missing.display());
        return ExitCode::from(2);
    }
    let selected: Vec<_> = all
        .into_iter()
        .filter(|(n, _)| args.libs.is_empty() || args.libs.iter().any(|l| l == n))
        .collect();

    println!("{}", machine());
    println!(
        "method: 1 uncounted warm-up, then {} round-robin rounds of local, merge, load \
         ({} for libraries whose warm-up took over 1 s, run after the others); \
         median (min-max) in ms; peak memory from a separate untimed replay",
        args.config.iters,
        args.config.iters.min(args.config.slow_iters)
    );
    let [system, off, on] = measure::allocator_cost();
    println!(
        "allocator: alloc+free of 32 B (batches of {}, medians of {} interleaved rounds): \
         System {:.1} ns; counting allocator with counting off (timed runs) {:+.1} ns, \
         on (memory pass) {:+.1} ns",
        alloc::BATCH,
        measure::ALLOC_ROUNDS,
        system.median,
        off.median - system.median,
        on.median - system.median
    );
    if !cfg!(feature = "collab") {
        println!("note: built without the `collab` feature, collab-crdt is not measured");
    }

    let mut failed = false;
    for path in &args.traces {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let loaded = match synthetic(path) {
            #[cfg(feature = "collab")]
            Some(Ok((agents, edits))) => {
                synth::generate(agents, edits, 0x5eed).map(trace::Loaded::Concurrent)
            }
            #[cfg(not(feature = "collab"))]
            Some(Ok(_)) => Err("the synthetic trace needs the `collab` feature".to_owned()),
            Some(Err(e)) => Err(e),
            None => trace::load(path),
        };
        let trace = match loaded {
            Ok(Loaded::Sequential(trace) | Loaded::Concurrent(trace)) => trace,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        // A concurrent history is replayed only by the libraries that can
        // edit at a past version; the others have no such API here.
        let libs: Vec<_> = selected
            .iter()
            .filter(|(n, _)| trace.history.is_none() || libs::replays_histories(n))
            .copied()
            .collect();
        println!(
            "\n## {name}: {}{} patches in {} txns, {} chars at the end\n",
            match &trace.history {
                Some(h) => format!("concurrent, {} agents, ", h.agents),
                None => String::new(),
            },
            trace.edits(),
            trace.txns,
            trace.end.chars().count()
        );
        eprintln!("{name}:");
        let rows = measure::compare(&trace, &libs, &args.config);
        print!("{}", report::table(&rows));
        for row in &rows {
            if let Some(note) = &row.note {
                println!("- {}: {note}", row.library);
            }
            for problem in &row.problems {
                failed = true;
                println!("- **MISMATCH/ERROR** {}: {problem}", row.library);
                eprintln!("ERROR: {} on {name}: {problem}", row.library);
            }
        }
        println!();
        for row in &rows {
            println!("{}", report::json_line(&name, row));
        }
    }
    eprintln!("wall time: {:.1} s", started.elapsed().as_secs_f64());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
