//! The servers under test as child processes: starting one and learning its
//! port, reading its peak memory and CPU time from `/proc`, stopping it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What both servers print once bound; the address follows it.
pub const LISTENING: &str = "listening on http://";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    #[error("cannot run {program}: {source}")]
    Exec {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} exited before printing its address ({status})")]
    Exited { program: String, status: String },
    #[error("{program} did not print its address within {START_TIMEOUT:?}")]
    Silent { program: String },
}

/// A running server, killed when dropped so that no error path leaves one
/// behind.
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `program` and waits for the line announcing its address.
    pub fn spawn(program: &Path, args: &[&str]) -> Result<ServerProcess, SpawnError> {
        let name = program.display().to_string();
        let mut child = Command::new(program)
            .args(args)
            // Every generated client connects from this machine's one
            // address: the relay's per-address limits (docs/security.md)
            // are off. Variables, not flags, so that relays built before
            // the limits existed start as well.
            .env("COLLAB_MAX_CONNECTIONS_PER_IP", "0")
            .env("COLLAB_HELLOS_PER_IP_PER_MINUTE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| SpawnError::Exec {
                program: name.clone(),
                source,
            })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // The reader keeps draining stdout after the address, so a server
        // that prints more never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = parse_addr(&line) {
                    let _ = tx.send(addr);
                }
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => Ok(ServerProcess { child, addr }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(match rx.try_recv() {
                    Err(mpsc::TryRecvError::Disconnected) => SpawnError::Exited {
                        program: name,
                        status,
                    },
                    _ => SpawnError::Silent { program: name },
                })
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, so the relay runs its real shutdown, and kills the
    /// process if it is still there after [`STOP_TIMEOUT`].
    pub fn stop(mut self) {
        let pid = self.pid().to_string();
        let termed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        if termed {
            let deadline = std::time::Instant::now() + STOP_TIMEOUT;
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("collab-load: server {pid} ignored SIGTERM; killing it");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The address in a `... listening on http://ADDR` line.
pub fn parse_addr(line: &str) -> Option<SocketAddr> {
    let at = line.find(LISTENING)? + LISTENING.len();
    line[at..].trim().trim_end_matches('/').parse().ok()
}

/// The relay binary: `--relay-bin` if given, else the `collab-relay` built
/// next to this executable. Under `cargo run` it is rebuilt first, because
/// cargo builds only the binary it runs and a stale relay would be measured
/// without a word.
pub fn relay_binary(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate this executable: {e}"))?;
    let dir = exe.parent().ok_or("this executable has no directory")?;
    let relay = dir.join("collab-relay");
    if let Ok(cargo) = std::env::var("CARGO") {
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "--quiet",
            "-p",
            "collab-relay",
            "--bin",
            "collab-relay",
        ]);
        if let Ok(manifest_dir) = std::env::var("CARGO_MANIFEST_DIR") {
            build
                .arg("--manifest-path")
                .arg(Path::new(&manifest_dir).join("Cargo.toml"));
        }
        match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => {}
            Some("release") => {
                build.arg("--release");
            }
            Some(profile) => {
                build.args(["--profile", profile]);
            }
            None => {}
        }
        if let Some(target) = dir.parent() {
            build.arg("--target-dir").arg(target);
        }
        match build.status() {
            Ok(s) if s.success() => {}
            Ok(s) => {
                eprintln!("collab-load: building collab-relay failed ({s}); using what is there")
            }
            Err(e) => eprintln!("collab-load: cannot run cargo ({e}); using what is there"),
        }
    }
    if relay.is_file() {
        Ok(relay)
    } else {
        Err(format!(
            "no relay binary at {}: build it (cargo build --release -p collab-relay) or pass --relay-bin",
            relay.display()
        ))
    }
}

/// Peak resident set (`VmHWM`) of a live process, in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User plus system CPU time of a process (all its threads) so far; `None`
/// for this process itself.
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces; fields are counted after
    // its closing parenthesis, where `state` is field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / clock_ticks(),
    ))
}

/// Whose CPU time counts as the server's: the server processes, and, for
/// a relay on a database server, every process of that name (PostgreSQL's
/// backends, one per connection, and its background processes).
#[derive(Clone, Debug, Default)]
pub struct ServerCpu {
    pub pids: Vec<u32>,
    pub named: Option<String>,
}

impl ServerCpu {
    /// Their CPU time so far; `None` when there is nothing to count.
    pub fn cpu_time(&self) -> Option<Duration> {
        let mut pids = self.pids.clone();
        if let Some(name) = &self.named {
            pids.extend(processes_named(name));
        }
        if pids.is_empty() {
            return None;
        }
        Some(pids.iter().filter_map(|&p| cpu_time(Some(p))).sum())
    }
}

/// The processes whose command name is `name`.
fn processes_named(name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .collect()
}

/// CPU time all CPUs of the machine spent busy so far (steal included:
/// on a virtual machine it is time the load did not get), to tell when
/// something besides the servers and the load generator was running.
pub fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already counted in user).
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Some(Duration::from_secs_f64(busy as f64 / clock_ticks()))
}

/// `sysconf(_SC_CLK_TCK)`, the unit of `/proc/<pid>/stat` times.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_address_line() {
        let addr = parse_addr("collab-relay listening on http://127.0.0.1:41234");
        assert_eq!(addr, Some("127.0.0.1:41234".parse().unwrap()));
        assert_eq!(parse_addr("something else"), None);
    }

    #[test]
    fn reads_own_cpu_time() {
        assert!(cpu_time(None).is_some());
        assert!(machine_busy().is_some());
    }
}
