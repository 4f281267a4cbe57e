//! What a client pays per remote keystroke on a busy relay, without the
//! network: many client sessions spread over documents, each edit's
//! `op_echo` serialized once and received by every session of its document.
//!
//! `cargo run --release -p collab-crdt --example fanout -- [--docs 100] [--clients 10] [--ops 1200] [--iters 5]`
//!
//! `--clients` is per document and `--ops` per document. It prints one JSON
//! line: the median over `--iters` runs of nanoseconds per received echo
//! (parse and integrate, the work `collab-load`'s editors do per message).

use std::process::ExitCode;
use std::time::Instant;

use collab_crdt::sync::{
    ClientMessage, ClientSession, HelloAck, OpEcho, Resync, ServerMessage, ServerSeq,
};

/// What an edit types: mostly letters, some spaces (as `collab-load`).
const TYPED: &[u8] = b"etaoinshrdlucmfwypvbgkqjxz      ";

struct Settings {
    docs: usize,
    clients: usize,
    ops: usize,
    iters: usize,
}

fn main() -> ExitCode {
    let mut s = Settings {
        docs: 100,
        clients: 10,
        ops: 1200,
        iters: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse::<usize>().ok());
        let slot = match arg.as_str() {
            "--docs" => &mut s.docs,
            "--clients" => &mut s.clients,
            "--ops" => &mut s.ops,
            "--iters" => &mut s.iters,
            _ => {
                eprintln!("fanout: unknown argument {arg}");
                return ExitCode::FAILURE;
            }
        };
        match value {
            Some(v) if v > 0 => *slot = v,
            _ => {
                eprintln!("fanout: {arg} needs a positive number");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut samples = Vec::new();
    for _ in 0..s.iters {
        match run(&s) {
            Ok(ns) => samples.push(ns),
            Err(e) => {
                eprintln!("fanout: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "{{\"docs\":{},\"clients_per_doc\":{},\"ops_per_doc\":{},\"iters\":{},\"ns_per_echo\":{:.0},\"min\":{:.0},\"max\":{:.0}}}",
        s.docs,
        s.clients,
        s.ops,
        s.iters,
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1]
    );
    ExitCode::SUCCESS
}

/// One run; returns nanoseconds per echo received.
fn run(s: &Settings) -> Result<f64, String> {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut sessions = Vec::with_capacity(s.docs * s.clients);
    for i in 0..s.docs * s.clients {
        let doc_id = format!("doc-{}", i % s.docs);
        let replica_id = i as u64 + 1;
        let mut session = ClientSession::new(doc_id.as_str(), replica_id).map_err(err)?;
        session.connect();
        let ack = ServerMessage::HelloAck(HelloAck {
            doc_id,
            replica_id,
            server_seq: ServerSeq::ZERO,
            epoch: "bench".to_owned(),
            resync: Resync::Replay,
            read_only: false,
        });
        session.receive(ack).map_err(err)?;
        sessions.push(session);
    }
    let mut heads = vec![ServerSeq::ZERO; s.docs];
    let mut elapsed = std::time::Duration::ZERO;
    let mut echoes = 0u64;
    // Edits rotate over the documents, as concurrent typists would, so each
    // echo finds its document's sessions cold in the cache.
    for _ in 0..s.ops {
        for doc in 0..s.docs {
            let editor = doc + s.docs * next(s.clients);
            let session = &mut sessions[editor];
            let len = session.doc().len();
            if len > 0 && next(10) == 0 {
                session.delete(next(len), 1).map_err(err)?;
            } else {
                let c = char::from(TYPED[next(TYPED.len())]);
                session
                    .insert(next(len + 1), c.encode_utf8(&mut [0; 4]))
                    .map_err(err)?;
            }
            let mut sent = Vec::new();
            while let Some(msg) = session.poll_send() {
                sent.push(msg);
            }
            for msg in sent {
                let ClientMessage::Op(batch) = msg else {
                    continue;
                };
                for op in batch.ops {
                    heads[doc] = heads[doc].next();
                    let text = ServerMessage::OpEcho(OpEcho {
                        server_seq: heads[doc],
                        replica_id: op.replica_id(),
                        op,
                    })
                    .to_json();
                    let start = Instant::now();
                    for c in 0..s.clients {
                        sessions[doc + s.docs * c]
                            .receive_text(&text)
                            .map_err(err)?;
                    }
                    elapsed += start.elapsed();
                    echoes += s.clients as u64;
                }
            }
        }
    }
    for doc in 0..s.docs {
        let text = sessions[doc].doc().text();
        let diverged = (1..s.clients).any(|c| sessions[doc + s.docs * c].doc().text() != text);
        if diverged || sessions[doc].last_seen_server_seq() != heads[doc] {
            return Err(format!("the sessions of document {doc} diverged"));
        }
    }
    Ok(elapsed.as_nanos() as f64 / echoes as f64)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}
