//! Undo in the client session, through a relay simulated in memory: undo
//! while another session types removes only this session's text, redo puts
//! it back, the splices keep an editor's copy of the text in step, and the
//! history survives reconnects (the outbox resent) and snapshot resyncs.
//! A seeded random run checks the same across many interleavings.
#![cfg(all(feature = "serde", feature = "undo"))]

use std::collections::BTreeSet;

use collab_crdt::sync::{
    ClientMessage, ClientSession, Event, HelloAck, OpEcho, Resync, ServerMessage, ServerSeq,
    SnapshotMessage, Splice, Status,
};
use collab_crdt::{Doc, Id, Op};
use collab_testkit::rng::Rng;

/// The relay's part, enough for these tests: a log of operations in
/// arrival order, echoed to every live session.
struct Relay {
    log: Vec<Op>,
    doc: Doc,
}

/// One editor: a session and the text an editor would show, kept only by
/// applying the splices the session reports.
struct Editor {
    session: ClientSession,
    view: String,
    online: bool,
}

fn splice(view: &mut String, s: &Splice) {
    let chars: Vec<char> = view.chars().collect();
    let mut out: String = chars[..s.pos].iter().collect();
    out.push_str(&s.insert);
    out.extend(&chars[s.pos + s.delete..]);
    // The UTF-16 offsets say the same as the character ones.
    let units: Vec<u16> = view.encode_utf16().collect();
    assert_eq!(
        String::from_utf16(&units[..s.pos_utf16]).unwrap(),
        chars[..s.pos].iter().collect::<String>()
    );
    assert_eq!(
        String::from_utf16(&units[s.pos_utf16..s.pos_utf16 + s.delete_utf16]).unwrap(),
        chars[s.pos..s.pos + s.delete].iter().collect::<String>()
    );
    *view = out;
}

impl Relay {
    fn new() -> Relay {
        Relay {
            log: Vec::new(),
            doc: Doc::new(1 << 40).unwrap(),
        }
    }

    fn connect(&self, e: &mut Editor) {
        e.session.connect();
        let ack = ServerMessage::HelloAck(HelloAck {
            doc_id: "d".into(),
            replica_id: e.session.doc().replica_id(),
            server_seq: ServerSeq(self.log.len() as u64),
            epoch: "e".into(),
            resync: Resync::Replay,
            read_only: false,
        });
        e.session.receive(ack).unwrap();
        let from = e.session.last_seen_server_seq().0 as usize;
        for i in from..self.log.len() {
            self.deliver(e, i);
        }
        assert_eq!(e.session.status(), Status::Live);
        e.online = true;
    }

    /// Connects `e` with a snapshot of everything the relay has.
    fn connect_with_snapshot(&self, e: &mut Editor) {
        e.session.connect();
        let ack = ServerMessage::HelloAck(HelloAck {
            doc_id: "d".into(),
            replica_id: e.session.doc().replica_id(),
            server_seq: ServerSeq(self.log.len() as u64),
            epoch: "e".into(),
            resync: Resync::Snapshot,
            read_only: false,
        });
        e.session.receive(ack).unwrap();
        let event = e
            .session
            .receive(ServerMessage::Snapshot(SnapshotMessage {
                doc_id: "d".into(),
                server_seq: ServerSeq(self.log.len() as u64),
                data: None,
                ops: Some(self.log.clone()),
            }))
            .unwrap();
        let Event::Snapshot { splices, .. } = event else {
            panic!("{event:?}")
        };
        for s in &splices {
            splice(&mut e.view, s);
        }
        e.online = true;
    }

    fn deliver(&self, e: &mut Editor, i: usize) {
        let op = &self.log[i];
        let echo = ServerMessage::OpEcho(OpEcho {
            server_seq: ServerSeq(i as u64 + 1),
            replica_id: op.replica_id(),
            op: op.clone(),
        });
        if let Event::Remote { splices, .. } = e.session.receive(echo).unwrap() {
            for s in &splices {
                splice(&mut e.view, s);
            }
        }
    }

    /// Takes what `e` sends (duplicates skipped, as the relay does) and
    /// echoes the new operations to every online editor.
    fn pump(&mut self, editors: &mut [&mut Editor]) {
        loop {
            let mut any = false;
            for k in 0..editors.len() {
                if !editors[k].online {
                    continue;
                }
                while let Some(msg) = editors[k].session.poll_send() {
                    let ClientMessage::Op(batch) = msg else {
                        continue;
                    };
                    for op in batch.ops {
                        let seen = self.doc.seen(op.replica_id());
                        if op.seq() + op.len() <= seen {
                            continue;
                        }
                        self.doc.apply(&op).unwrap();
                        self.log.push(op);
                        let i = self.log.len() - 1;
                        for e in editors.iter_mut().filter(|e| e.online) {
                            self.deliver(e, i);
                        }
                        any = true;
                    }
                }
            }
            if !any {
                return;
            }
        }
    }
}

impl Editor {
    fn new(replica: u64) -> Editor {
        let mut session = ClientSession::new("d", replica).unwrap();
        session.set_clock(0);
        Editor {
            session,
            view: String::new(),
            online: false,
        }
    }

    /// Types `text` at `pos` as an editor would report it: the view first,
    /// then the session.
    fn type_at(&mut self, pos: usize, text: &str) {
        let mut chars: Vec<char> = self.view.chars().collect();
        chars.splice(pos..pos, text.chars());
        self.view = chars.into_iter().collect();
        self.session.insert(pos, text).unwrap();
    }

    fn delete(&mut self, pos: usize, len: usize) {
        let mut chars: Vec<char> = self.view.chars().collect();
        chars.drain(pos..pos + len);
        self.view = chars.into_iter().collect();
        self.session.delete(pos, len).unwrap();
    }

    /// Undoes or redoes and applies the splices to the view; returns the
    /// caret, checked against the UTF-16 one.
    fn revert(&mut self, redo: bool) -> Option<usize> {
        let done = if redo {
            self.session.redo()
        } else {
            self.session.undo()
        }
        .unwrap()?;
        for s in &done.splices {
            splice(&mut self.view, s);
        }
        let prefix: String = self.view.chars().take(done.caret).collect();
        assert_eq!(prefix.encode_utf16().count(), done.caret_utf16);
        Some(done.caret)
    }

    fn disconnect(&mut self) {
        self.session.disconnected();
        self.online = false;
    }

    fn check(&self) {
        assert_eq!(self.view, self.session.doc().text(), "the editor's copy");
    }
}

#[test]
fn undo_while_another_types_removes_only_own_text_and_redo_restores_it() {
    let mut relay = Relay::new();
    let (mut a, mut b) = (Editor::new(10), Editor::new(20));
    relay.connect(&mut a);
    relay.connect(&mut b);
    b.type_at(0, "[bob]");
    relay.pump(&mut [&mut a, &mut b]);
    // Alice types a word inside Bob's text while Bob keeps typing around it.
    a.type_at(3, "ALICE");
    b.type_at(0, ">");
    relay.pump(&mut [&mut a, &mut b]);
    b.type_at(b.view.chars().count(), "<");
    relay.pump(&mut [&mut a, &mut b]);
    assert_eq!(a.view, ">[boALICEb]<");
    a.session.stop_capturing();
    assert!(a.session.can_undo());
    let caret = a.revert(false).expect("something to undo");
    assert_eq!(a.view, ">[bob]<", "only Alice's text went");
    assert_eq!(caret, 4, "where her word was");
    relay.pump(&mut [&mut a, &mut b]);
    b.type_at(6, "!");
    relay.pump(&mut [&mut a, &mut b]);
    assert_eq!(b.view, ">[bob]!<");
    assert!(a.session.can_redo());
    let caret = a.revert(true).expect("something to redo");
    relay.pump(&mut [&mut a, &mut b]);
    assert_eq!(a.view, ">[boALICEb]!<");
    assert_eq!(caret, 9, "after the word put back");
    for e in [&a, &b] {
        e.check();
        assert_eq!(e.view, a.view);
    }
    assert!(a.revert(true).is_none(), "nothing more to redo");
}

#[test]
fn undo_puts_back_deleted_text_while_others_edit_and_redo_takes_it_again() {
    let mut relay = Relay::new();
    let (mut a, mut b) = (Editor::new(10), Editor::new(20));
    relay.connect(&mut a);
    relay.connect(&mut b);
    b.type_at(0, "one two three");
    relay.pump(&mut [&mut a, &mut b]);
    a.delete(3, 4); // "one three"
    relay.pump(&mut [&mut a, &mut b]);
    b.type_at(0, "zero ");
    b.type_at(b.view.chars().count(), " four");
    relay.pump(&mut [&mut a, &mut b]);
    let caret = a.revert(false).unwrap();
    relay.pump(&mut [&mut a, &mut b]);
    assert_eq!(b.view, "zero one two three four");
    assert_eq!(caret, "zero one two".chars().count());
    a.revert(true).unwrap();
    relay.pump(&mut [&mut a, &mut b]);
    assert_eq!(b.view, "zero one three four");
    a.check();
    b.check();
}

#[test]
fn edits_within_the_capture_timeout_are_one_step_and_stop_capturing_splits() {
    let mut e = Editor::new(10);
    e.session.set_clock(1000);
    e.type_at(0, "ab");
    e.session.set_clock(1300);
    e.type_at(2, "cd");
    e.session.set_clock(2000); // 700 ms later: a new step
    e.type_at(4, "ef");
    e.session.stop_capturing();
    e.type_at(6, "gh");
    e.revert(false).unwrap();
    assert_eq!(e.view, "abcdef");
    e.revert(false).unwrap();
    assert_eq!(e.view, "abcd");
    e.revert(false).unwrap();
    assert_eq!(e.view, "");
    assert!(!e.session.can_undo());
    e.check();
}

#[test]
fn without_a_clock_every_edit_call_is_a_step_and_a_replace_is_one() {
    let mut s = ClientSession::new("d", 1).unwrap();
    s.insert(0, "hello").unwrap();
    s.insert(5, " world").unwrap();
    s.replace(0, 5, "HELLO").unwrap();
    s.undo().unwrap().unwrap();
    assert_eq!(s.doc().text(), "hello world", "the replace as one step");
    s.undo().unwrap().unwrap();
    assert_eq!(s.doc().text(), "hello");
    // Two inserts, the replace's delete and insert, the undo of the
    // replace (delete and insert) and of " world" (a delete).
    assert_eq!(s.unacked(), 7, "every undo is an operation in the outbox");
}

#[test]
fn undo_made_offline_reaches_the_others_after_the_reconnect() {
    let mut relay = Relay::new();
    let (mut a, mut b) = (Editor::new(10), Editor::new(20));
    relay.connect(&mut a);
    relay.connect(&mut b);
    a.type_at(0, "kept ");
    a.session.stop_capturing();
    a.type_at(5, "sent");
    relay.pump(&mut [&mut a, &mut b]);
    a.disconnect();
    // Offline: Alice types, then undoes that and the word the relay has.
    a.session.stop_capturing();
    a.type_at(9, " unsent");
    b.type_at(0, "B:");
    relay.pump(&mut [&mut a, &mut b]);
    a.revert(false).unwrap();
    a.revert(false).unwrap();
    assert_eq!(a.view, "kept ");
    relay.connect(&mut a);
    relay.pump(&mut [&mut a, &mut b]);
    assert_eq!(a.view, "B:kept ");
    assert_eq!(b.view, "B:kept ");
    assert_eq!(a.session.unacked(), 0);
    // Redo after the reconnect brings the word back for both.
    a.revert(true).unwrap();
    relay.pump(&mut [&mut a, &mut b]);
    assert_eq!(b.view, "B:kept sent");
    a.check();
    b.check();
}

#[test]
fn history_survives_a_snapshot_resync() {
    let mut relay = Relay::new();
    let (mut a, mut b) = (Editor::new(10), Editor::new(20));
    relay.connect(&mut a);
    relay.connect(&mut b);
    a.type_at(0, "acked");
    relay.pump(&mut [&mut a, &mut b]);
    a.disconnect();
    a.session.stop_capturing();
    a.type_at(5, "+offline");
    b.type_at(0, "bob ");
    relay.pump(&mut [&mut a, &mut b]);
    // The document is replaced by the relay's snapshot; the unsent edit is
    // applied again on top, with the same ids, so both steps still undo.
    relay.connect_with_snapshot(&mut a);
    relay.pump(&mut [&mut a, &mut b]);
    assert_eq!(b.view, "bob acked+offline");
    a.revert(false).unwrap();
    a.revert(false).unwrap();
    relay.pump(&mut [&mut a, &mut b]);
    assert_eq!(b.view, "bob ");
    a.check();
    b.check();
}

/// Every character of another replica visible in `doc`.
fn others(doc: &Doc, me: u64) -> BTreeSet<Id> {
    doc.layout()
        .into_iter()
        .filter(|(id, deleted)| !deleted && id.replica_id != me)
        .map(|(id, _)| id)
        .collect()
}

/// One seeded run: two editors type, delete, undo, redo, go offline and
/// come back in random order. Undo and redo never hide another replica's
/// character, the splices keep every editor's copy exact, and all converge.
fn random_run(seed: u64) {
    let mut rng = Rng::new(seed, 7);
    let mut relay = Relay::new();
    let mut a = Editor::new(10);
    let mut b = Editor::new(20);
    relay.connect(&mut a);
    relay.connect(&mut b);
    for _ in 0..120 {
        let who = rng.below(2);
        let e = if who == 0 { &mut a } else { &mut b };
        let me = e.session.doc().replica_id();
        let len = e.view.chars().count();
        match rng.below(10) {
            0..=3 => {
                let text = ["x", "yz", "é😀", "word "][rng.below(4)];
                e.type_at(rng.below(len + 1), text);
            }
            4 if len > 0 => {
                let pos = rng.below(len);
                let n = 1 + rng.below((len - pos).min(4));
                e.delete(pos, n);
            }
            5 | 6 => {
                let before = others(e.session.doc(), me);
                e.revert(rng.below(3) == 0);
                let after = others(e.session.doc(), me);
                assert!(
                    before.is_subset(&after),
                    "seed {seed}: undo hid another's text"
                );
            }
            7 => e.session.stop_capturing(),
            8 if e.online => e.disconnect(),
            8 => relay.connect(e),
            _ => {}
        }
        e.check();
        relay.pump(&mut [&mut a, &mut b]);
    }
    for e in [&mut a, &mut b] {
        if !e.online {
            relay.connect(e);
        }
    }
    relay.pump(&mut [&mut a, &mut b]);
    a.check();
    b.check();
    assert_eq!(a.view, b.view, "seed {seed}");
    assert_eq!(a.view, relay.doc.text(), "seed {seed}");
}

#[test]
fn random_runs_with_undo_never_touch_others_and_converge() {
    for seed in 0..64 {
        random_run(seed);
    }
}

/// Alone, undoing everything and redoing everything is the identity on text.
#[test]
fn alone_undo_all_then_redo_all_is_the_identity() {
    for seed in 0..32 {
        let mut rng = Rng::new(seed, 9);
        let mut e = Editor::new(10);
        let mut texts = vec![String::new()];
        for _ in 0..30 {
            let len = e.view.chars().count();
            if len > 0 && rng.below(3) == 0 {
                let pos = rng.below(len);
                e.delete(pos, 1 + rng.below((len - pos).min(3)));
            } else {
                e.type_at(rng.below(len + 1), ["a", "bc", "ü😀"][rng.below(3)]);
            }
            e.session.stop_capturing();
            texts.push(e.view.clone());
        }
        let last = texts.pop().unwrap();
        while let Some(want) = texts.pop() {
            e.revert(false).expect("a step per edit");
            assert_eq!(e.view, want, "seed {seed}");
        }
        assert!(e.revert(false).is_none());
        while e.revert(true).is_some() {}
        assert_eq!(e.view, last, "seed {seed}");
        e.check();
    }
}
