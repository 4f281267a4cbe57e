//! Markdown table and JSON lines for one trace's results.

use serde_json::json;

use crate::measure::Row;

const BASELINE: &str = "diamond-types";
const MEM_BASELINE: &str = "yrs";

fn cell<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "n/a".to_owned(), show)
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
        "| library | local_ms | merge_ms | load_ms | encoded_bytes | peak_mem_KiB | ok \
         | local/dt | merge/dt | bytes/dt | mem/yrs |\n\
         |---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let ms = |v: f64| format!("{v:.2}");
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.library,
            cell(r.local_ms, ms),
            cell(r.merge_ms, ms),
            cell(r.load_ms, ms),
            cell(r.encoded_bytes, |b| b.to_string()),
            cell(r.peak_mem, |b| (b.div_ceil(1024)).to_string()),
            if r.ok { "yes" } else { "**NO**" },
            ratio(r.local_ms, dt.and_then(|d| d.local_ms)),
            ratio(r.merge_ms, dt.and_then(|d| d.merge_ms)),
            ratio(
                as_f64(r.encoded_bytes),
                as_f64(dt.and_then(|d| d.encoded_bytes))
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
        "local_ms": r.local_ms,
        "merge_ms": r.merge_ms,
        "load_ms": r.load_ms,
        "encoded_bytes": r.encoded_bytes,
        "peak_mem_bytes": r.peak_mem,
        "retained_mem_bytes": r.retained_mem,
        "local_runs": r.runs,
        "ok": r.ok,
        "problems": r.problems,
    })
    .to_string()
}
