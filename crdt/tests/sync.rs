//! The sync protocol without a network: `docs/protocol.md`'s examples parse,
//! its transcript runs through two sessions, and the session keeps the
//! user's edits through every kind of resync.
#![cfg(feature = "serde")]

use collab_crdt::sync::{
    ClientMessage, ClientSession, ErrorCode, Event, OpEcho, Resync, ServerMessage, ServerSeq,
    SessionError, SnapshotMessage, Status,
};
use collab_crdt::{Doc, Op};

const PROTOCOL: &str = include_str!("../../docs/protocol.md");

#[cfg(feature = "presence")]
fn json_blocks() -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in PROTOCOL.lines() {
        match (&mut current, line.trim()) {
            (None, "```json") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => block.push_str(line),
            _ => {}
        }
    }
    blocks
}

/// The spec's examples include presence messages.
#[cfg(feature = "presence")]
#[test]
fn every_json_example_in_the_spec_is_a_valid_message_or_operation() {
    let blocks = json_blocks();
    assert!(blocks.len() >= 10, "found {} examples", blocks.len());
    for block in blocks {
        let value: serde_json::Value = serde_json::from_str(&block).unwrap();
        if value.get("type").is_some() {
            let client = ClientMessage::from_json(&block);
            let server = ServerMessage::from_json(&block);
            assert!(
                client.is_ok() || server.is_ok(),
                "{block}: {client:?} / {server:?}"
            );
        } else {
            serde_json::from_str::<Op>(&block).unwrap_or_else(|e| panic!("{block}: {e}"));
        }
    }
}

/// Runs §9 of the spec: every `X →` line must be exactly what session X
/// sends next, every `X ←` line is fed to session X. It ends with presence.
#[cfg(feature = "presence")]
#[test]
fn the_spec_transcript_runs_through_two_sessions() {
    let start = PROTOCOL.find("## 9. A complete exchange").unwrap();
    let mut a = ClientSession::new("demo", 11).unwrap();
    let mut b = ClientSession::new("demo", 22).unwrap();
    let mut outbox: Vec<(char, ClientMessage)> = Vec::new();
    let mut lines = 0;
    for line in PROTOCOL[start..].lines() {
        let Some((who, rest)) = line.split_once(' ') else {
            continue;
        };
        let (who, session) = match who {
            "A" => ('A', &mut a),
            "B" => ('B', &mut b),
            _ => continue,
        };
        lines += 1;
        if let Some(json) = rest.strip_prefix("→ ") {
            let expected = ClientMessage::from_json(json).unwrap();
            let sent = match &expected {
                ClientMessage::Hello(_) => session.connect(),
                ClientMessage::Op(_) => {
                    if session.unacked() == 0 {
                        // The transcript's edits: A types "Hi", B appends "!".
                        let end = session.doc().len();
                        let text = if who == 'A' { "Hi" } else { "!" };
                        session.insert(end, text).unwrap();
                    }
                    session.poll_send().unwrap()
                }
                ClientMessage::Presence(p) => {
                    // The transcript's carets, set as an editor would: as
                    // positions in the session's own text.
                    let ranges: Vec<(usize, usize)> = p
                        .selections
                        .iter()
                        .map(|s| s.resolve(session.doc()).unwrap())
                        .collect();
                    session.set_presence(&ranges, p.data.clone()).unwrap();
                    session.poll_send().unwrap()
                }
            };
            assert_eq!(sent, expected, "{who} sends");
            outbox.push((who, sent));
        } else if let Some(json) = rest.strip_prefix("← ") {
            session.receive_text(json).unwrap();
        }
    }
    assert_eq!(lines, 12);
    let carets: Vec<_> = b
        .presence_of(11)
        .unwrap()
        .selections
        .iter()
        .map(|s| b.resolve(s))
        .collect();
    assert_eq!(carets, [Some((2, 2))], "B sees A's caret after \"Hi\"");
    assert_eq!(a.doc().text(), "Hi!");
    assert_eq!(b.doc().text(), "Hi!");
    assert_eq!((a.unacked(), b.unacked()), (0, 0));
    // The reconnect described after the transcript.
    b.disconnected();
    let hello = b.connect().to_json();
    assert_eq!(
        hello,
        r#"{"type":"hello","doc_id":"demo","replica_id":22,"last_seen_server_seq":2,"epoch":"5be1f00dcafe0001","presence":true}"#
    );
}

fn ack(session: &mut ClientSession, head: u64, resync: Resync) -> Event {
    session
        .receive(ServerMessage::HelloAck(collab_crdt::sync::HelloAck {
            doc_id: session.doc_id().to_owned(),
            replica_id: session.doc().replica_id(),
            server_seq: ServerSeq(head),
            epoch: "e".into(),
            resync,
            read_only: false,
        }))
        .unwrap()
}

fn echo(seq: u64, op: &Op) -> ServerMessage {
    ServerMessage::OpEcho(OpEcho {
        server_seq: ServerSeq(seq),
        replica_id: op.replica_id(),
        op: op.clone(),
    })
}

fn sent_ops(msg: Option<ClientMessage>) -> Vec<Op> {
    match msg {
        Some(ClientMessage::Op(batch)) => batch.ops,
        other => panic!("expected an op message, got {other:?}"),
    }
}

#[test]
fn edits_made_offline_wait_for_the_ack_and_go_in_one_batch() {
    let mut s = ClientSession::new("d", 1).unwrap();
    s.insert(0, "ab").unwrap();
    s.delete(0, 1).unwrap();
    assert_eq!(s.poll_send(), None, "nothing goes out offline");
    s.connect();
    assert_eq!(s.poll_send(), None, "nor before hello_ack");
    ack(&mut s, 0, Resync::Replay);
    assert_eq!(s.status(), Status::Live);
    let ops = sent_ops(s.poll_send());
    assert_eq!(ops.len(), 2);
    assert_eq!(s.poll_send(), None, "each op is sent once per connection");
    s.receive(echo(1, &ops[0])).unwrap();
    assert_eq!(s.unacked(), 1);
    let event = s.receive(echo(2, &ops[1])).unwrap();
    assert_eq!(
        event,
        Event::Acknowledged {
            server_seq: ServerSeq(2)
        }
    );
    assert_eq!(s.unacked(), 0);
    assert_eq!(s.doc().text(), "b");
}

#[test]
fn a_reconnect_resends_what_was_not_echoed() {
    let mut s = ClientSession::new("d", 1).unwrap();
    s.connect();
    ack(&mut s, 0, Resync::Replay);
    s.insert(0, "x").unwrap();
    let first = sent_ops(s.poll_send());
    s.disconnected();
    s.insert(1, "y").unwrap();
    let hello = s.connect();
    assert!(matches!(hello, ClientMessage::Hello(h) if h.last_seen_server_seq.is_none()));
    ack(&mut s, 0, Resync::Replay);
    let again = sent_ops(s.poll_send());
    assert_eq!(again.len(), 2);
    assert_eq!(again[0], first[0], "the same op, same id");
}

#[test]
fn a_gap_in_server_seq_is_an_error() {
    let mut s = ClientSession::new("d", 1).unwrap();
    s.connect();
    ack(&mut s, 0, Resync::Replay);
    let mut other = Doc::new(2).unwrap();
    let op = other.insert(0, "z").unwrap().unwrap();
    let err = s.receive(echo(2, &op)).unwrap_err();
    assert_eq!(
        err,
        SessionError::Gap {
            expected: ServerSeq(1),
            got: ServerSeq(2)
        }
    );
    assert_eq!(err.code(), "server_seq_gap");
    let err = s.receive_text("{\"type\":").unwrap_err();
    assert_eq!(err.code(), "malformed_json");
}

#[test]
fn messages_out_of_place_are_errors() {
    let mut s = ClientSession::new("d", 1).unwrap();
    let mut other = Doc::new(2).unwrap();
    let op = other.insert(0, "z").unwrap().unwrap();
    assert!(matches!(
        s.receive(echo(1, &op)),
        Err(SessionError::Unexpected { .. })
    ));
    s.connect();
    let wrong = ServerMessage::HelloAck(collab_crdt::sync::HelloAck {
        doc_id: "other".into(),
        replica_id: 1,
        server_seq: ServerSeq(0),
        epoch: "e".into(),
        resync: Resync::Replay,
        read_only: false,
    });
    assert!(matches!(
        s.receive(wrong),
        Err(SessionError::WrongDocument { .. })
    ));
    // A server's message that does not parse gets the coarse code: any of
    // them means the server broke the protocol (the finer look is for the
    // relay's answers to clients).
    assert!(matches!(
        s.receive_text("{\"type\":\"nope\"}"),
        Err(SessionError::Parse(e)) if e.code == ErrorCode::InvalidMessage
    ));
    assert!(matches!(
        s.receive_text("{\"type\":"),
        Err(SessionError::Parse(e)) if e.code == ErrorCode::MalformedJson
    ));
}

#[test]
fn a_snapshot_keeps_unacknowledged_edits_and_drops_acknowledged_ones() {
    // The server's state: replica 2 typed "server", and replica 1's first
    // edit "A" arrived (its echo was lost).
    let mut s = ClientSession::new("d", 1).unwrap();
    s.connect();
    ack(&mut s, 0, Resync::Replay);
    s.insert(0, "A").unwrap();
    let sent = sent_ops(s.poll_send());
    s.disconnected();
    s.insert(1, "B").unwrap(); // never reached the server

    let mut server = Doc::new(9).unwrap();
    let mut typist = Doc::new(2).unwrap();
    let theirs = typist.insert(0, "server").unwrap().unwrap();
    server.apply(&theirs).unwrap();
    server.apply(&sent[0]).unwrap();

    s.connect();
    ack(&mut s, 2, Resync::Snapshot);
    assert_eq!(s.poll_send(), None, "wait for the snapshot");
    let data = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(server.encode())
    };
    let event = s
        .receive(ServerMessage::Snapshot(SnapshotMessage {
            doc_id: "d".into(),
            server_seq: ServerSeq(2),
            data: Some(data),
            ops: None,
        }))
        .unwrap();
    assert!(matches!(
        event,
        Event::Snapshot {
            server_seq: ServerSeq(2),
            ..
        }
    ));
    assert_eq!(s.last_seen_server_seq(), ServerSeq(2));
    assert_eq!(s.unacked(), 1, "only B is still unacknowledged");
    let resent = sent_ops(s.poll_send());
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].seq(), 1);
    server.apply(&resent[0]).unwrap();
    assert_eq!(s.doc().text(), server.text());
    assert!(s.doc().text().contains("AB"));
}

#[test]
fn a_snapshot_may_come_as_operations() {
    let mut server = Doc::new(9).unwrap();
    let mut typist = Doc::new(2).unwrap();
    server
        .apply(&typist.insert(0, "héllo").unwrap().unwrap())
        .unwrap();
    let mut s = ClientSession::new("d", 1).unwrap();
    s.connect();
    ack(&mut s, 1, Resync::Snapshot);
    s.receive(ServerMessage::Snapshot(SnapshotMessage {
        doc_id: "d".into(),
        server_seq: ServerSeq(1),
        data: None,
        ops: Some(server.snapshot().ops),
    }))
    .unwrap();
    assert_eq!(s.doc().text(), "héllo");
}

#[test]
fn a_snapshot_with_bad_data_is_refused() {
    let mut s = ClientSession::new("d", 1).unwrap();
    s.connect();
    ack(&mut s, 1, Resync::Snapshot);
    for (data, ops) in [
        (Some("!!not base64".to_owned()), None),
        (Some("AAAA".to_owned()), None),
        (None, None),
    ] {
        let err = s
            .receive(ServerMessage::Snapshot(SnapshotMessage {
                doc_id: "d".into(),
                server_seq: ServerSeq(1),
                data,
                ops,
            }))
            .unwrap_err();
        assert!(matches!(err, SessionError::BadSnapshot(_)), "{err}");
    }
}

#[test]
fn long_pastes_are_split_into_ops_that_fit_a_message() {
    let mut s = ClientSession::new("d", 1).unwrap();
    let text: String = "é🙂x".repeat(40_000); // 280,000 bytes
    s.insert(0, &text).unwrap();
    s.connect();
    ack(&mut s, 0, Resync::Replay);
    let mut ops = Vec::new();
    while let Some(msg) = s.poll_send() {
        assert!(msg.to_json().len() < 512 * 1024);
        ops.extend(sent_ops(Some(msg)));
    }
    assert!(ops.len() >= 5);
    let mut replica = Doc::new(2).unwrap();
    replica.apply_all(&ops).unwrap();
    assert_eq!(replica.text(), text);
}

#[test]
fn replace_out_of_range_changes_nothing() {
    let mut s = ClientSession::new("d", 1).unwrap();
    s.insert(0, "abc").unwrap();
    assert_eq!(
        s.replace(2, 5, "x").unwrap_err().code(),
        "position_out_of_range"
    );
    assert_eq!(s.doc().text(), "abc");
    assert_eq!(s.unacked(), 1);
}

/// The rows of the markdown table that follows `heading` in the spec: the
/// cells of each row, trimmed.
fn table_after(heading: &str) -> Vec<Vec<String>> {
    let start = PROTOCOL
        .find(heading)
        .unwrap_or_else(|| panic!("{heading} in the spec"));
    PROTOCOL[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn the_error_code_tables_of_the_spec_match_the_code() {
    let rows = table_after("## 6. Error codes");
    let mut documented = Vec::new();
    for row in &rows {
        let code = row[0].trim_matches('`');
        let known = ErrorCode::parse(code)
            .unwrap_or_else(|| panic!("{code}: documented, unknown to ErrorCode"));
        let expected = match row[1].as_str() {
            "no" => None,
            close => Some(
                close
                    .parse::<u16>()
                    .unwrap_or_else(|_| panic!("{code}: close code {close:?}")),
            ),
        };
        assert_eq!(known.close_code(), expected, "{code}: close code");
        let ServerMessage::Error(e) = known.message("m") else {
            unreachable!()
        };
        assert_eq!(e.code, code);
        assert_eq!(
            e.fatal,
            expected.is_some(),
            "{code}: fatal exactly when it closes"
        );
        documented.push(known);
    }
    for code in ErrorCode::ALL {
        assert!(
            documented.contains(&code),
            "{code} is missing from the spec's §6"
        );
    }
    assert_eq!(
        documented,
        ErrorCode::ALL,
        "§6 lists the codes in ErrorCode::ALL's order"
    );
    let closes: Vec<u16> = table_after("## 7. WebSocket close codes")
        .iter()
        .map(|row| row[0].parse().unwrap())
        .collect();
    for code in ErrorCode::ALL {
        if let Some(close) = code.close_code() {
            assert!(
                closes.contains(&close),
                "{close} (of {code}) is missing from §7"
            );
        }
    }
}

#[test]
fn a_replay_is_live_only_once_it_reaches_the_head() {
    let mut other = collab_crdt::Doc::new(2).unwrap();
    let first = other.insert(0, "a").unwrap().unwrap();
    let second = other.insert(1, "b").unwrap().unwrap();
    let mut s = ClientSession::new("d", 1).unwrap();
    s.insert(0, "mine").unwrap();
    s.connect();
    ack(&mut s, 2, Resync::Replay);
    assert_eq!(
        s.status(),
        Status::Syncing,
        "two operations still to replay"
    );
    assert_eq!(
        sent_ops(s.poll_send()).len(),
        1,
        "edits go out during a replay"
    );
    s.receive(echo(1, &first)).unwrap();
    assert_eq!(s.status(), Status::Syncing);
    s.receive(echo(2, &second)).unwrap();
    assert_eq!(
        s.status(),
        Status::Live,
        "live at the head hello_ack announced"
    );
    // Already at the head: live at once.
    let mut t = ClientSession::new("d", 3).unwrap();
    t.connect();
    ack(&mut t, 0, Resync::Replay);
    assert_eq!(t.status(), Status::Live);
}

#[test]
fn messages_parse_whatever_the_field_order() {
    let mut doc = Doc::new(3).unwrap();
    let op = doc.insert(0, "a\"b\\c 🙂").unwrap().unwrap();
    let echo = echo(7, &op);
    assert_eq!(ServerMessage::from_json(&echo.to_json()).unwrap(), echo);
    let op_json = serde_json::to_string(&op).unwrap();
    let reordered = format!(r#"{{"op":{op_json},"server_seq":7,"type":"op_echo","replica_id":3}}"#);
    assert_eq!(ServerMessage::from_json(&reordered).unwrap(), echo);
    let batch = ClientMessage::Op(collab_crdt::sync::OpBatch { ops: vec![op] });
    assert_eq!(ClientMessage::from_json(&batch.to_json()).unwrap(), batch);
    let reordered = format!(r#"{{"ops":[{op_json}],"type":"op"}}"#);
    assert_eq!(ClientMessage::from_json(&reordered).unwrap(), batch);
    // A message that starts like an echo but is not one is still refused.
    let broken = r#"{"type":"op_echo","server_seq":"x"}"#;
    assert_eq!(
        ServerMessage::from_json(broken).unwrap_err().code,
        ErrorCode::InvalidMessage
    );
}

/// Remote operations through a session, with an editor's text kept in step
/// only by the splices the session reports, in characters and in UTF-16.
#[test]
fn splices_keep_an_editor_in_step_with_remote_edits() {
    let mut rng = collab_testkit::Rng::new(0x2545_f491_4f6c_dd1d, 0);
    let mut rand = move |n: usize| rng.below(n);
    let words = ["a", "bc", "🙂", "é", "漢字", "e\u{301}", "xyz"];
    let mut s = ClientSession::new("d", 1).unwrap();
    s.connect();
    ack(&mut s, 0, Resync::Replay);
    let mut peers: Vec<Doc> = (2..5).map(|r| Doc::new(r).unwrap()).collect();
    let mut log: Vec<Op> = Vec::new();
    let mut chars: Vec<char> = Vec::new();
    let mut utf16: Vec<u16> = Vec::new();
    for step in 0..3000 {
        let p = rand(peers.len());
        let peer = &mut peers[p];
        // Peers lag behind the log at random, so their edits are concurrent.
        let behind = rand(4);
        for op in &log[..log.len().saturating_sub(behind)] {
            peer.apply(op).unwrap();
        }
        let len = peer.len();
        let ops: Vec<Op> = if len > 0 && rand(3) == 0 {
            let pos = rand(len);
            peer.delete(pos, 1 + rand((len - pos).min(6)))
                .unwrap()
                .into_vec()
        } else {
            peer.insert(rand(len + 1), words[rand(words.len())])
                .unwrap()
                .into_iter()
                .collect()
        };
        for op in ops {
            log.push(op.clone());
            let event = s.receive(echo(log.len() as u64, &op)).unwrap();
            let Event::Remote { splices, .. } = event else {
                panic!("step {step}: {event:?}")
            };
            for sp in splices {
                chars.splice(sp.pos..sp.pos + sp.delete, sp.insert.chars());
                let units: Vec<u16> = sp.insert.encode_utf16().collect();
                utf16.splice(sp.pos_utf16..sp.pos_utf16 + sp.delete_utf16, units);
            }
            let text = s.doc().text();
            assert_eq!(chars.iter().collect::<String>(), text, "step {step}");
            assert_eq!(String::from_utf16(&utf16).unwrap(), text, "step {step}");
        }
    }
}

#[test]
fn a_snapshot_reports_the_change_as_one_splice() {
    let mut s = ClientSession::new("d", 1).unwrap();
    s.connect();
    ack(&mut s, 0, Resync::Replay);
    let mut peer = Doc::new(2).unwrap();
    let op = peer.insert(0, "hello world").unwrap().unwrap();
    s.receive(echo(1, &op)).unwrap();
    let ops = peer.replace(6, 5, "🙂 there").unwrap().into_vec();
    let mut server = peer.fork(9).unwrap();
    server.apply_all(&ops).unwrap();
    s.disconnected();
    s.connect();
    ack(&mut s, 3, Resync::Snapshot);
    let data = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(server.encode())
    };
    let event = s
        .receive(ServerMessage::Snapshot(SnapshotMessage {
            doc_id: "d".into(),
            server_seq: ServerSeq(3),
            data: Some(data),
            ops: None,
        }))
        .unwrap();
    let Event::Snapshot { splices, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(
        splices,
        [collab_crdt::sync::Splice {
            pos: 6,
            delete: 5,
            insert: "🙂 there".into(),
            pos_utf16: 6,
            delete_utf16: 5,
        }]
    );
}

#[test]
fn operations_decode_strictly_but_ignore_unknown_fields() {
    let parse = |json: &str| serde_json::from_str::<Op>(json);
    let insert =
        parse(r#"{"kind":"insert","replica_id":2,"seq":0,"lamport":1,"text":"a","extra":[1]}"#)
            .unwrap();
    assert!(matches!(&insert, Op::Insert(i) if i.parent_id.is_none() && i.text == "a"));
    let delete = parse(
        r#"{"len":2,"kind":"delete","target":{"lamport":1,"replica_id":2},"replica_id":3,"seq":4,"lamport":5,"reversed":true}"#,
    )
    .unwrap();
    assert!(
        matches!(&delete, Op::Delete(d) if d.len == 2 && d.reversed && d.target.replica_id == 2)
    );
    for (json, why) in [
        (
            r#"{"kind":"move","replica_id":2,"seq":0,"lamport":1}"#,
            "unknown variant",
        ),
        (
            r#"{"kind":"insert","replica_id":2,"seq":0,"lamport":1}"#,
            "missing field `text`",
        ),
        (
            r#"{"kind":"delete","replica_id":2,"seq":0,"lamport":1,"len":1}"#,
            "missing field `target`",
        ),
        (
            r#"{"kind":"delete","replica_id":2,"seq":0,"lamport":1,"target":{"lamport":1,"replica_id":2}}"#,
            "missing field `len`",
        ),
        (
            r#"{"replica_id":2,"seq":0,"lamport":1,"text":"a"}"#,
            "missing field `kind`",
        ),
        (
            r#"{"kind":"insert","replica_id":-2,"seq":0,"lamport":1,"text":"a"}"#,
            "invalid value",
        ),
    ] {
        let err = parse(json).unwrap_err().to_string();
        assert!(err.contains(why), "{json}: {err}");
    }
    // What is written reads back the same.
    for op in [insert, delete] {
        assert_eq!(parse(&serde_json::to_string(&op).unwrap()).unwrap(), op);
    }
}

fn refusal(code: ErrorCode, seq: u64, retry_after_ms: Option<u64>) -> ServerMessage {
    let ServerMessage::Error(mut e) = code.message("refused") else {
        unreachable!()
    };
    e.index = Some(0);
    e.seq = Some(seq);
    e.retry_after_ms = retry_after_ms;
    ServerMessage::Error(e)
}

#[test]
fn every_hello_carries_the_token_set_last() {
    let mut s = ClientSession::new("d", 1).unwrap();
    let token = |msg: ClientMessage| match msg {
        ClientMessage::Hello(h) => h.token,
        other => panic!("expected hello, got {other:?}"),
    };
    assert_eq!(token(s.connect()), None);
    s.set_token(Some("t1".into()));
    assert_eq!(token(s.connect()).as_deref(), Some("t1"));
    s.disconnected();
    s.set_token(Some("t2".into()));
    assert_eq!(token(s.connect()).as_deref(), Some("t2"));
}

#[test]
fn a_rate_limited_batch_is_kept_and_sent_again_after_resume() {
    let mut s = ClientSession::new("d", 1).unwrap();
    s.connect();
    ack(&mut s, 0, Resync::Replay);
    s.insert(0, "a").unwrap();
    let first = sent_ops(s.poll_send());
    s.insert(1, "b").unwrap();
    let second = sent_ops(s.poll_send());
    // The relay accepted the first message and refused the second.
    s.receive(echo(1, &first[0])).unwrap();
    let event = s
        .receive(refusal(ErrorCode::RateLimited, second[0].seq(), Some(250)))
        .unwrap();
    assert!(matches!(event, Event::Error(e) if e.retry_after_ms == Some(250)));
    assert_eq!(s.unacked(), 1, "the refused edit stays in the outbox");
    assert_eq!(s.doc().text(), "ab", "and in the text");
    assert!(s.is_held());
    s.insert(2, "c").unwrap();
    assert_eq!(s.poll_send(), None, "nothing goes out before resume");
    s.resume();
    let again = sent_ops(s.poll_send());
    assert_eq!(again.len(), 2, "the refused edit and the later one");
    assert_eq!(again[0], second[0]);
    assert_eq!(s.status(), Status::Live, "the connection is kept");
}

#[test]
fn a_read_only_client_keeps_its_edits_unsent_until_it_may_write() {
    let mut s = ClientSession::new("d", 1).unwrap();
    s.connect();
    s.receive(ServerMessage::HelloAck(collab_crdt::sync::HelloAck {
        doc_id: "d".into(),
        replica_id: 1,
        server_seq: ServerSeq(0),
        epoch: "e".into(),
        resync: Resync::Replay,
        read_only: true,
    }))
    .unwrap();
    assert!(s.is_read_only());
    s.insert(0, "x").unwrap();
    assert_eq!(s.poll_send(), None, "a reader sends nothing");
    s.disconnected();
    assert!(s.is_read_only(), "still read-only while offline");
    s.connect();
    ack(&mut s, 0, Resync::Replay);
    assert!(!s.is_read_only(), "a writer's hello_ack lifts it");
    assert_eq!(sent_ops(s.poll_send()).len(), 1, "the kept edit goes out");
}

#[test]
fn a_read_only_refusal_keeps_the_edit() {
    let mut s = ClientSession::new("d", 1).unwrap();
    s.connect();
    ack(&mut s, 0, Resync::Replay);
    s.insert(0, "x").unwrap();
    let ops = sent_ops(s.poll_send());
    let event = s
        .receive(refusal(ErrorCode::ReadOnly, ops[0].seq(), None))
        .unwrap();
    assert!(matches!(event, Event::Error(_)), "not dropped: {event:?}");
    assert_eq!(s.unacked(), 1);
    assert_eq!(s.doc().text(), "x");
    assert!(s.is_read_only());
    assert_eq!(s.poll_send(), None);
}

#[test]
fn server_messages_are_routed_by_type_whatever_its_spelling() {
    // An escaped `type` names the same message.
    let escaped = r#"{"type":"err\u006fr","code":"not_found","message":"m","fatal":false}"#;
    let ServerMessage::Error(e) = ServerMessage::from_json(escaped).unwrap() else {
        panic!("an error message")
    };
    assert_eq!(e.code, "not_found");
    // JSON that is not a message object is a wrong message, not bad JSON.
    for wrong in [
        r#"["error","invalid_message",true]"#,
        "42",
        r#"{"code":"x"}"#,
        r#"{"type":"surprise"}"#,
        r#"{"type":7}"#,
    ] {
        assert_eq!(
            ServerMessage::from_json(wrong).unwrap_err().code,
            ErrorCode::InvalidMessage,
            "{wrong}"
        );
    }
    for broken in [r#"{"type":"error""#, "[", "nope"] {
        assert_eq!(
            ServerMessage::from_json(broken).unwrap_err().code,
            ErrorCode::MalformedJson,
            "{broken}"
        );
    }
}
