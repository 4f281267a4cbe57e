//! A client session kept in a store and restored (what the browser
//! package's IndexedDB persistence does): the snapshot plus the operations
//! integrated after it give back the same replica with the same text, the
//! same outbox and the same place in the relay's log; a missing piece is
//! refused rather than letting the replica reuse its ids.
#![cfg(feature = "serde")]

use collab_crdt::sync::{
    ClientMessage, ClientSession, HelloAck, OpEcho, Resync, ServerMessage, ServerSeq,
};
use collab_crdt::{Doc, Op, VersionVector};

fn ack(s: &mut ClientSession, head: u64) {
    s.receive(ServerMessage::HelloAck(HelloAck {
        doc_id: "d".into(),
        replica_id: s.doc().replica_id(),
        server_seq: ServerSeq(head),
        epoch: "e1".into(),
        resync: Resync::Replay,
        read_only: false,
    }))
    .unwrap();
}

fn echo(s: &mut ClientSession, seq: u64, op: &Op) {
    s.receive(ServerMessage::OpEcho(OpEcho {
        server_seq: ServerSeq(seq),
        replica_id: op.replica_id(),
        op: op.clone(),
    }))
    .unwrap();
}

fn sent(s: &mut ClientSession) -> Vec<Op> {
    let mut ops = Vec::new();
    while let Some(msg) = s.poll_send() {
        if let ClientMessage::Op(batch) = msg {
            ops.extend(batch.ops);
        }
    }
    ops
}

/// What a store holds: a snapshot, then the operations after it and the
/// session's place when it last appended.
struct Stored {
    snapshot: Vec<u8>,
    later: Vec<Op>,
    last_seen: ServerSeq,
    epoch: Option<String>,
    acked_seq: u64,
}

impl Stored {
    fn take(s: &ClientSession) -> (Stored, VersionVector) {
        let stored = Stored {
            snapshot: s.doc().encode(),
            later: Vec::new(),
            last_seen: s.last_seen_server_seq(),
            epoch: s.epoch().map(Into::into),
            acked_seq: s.acked_seq(),
        };
        (stored, s.doc().version())
    }

    fn append(&mut self, s: &ClientSession, logged: &mut VersionVector) {
        self.later.extend(s.doc().ops_since(logged));
        *logged = s.doc().version();
        self.last_seen = s.last_seen_server_seq();
        self.epoch = s.epoch().map(Into::into);
        self.acked_seq = s.acked_seq();
    }

    fn restore(&self, replica: u64) -> Result<ClientSession, collab_crdt::Error> {
        ClientSession::restore(
            "d",
            replica,
            &self.snapshot,
            self.last_seen,
            self.epoch.clone(),
            self.acked_seq,
            &self.later,
        )
    }
}

#[test]
fn a_restored_session_is_the_same_replica_with_its_outbox_and_place() {
    let mut s = ClientSession::new("d", 5).unwrap();
    let mut other = Doc::new(6).unwrap();
    s.connect();
    ack(&mut s, 0);
    s.insert(0, "saved ").unwrap();
    let first = sent(&mut s);
    echo(&mut s, 1, &first[0]);
    let theirs = other.insert(0, "[6]").unwrap().unwrap();
    echo(&mut s, 2, &theirs);
    let (mut store, mut logged) = Stored::take(&s);
    assert_eq!(s.acked_seq(), s.local_seq(), "everything echoed");

    // Sent but never echoed, then a remote edit, then typed offline right
    // after the remote text (so it names a character the snapshot lacks).
    s.insert(0, "a").unwrap();
    let unechoed = sent(&mut s);
    let more = other.insert(3, "!").unwrap().unwrap();
    echo(&mut s, 3, &more);
    s.disconnected();
    s.insert(4, "b").unwrap();
    store.append(&s, &mut logged);

    let mut back = store.restore(5).unwrap();
    assert_eq!(back.doc().text(), s.doc().text());
    assert_eq!(back.doc().replica_id(), 5);
    assert_eq!(
        back.local_seq(),
        s.local_seq(),
        "the next op gets the next seq"
    );
    assert_eq!(back.unacked(), 2, "the unechoed insert and the offline one");
    assert_eq!(back.last_seen_server_seq(), ServerSeq(3));
    let ClientMessage::Hello(hello) = back.connect() else {
        panic!("hello")
    };
    assert_eq!(hello.last_seen_server_seq, Some(ServerSeq(3)));
    assert_eq!(hello.epoch.as_deref(), Some("e1"));
    ack(&mut back, 3);
    let resent = sent(&mut back);
    let mut relay = other.fork(9).unwrap();
    relay.apply(&first[0]).unwrap();
    for op in unechoed.iter().chain(&resent) {
        relay.apply(op).unwrap();
    }
    assert_eq!(
        relay.text(),
        back.doc().text(),
        "what is resent completes the relay's copy"
    );
    assert_eq!(back.acked_seq(), first[0].seq() + first[0].len());
}

#[test]
fn a_store_missing_the_remote_text_an_own_edit_names_is_refused() {
    let mut s = ClientSession::new("d", 5).unwrap();
    let mut other = Doc::new(6).unwrap();
    s.connect();
    ack(&mut s, 0);
    let (mut store, mut logged) = Stored::take(&s);
    let theirs = other.insert(0, "xyz").unwrap().unwrap();
    echo(&mut s, 1, &theirs);
    s.insert(2, "mine").unwrap();
    store.append(&s, &mut logged);
    assert!(store.restore(5).is_ok());
    // Without the remote operation, the own one has no parent.
    store.later.retain(|op| op.replica_id() == 5);
    assert!(store.restore(5).is_err());
}

#[test]
fn restoring_twice_from_the_same_store_gives_the_same_session() {
    let mut s = ClientSession::new("d", 5).unwrap();
    s.insert(0, "offline 😀").unwrap();
    let (store, _) = Stored::take(&s);
    let a = store.restore(5).unwrap();
    let b = store.restore(5).unwrap();
    assert_eq!(a.doc().text(), "offline 😀");
    assert_eq!((a.unacked(), b.unacked()), (1, 1));
    assert_eq!(a.doc().encode(), b.doc().encode());
    assert!(ClientSession::restore("d", 5, b"not a snapshot", ServerSeq(0), None, 0, &[]).is_err());
}
