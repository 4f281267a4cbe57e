//! The printed result: the machine, one aligned row per server, and the
//! relay-to-bare ratio of deliveries per second.

use std::time::Duration;

use crate::load::{Outcome, Settings};

/// One server's results.
pub struct Row {
    pub server: String,
    pub outcome: Outcome,
    /// Peak resident memory, unknown for a relay this run did not start.
    pub peak_rss: Option<u64>,
    /// CPU the server used from its start to the end of the window.
    pub server_cpu_total: Option<Duration>,
}

impl Row {
    pub fn echoes_per_second(&self) -> f64 {
        self.outcome.echoes as f64 / self.outcome.window.as_secs_f64()
    }

    pub fn acked_per_second(&self) -> f64 {
        self.outcome.acked as f64 / self.outcome.window.as_secs_f64()
    }
}

/// CPU the machine spent on anything but the server and the load
/// generator during the window: more than a few percent means the numbers
/// were disturbed (or, for an external relay, it is the relay).
fn other_cpu(o: &Outcome) -> Option<Duration> {
    let ours = o.own_cpu? + o.server_cpu.unwrap_or_default();
    Some(o.machine_cpu?.saturating_sub(ours))
}

/// The machine the numbers come from.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cpus} CPUs (nproc), {model}")
}

pub fn print(settings: &Settings, rows: &mut [Row]) {
    println!();
    println!("machine: {}", machine());
    println!(
        "load: {} clients over {} docs, {} ops/s target ({} arrivals), {} s warm-up, {} s measured",
        settings.clients,
        settings.docs,
        settings.rate,
        settings.arrival.name(),
        settings.warmup.as_secs_f64(),
        settings.duration.as_secs_f64()
    );
    if settings.echo_only {
        println!(
            "clients: --echo-only, a diagnostic: echoes are neither parsed nor integrated, so this is not the benchmark"
        );
    } else {
        println!("clients: a ClientSession each, parsing and integrating every echo");
    }
    if rows.is_empty() {
        return;
    }
    println!();
    let header = [
        "server",
        "clients",
        "docs",
        "target op/s",
        "acked op/s",
        "echo/s",
        "slowest 1s echo/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "lost",
        "failed",
        "srv RSS MiB",
        "srv CPU s",
        "srv CPU % (window)",
        "srv CPU us/echo",
        "gen CPU % (window)",
        "other CPU % (window)",
    ];
    let mut table = vec![header.map(str::to_owned).to_vec()];
    for row in rows.iter_mut() {
        let o = &mut row.outcome;
        let secs = o.window.as_secs_f64();
        let ms = |d: Option<Duration>| {
            d.map_or("-".to_owned(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
        };
        let percent = |d: Option<Duration>| {
            d.map_or("-".to_owned(), |d| {
                format!("{:.0}", d.as_secs_f64() / secs * 100.0)
            })
        };
        table.push(vec![
            row.server.clone(),
            settings.clients.to_string(),
            settings.docs.to_string(),
            format!("{:.0}", settings.rate),
            format!("{:.0}", o.acked as f64 / secs),
            format!("{:.0}", o.echoes as f64 / secs),
            o.echoes_per_second
                .min()
                .map_or("-".to_owned(), |n| n.to_string()),
            ms(o.latencies.quantile(0.5)),
            ms(o.latencies.quantile(0.99)),
            ms(o.latencies.max()),
            o.lost.to_string(),
            o.failed.to_string(),
            row.peak_rss.map_or("-".to_owned(), |b| {
                format!("{:.1}", b as f64 / (1024.0 * 1024.0))
            }),
            row.server_cpu_total
                .map_or("-".to_owned(), |d| format!("{:.2}", d.as_secs_f64())),
            percent(o.server_cpu),
            o.server_cpu
                .filter(|_| o.echoes > 0)
                .map_or("-".to_owned(), |d| {
                    format!("{:.1}", d.as_secs_f64() * 1e6 / o.echoes as f64)
                }),
            percent(o.own_cpu),
            percent(other_cpu(o)),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| table.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for (i, line) in table.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if c == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        println!("{}", cells.join("  ").trim_end());
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("{}", rule.join("  "));
        }
    }
    println!();
    for row in rows.iter() {
        let o = &row.outcome;
        println!(
            "{}: {} own ops sent in the window, {} latencies, {} never echoed",
            row.server,
            o.sent,
            o.latencies.len(),
            o.lost
        );
        if let Some(error) = &o.first_error {
            println!(
                "{}: {} clients ended early; first: {error}",
                row.server, o.failed
            );
        }
    }
    let bare = rows.iter().find(|r| r.server == crate::BARE);
    let relays = rows.iter().filter(|r| r.server.starts_with(crate::RELAY));
    for relay in relays {
        if let Some(bare) = bare {
            println!(
                "{} / bare deliveries per second: {:.2}",
                relay.server,
                relay.echoes_per_second() / bare.echoes_per_second()
            );
        }
    }
    let memory = rows.iter().find(|r| r.server.ends_with("(memory)"));
    let sqlite = rows.iter().find(|r| r.server.ends_with("(sqlite)"));
    if let (Some(memory), Some(sqlite)) = (memory, sqlite) {
        println!(
            "sqlite / memory acknowledged ops per second: {:.2}",
            sqlite.acked_per_second() / memory.acked_per_second()
        );
    }
}
