//! Markdown table and JSON lines for one trace's results.

use serde_json::json;

use crate::measure::{Row, Spread};

const BASELINE: &str = "diamond-types";
const MEM_BASELINE: &str = "yrs";

fn cell<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "n/a".to_owned(), show)
}

fn median(spread: Option<Spread>) -> Option<f64> {
    spread.map(|s| s.median)
}

/// Median with the range of the timed runs, so a noisy cell is visible as one.
fn timing(spread: Option<Spread>) -> String {
    cell(spread, |s| {
        format!("{:.2} ({:.2}-{:.2})", s.median, s.min, s.max)
    })
}

fn ratio(value: Option<f64>, base: Option<f64>) -> String {
    match (value, base) {
        (Some(v), Some(b)) if b > 0.0 => format!("{:.2}x", v / b),
        _ => "-".to_owned(),
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "byte counts far below 2^52 only feed display ratios"
)]
fn as_f64(n: Option<usize>) -> Option<f64> {
    n.map(|n| n as f64)
}

pub fn table(rows: &[Row]) -> String {
    let find = |name: &str| rows.iter().find(|r| r.library == name);
    let dt = find(BASELINE);
    let yrs = find(MEM_BASELINE);
    let mut out = String::from(
        "| library | local_ms (min-max) | merge_ms (min-max) | load_ms (min-max) \
         | encoded_bytes | peak_mem_KiB | retained_KiB | ok \
         | local/dt | merge/dt | load/dt | bytes/dt | peak/dt | retained/dt | peak/yrs |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.library,
            timing(r.local),
            timing(r.merge),
            timing(r.load),
            cell(r.encoded_bytes, |b| b.to_string()),
            cell(r.peak_mem, |b| (b.div_ceil(1024)).to_string()),
            cell(r.retained_mem, |b| (b.div_ceil(1024)).to_string()),
            if r.ok { "yes" } else { "**NO**" },
            ratio(median(r.local), dt.and_then(|d| median(d.local))),
            ratio(median(r.merge), dt.and_then(|d| median(d.merge))),
            ratio(median(r.load), dt.and_then(|d| median(d.load))),
            ratio(
                as_f64(r.encoded_bytes),
                as_f64(dt.and_then(|d| d.encoded_bytes))
            ),
            ratio(as_f64(r.peak_mem), as_f64(dt.and_then(|d| d.peak_mem))),
            ratio(
                as_f64(r.retained_mem),
                as_f64(dt.and_then(|d| d.retained_mem))
            ),
            ratio(as_f64(r.peak_mem), as_f64(yrs.and_then(|y| y.peak_mem))),
        ));
    }
    out
}

pub fn json_line(trace: &str, r: &Row) -> String {
    json!({
        "trace": trace,
        "library": r.library,
        "local_ms": median(r.local),
        "local_min_ms": r.local.map(|s| s.min),
        "local_max_ms": r.local.map(|s| s.max),
        "merge_ms": median(r.merge),
        "merge_min_ms": r.merge.map(|s| s.min),
        "merge_max_ms": r.merge.map(|s| s.max),
        "load_ms": median(r.load),
        "load_min_ms": r.load.map(|s| s.min),
        "load_max_ms": r.load.map(|s| s.max),
        "encoded_bytes": r.encoded_bytes,
        "peak_mem_bytes": r.peak_mem,
        "retained_mem_bytes": r.retained_mem,
        "local_runs": r.runs,
        "warmup_runs": 1,
        "ok": r.ok,
        "problems": r.problems,
    })
    .to_string()
}
