//! What the relay's process-level tests share: the `collab-relay` binary
//! as a child process that is killed (SIGKILL: no shutdown, no flush, no
//! final snapshot) when dropped, and a free local port to run it on.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// The relay binary running as a child process.
pub struct RelayProcess {
    child: Child,
}

impl RelayProcess {
    /// Starts the relay on `addr` with `args` and returns once it says it
    /// listens.
    pub fn start<S: AsRef<OsStr>>(addr: SocketAddr, args: impl IntoIterator<Item = S>) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_collab-relay"))
            .args(["--addr", &addr.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("relay binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("relay says where it listens");
        assert!(line.contains("listening on"), "relay said {line:?}");
        RelayProcess { child }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local address no one listens on now.
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}
