//! Presence in the client session (`docs/protocol.md` §5a), without a
//! network: what it sends and when, what it keeps of the others, and that
//! it resolves their selections against its own replica, its
//! unacknowledged edits included, to where their owner sees them.
#![cfg(feature = "presence")]

use collab_crdt::sync::{
    ClientMessage, ClientSession, Event, HelloAck, JsonObject, OpEcho, PresenceRemoved,
    PresenceUpdate, Resync, ServerMessage, ServerSeq,
};
use collab_crdt::{Anchor, Op};
use proptest::prelude::*;

fn live(doc: &str, replica: u64) -> ClientSession {
    let mut s = ClientSession::new(doc, replica).unwrap();
    s.connect();
    s.receive(ServerMessage::HelloAck(HelloAck {
        doc_id: doc.into(),
        replica_id: replica,
        server_seq: ServerSeq(0),
        epoch: "e".into(),
        resync: Resync::Replay,
        read_only: false,
    }))
    .unwrap();
    s
}

/// What a relay forwards of `replica`'s `presence` message.
fn forwarded(replica: u64, msg: &ClientMessage) -> ServerMessage {
    let ClientMessage::Presence(p) = msg else {
        panic!("expected presence, got {msg:?}");
    };
    ServerMessage::Presence(PresenceUpdate {
        replica_id: replica,
        sub: None,
        selections: p.selections.clone(),
        data: p.data.clone(),
    })
}

#[test]
fn presence_goes_out_after_the_edits_and_again_on_every_connection() {
    let mut s = ClientSession::new("d", 1).unwrap();
    s.insert(0, "hello").unwrap();
    let data = JsonObject::parse(r#"{"name":"Ann"}"#).unwrap();
    s.set_presence(&[(5, 5)], Some(data)).unwrap();
    // Offline, and while waiting for hello_ack: nothing.
    assert!(s.poll_send().is_none());
    let ClientMessage::Hello(hello) = s.connect() else {
        panic!("hello first")
    };
    assert_eq!(hello.presence, Some(true), "asks for the others' presence");
    assert!(s.poll_send().is_none());
    s.receive(ServerMessage::HelloAck(HelloAck {
        doc_id: "d".into(),
        replica_id: 1,
        server_seq: ServerSeq(0),
        epoch: "e".into(),
        resync: Resync::Replay,
        read_only: false,
    }))
    .unwrap();
    assert!(matches!(s.poll_send(), Some(ClientMessage::Op(_))));
    let Some(ClientMessage::Presence(p)) = s.poll_send() else {
        panic!("presence after the edits")
    };
    assert_eq!(p.selections[0].head.resolve(s.doc()), Ok(5));
    assert!(s.poll_send().is_none(), "sent once");
    // Unchanged: nothing more; refreshed or reconnected: again.
    s.set_presence(&[(5, 5)], p.data.clone()).unwrap();
    assert!(s.poll_send().is_none());
    s.refresh_presence();
    assert!(matches!(s.poll_send(), Some(ClientMessage::Presence(_))));
    s.disconnected();
    s.connect();
    s.receive(ServerMessage::HelloAck(HelloAck {
        doc_id: "d".into(),
        replica_id: 1,
        server_seq: ServerSeq(0),
        epoch: "e".into(),
        resync: Resync::Replay,
        read_only: false,
    }))
    .unwrap();
    assert!(matches!(s.poll_send(), Some(ClientMessage::Op(_))));
    assert!(matches!(s.poll_send(), Some(ClientMessage::Presence(_))));
}

#[test]
fn the_others_are_kept_until_removed_or_disconnected() {
    let mut s = live("d", 2);
    let update = |replica| {
        ServerMessage::Presence(PresenceUpdate {
            replica_id: replica,
            sub: Some("user-7".into()),
            selections: Vec::new(),
            data: None,
        })
    };
    assert_eq!(
        s.receive(update(1)).unwrap(),
        Event::Presence {
            replica_id: 1,
            removed: false
        }
    );
    s.receive(update(3)).unwrap();
    assert_eq!(
        s.others().iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [1, 3]
    );
    assert_eq!(s.presence_of(1).unwrap().sub.as_deref(), Some("user-7"));
    let gone = s
        .receive(ServerMessage::PresenceRemoved(PresenceRemoved {
            replica_id: 1,
        }))
        .unwrap();
    assert_eq!(
        gone,
        Event::Presence {
            replica_id: 1,
            removed: true
        }
    );
    assert_eq!(
        s.others().iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [3]
    );
    // Its own presence from an older connection is not someone else's.
    s.receive(update(2)).unwrap();
    assert!(s.presence_of(2).is_none());
    s.disconnected();
    assert!(s.others().is_empty(), "known again after the next catch-up");
}

#[test]
fn a_caret_that_overtakes_its_insert_resolves_once_the_insert_arrives() {
    let mut a = live("d", 1);
    let mut b = live("d", 2);
    a.insert(0, "abc").unwrap();
    let Some(ClientMessage::Op(batch)) = a.poll_send() else {
        panic!("the insert")
    };
    a.set_presence(&[(3, 3)], None).unwrap();
    let presence = a.poll_send().unwrap();
    b.receive(forwarded(1, &presence)).unwrap();
    let selection = b.presence_of(1).unwrap().selections[0];
    assert_eq!(b.resolve(&selection), None, "not integrated yet");
    b.receive(ServerMessage::OpEcho(OpEcho {
        server_seq: ServerSeq(1),
        replica_id: 1,
        op: batch.ops[0].clone(),
    }))
    .unwrap();
    assert_eq!(b.resolve(&selection), Some((3, 3)));
}

/// A relay reduced to its log: numbers operations, hands them out as
/// echoes, keeps each replica's latest presence.
#[derive(Default)]
struct Relay {
    log: Vec<(u64, Op)>,
    presence: Option<ClientMessage>,
}

impl Relay {
    /// Takes everything `session` has to send.
    fn collect(&mut self, session: &mut ClientSession) {
        while let Some(msg) = session.poll_send() {
            match msg {
                ClientMessage::Op(batch) => {
                    let me = session.doc().replica_id();
                    for op in batch.ops {
                        // A resend after nothing was echoed: keep one copy.
                        if !self.log.iter().any(|(_, o)| *o == op) {
                            self.log.push((me, op));
                        }
                    }
                }
                presence @ ClientMessage::Presence(_) => self.presence = Some(presence),
                ClientMessage::Hello(_) => unreachable!("connected"),
            }
        }
    }

    /// Delivers up to `n` echoes `session` has not seen.
    fn deliver(&self, session: &mut ClientSession, n: usize) {
        let from = session.last_seen_server_seq().0 as usize;
        for (i, (origin, op)) in self.log.iter().enumerate().skip(from).take(n) {
            session
                .receive(ServerMessage::OpEcho(OpEcho {
                    server_seq: ServerSeq(i as u64 + 1),
                    replica_id: *origin,
                    op: op.clone(),
                }))
                .unwrap();
        }
    }
}

/// An edit at a place given as a fraction of the text.
fn edit(s: &mut ClientSession, kind: u8, at: u16, len: usize, text: &str) {
    let n = s.doc().len();
    let pos = at as usize % (n + 1);
    if kind == 0 {
        s.insert(pos, text).unwrap();
    } else {
        s.delete(pos, len.min(n - pos)).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever B edits meanwhile (acknowledged or not) and whenever the
    /// presence and the echoes arrive, B resolves A's selection to a
    /// position wherever the characters it names have arrived, and, once
    /// both hold the same operations, exactly where A resolves it.
    #[test]
    fn a_remote_selection_resolves_where_its_owner_sees_it(
        steps in prop::collection::vec(
            (any::<bool>(), 0..5u8, any::<u16>(), any::<u16>(), 0..4usize, "[a-zé😀]{1,3}"),
            1..60,
        ),
    ) {
        let mut a = live("d", 1);
        let mut b = live("d", 2);
        let mut relay = Relay::default();
        a.insert(0, "start").unwrap();
        for (on_a, kind, p, q, len, text) in &steps {
            let s = if *on_a { &mut a } else { &mut b };
            match kind {
                0 | 1 => edit(s, *kind, *p, *len, text),
                2 => {
                    let n = a.doc().len() + 1;
                    a.set_presence(&[(*p as usize % n, *q as usize % n)], None).unwrap();
                }
                3 => relay.collect(s),
                _ => relay.deliver(s, *len + 1),
            }
            if let Some(msg) = &relay.presence {
                b.receive(forwarded(1, msg)).unwrap();
            }
            if let Some(theirs) = b.presence_of(1) {
                for sel in &theirs.selections {
                    let known = [sel.anchor, sel.head].iter().all(|an| match an {
                        Anchor::Char { id, .. } => b.doc().pos_of(*id).is_ok(),
                        _ => true,
                    });
                    prop_assert_eq!(b.resolve(sel).is_some(), known);
                }
            }
        }
        for _ in 0..2 {
            relay.collect(&mut a);
            relay.collect(&mut b);
            relay.deliver(&mut a, usize::MAX);
            relay.deliver(&mut b, usize::MAX);
        }
        prop_assert_eq!(a.doc().text(), b.doc().text());
        if let Some(msg) = &relay.presence {
            b.receive(forwarded(1, msg)).unwrap();
            let ClientMessage::Presence(own) = msg else { unreachable!() };
            let theirs = &b.presence_of(1).unwrap();
            for (mine, seen) in own.selections.iter().zip(&theirs.selections) {
                prop_assert_eq!(b.resolve(seen), Some(mine.resolve(a.doc()).unwrap()));
            }
        }
    }
}

#[test]
fn presence_messages_parse_in_any_field_order_and_check_their_shape() {
    use collab_crdt::sync::ErrorCode;
    let client = r#"{"data":{"name":"Ann","tags":[1,{"x":null}]},"selections":[{"head":"end","anchor":"start"}],"type":"presence"}"#;
    let ClientMessage::Presence(p) = ClientMessage::from_json(client).unwrap() else {
        panic!("a presence message")
    };
    assert_eq!(p.selections[0].anchor, Anchor::Start);
    assert_eq!(
        p.data.as_ref().unwrap().get(),
        r#"{"name":"Ann","tags":[1,{"x":null}]}"#,
        "data is forwarded as sent"
    );
    let round = ClientMessage::from_json(&ClientMessage::Presence(p.clone()).to_json()).unwrap();
    assert_eq!(round, ClientMessage::Presence(p));
    let empty = ClientMessage::from_json(r#"{"type":"presence"}"#).unwrap();
    assert!(
        matches!(empty, ClientMessage::Presence(p) if p.selections.is_empty() && p.data.is_none())
    );
    for bad in [
        r#"{"type":"presence","data":[1]}"#,
        r#"{"type":"presence","data":"Ann"}"#,
        r#"{"type":"presence","selections":[{"anchor":"start"}]}"#,
        r#"{"type":"presence","selections":[{"anchor":"middle","head":"start"}]}"#,
    ] {
        assert_eq!(
            ClientMessage::from_json(bad).unwrap_err().code,
            ErrorCode::InvalidMessage,
            "{bad}"
        );
    }
    assert_eq!(
        ClientMessage::from_json_first(r#"{"type":"presence"}"#)
            .unwrap_err()
            .code,
        ErrorCode::HelloRequired
    );
    let server = r#"{"selections":[],"replica_id":7,"type":"presence","sub":"u1"}"#;
    let ServerMessage::Presence(u) = ServerMessage::from_json(server).unwrap() else {
        panic!("a presence update")
    };
    assert_eq!((u.replica_id, u.sub.as_deref()), (7, Some("u1")));
    let removed = ServerMessage::from_json(r#"{"replica_id":7,"type":"presence_removed"}"#);
    assert_eq!(
        removed.unwrap(),
        ServerMessage::PresenceRemoved(PresenceRemoved { replica_id: 7 })
    );
}
