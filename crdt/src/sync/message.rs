//! The messages of the sync protocol and their JSON codec (see `docs/protocol.md`).

use alloc::borrow::{Cow, ToOwned};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

#[cfg(feature = "presence")]
use alloc::boxed::Box;
use serde::{Deserialize, Serialize};
#[cfg(feature = "presence")]
use serde_json::value::RawValue;

#[cfg(feature = "presence")]
use crate::anchor::Selection;
use crate::op::Op;

/// A position in a document's server log: the `n`th operation the relay
/// accepted for that document has `server_seq` `n`, starting at 1; 0 means
/// "nothing yet". A newtype so that it is never mixed up with a lamport or a
/// per-replica `seq`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct ServerSeq(pub u64);

impl ServerSeq {
    pub const ZERO: ServerSeq = ServerSeq(0);

    pub fn next(self) -> ServerSeq {
        ServerSeq(self.0 + 1)
    }
}

impl fmt::Display for ServerSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Hello(Hello),
    Op(OpBatch),
    /// Decoded by [`ClientMessage::from_json`] straight into its struct:
    /// serde cannot buffer the raw `data` of a tagged enum's variant.
    #[cfg(feature = "presence")]
    #[serde(skip_deserializing)]
    Presence(Presence),
}

/// The first message on every connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub doc_id: String,
    /// The replica this client edits as. Two live clients of one document
    /// must never share it; a second connection with the same id replaces
    /// the first (close code 4009).
    pub replica_id: u64,
    /// The last `server_seq` this client integrated; absent when it holds
    /// no server state yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_server_seq: Option<ServerSeq>,
    /// The `epoch` of the history `last_seen_server_seq` counts in, as the
    /// server last announced it. A different epoch means the count restarted,
    /// so replay would be wrong and the server sends a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// How a `snapshot` should carry the document; `bytes` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_format: Option<SnapshotFormat>,
    /// A JWT granting access to `doc_id` (`docs/security.md`); required
    /// when the relay has a verification key, ignored when it runs open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `true`: send this client the presence of the others (`presence`
    /// and `presence_removed` messages). Absent for clients that do not
    /// know those messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<bool>,
}

/// The two encodings of a `snapshot` message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotFormat {
    /// `data`: the compact byte format of [`crate::Doc::encode`], base64.
    #[default]
    Bytes,
    /// `ops`: the canonical history as operations, to apply in order: any
    /// client that can apply `op_echo` can load it.
    Ops,
}

/// One or more operations from a client, applied in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpBatch {
    pub ops: Vec<Op>,
}

#[cfg(feature = "presence")]
/// A client's presence: its selections, kept as anchors so that they
/// follow every edit, and what the application says about its user (a name,
/// a colour). Ephemeral: the relay keeps only the latest per connection and
/// never logs or stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// Carets and ranges; a caret's `anchor` equals its `head`.
    #[serde(default)]
    pub selections: Vec<Selection>,
    /// Application-defined; forwarded as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<JsonObject>,
}

#[cfg(feature = "presence")]
/// A JSON object kept as its text: the relay forwards it without decoding
/// it, and the browser package hands it to JavaScript as it came.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct JsonObject(Box<RawValue>);

#[cfg(feature = "presence")]
impl JsonObject {
    /// `text` if it is one JSON object.
    pub fn parse(text: &str) -> Result<JsonObject, ParseError> {
        serde_json::from_str(text).map_err(|e| ParseError {
            code: ErrorCode::InvalidMessage,
            detail: alloc::format!("{e}"),
        })
    }

    /// The object's JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

#[cfg(feature = "presence")]
impl PartialEq for JsonObject {
    fn eq(&self, other: &JsonObject) -> bool {
        self.get() == other.get()
    }
}

#[cfg(feature = "presence")]
impl Eq for JsonObject {}

#[cfg(feature = "presence")]
impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<JsonObject, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        if !raw.get().starts_with('{') {
            return Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Other(raw.get()),
                &"a JSON object",
            ));
        }
        Ok(JsonObject(raw))
    }
}

/// What the server sends. Read with [`ServerMessage::from_json`], which
/// routes by `type` and decodes each message straight into its struct.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    HelloAck(HelloAck),
    Snapshot(SnapshotMessage),
    OpEcho(OpEcho),
    Error(ErrorMessage),
    #[cfg(feature = "presence")]
    Presence(PresenceUpdate),
    #[cfg(feature = "presence")]
    PresenceRemoved(PresenceRemoved),
}

#[cfg(feature = "presence")]
/// Another member's presence, as it last sent it (the latest wins).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceUpdate {
    pub replica_id: u64,
    /// The `sub` (the user) of the token the member showed, when the relay
    /// checks tokens; absent on a relay that runs open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub selections: Vec<Selection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<JsonObject>,
}

#[cfg(feature = "presence")]
/// A member's presence is gone: its connection ended, or it sent none
/// within the presence TTL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceRemoved {
    pub replica_id: u64,
}

/// The answer to `hello`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloAck {
    pub doc_id: String,
    pub replica_id: u64,
    /// The document's head: the `server_seq` of the last operation accepted.
    pub server_seq: ServerSeq,
    /// Names the history `server_seq` counts in; see [`Hello::epoch`].
    pub epoch: String,
    pub resync: Resync,
    /// Set when the client's token grants reading only: every `op` it
    /// sends is refused with `read_only`. Absent means it may write.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How a client is brought up to the head after `hello_ack`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resync {
    /// `op_echo` messages for every `server_seq` after the client's
    /// `last_seen_server_seq`, up to the head (none when it is current).
    Replay,
    /// One `snapshot` message with the state at the head.
    Snapshot,
}

/// The whole document at `server_seq`: exactly one of `data` (the byte
/// format of [`crate::Doc::encode`], base64) or `ops` (the canonical
/// history), as `hello.snapshot_format` asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMessage {
    pub doc_id: String,
    pub server_seq: ServerSeq,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops: Option<Vec<Op>>,
}

/// An accepted operation, with its place in the log and the replica whose
/// connection sent it. Sent to every client of the document, the sender
/// included: that is how a client learns its operation was accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpEcho {
    pub server_seq: ServerSeq,
    pub replica_id: u64,
    pub op: Op,
}

/// Something went wrong. When `fatal` is set, the server closes the
/// connection right after with the close code in `close_code`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// Stable, machine-readable; see [`ErrorCode`].
    pub code: String,
    /// For humans; wording may change.
    pub message: String,
    pub fatal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_code: Option<u16>,
    /// For a refused operation: its index in the `op` message's `ops`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// For a refused operation: its `seq` (its replica is the connection's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// With `rate_limited`: milliseconds to wait before sending again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorMessage {
    /// The code as this side knows it; `None` for a code from a newer peer.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }
}

impl ClientMessage {
    pub fn to_json(&self) -> String {
        // Serializing these types into a string cannot fail: every map key
        // is a string and every value is plain data.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses one text frame. The error says what was wrong in terms a
    /// server can answer with (see [`ErrorCode`]).
    pub fn from_json(text: &str) -> Result<ClientMessage, ParseError> {
        check_nesting(text)?;
        // The hot path, and the shape this codec writes: `type` first.
        // Decoding the struct directly skips serde's buffering of tagged
        // enums; anything unusual falls through to the general path.
        if text.starts_with(r#"{"type":"op","#)
            && let Ok(batch) = serde_json::from_str::<OpBatch>(text)
        {
            return Ok(ClientMessage::Op(batch));
        }
        #[cfg(feature = "presence")]
        if message_type(text).as_deref() == Some("presence") {
            return serde_json::from_str(text)
                .map(ClientMessage::Presence)
                .map_err(|e| ParseError::new(text, &e, CLIENT_TYPES));
        }
        serde_json::from_str(text).map_err(|e| ParseError::new(text, &e, CLIENT_TYPES))
    }

    /// Parses the first frame of a connection, which must be `hello`. The
    /// checks go in the order of `docs/protocol.md` §6: bad JSON, no
    /// `type`, then any `type` but `hello` (known or not) is
    /// `hello_required`, then a bad field of `hello` is `invalid_message`.
    pub fn from_json_first(text: &str) -> Result<Hello, ParseError> {
        check_nesting(text)?;
        let required = || ParseError {
            code: ErrorCode::HelloRequired,
            detail: "the first message must be hello".into(),
        };
        match serde_json::from_str::<ClientMessage>(text) {
            Ok(ClientMessage::Hello(hello)) => Ok(hello),
            Ok(_) => Err(required()),
            Err(e) => match classify(text, &e, CLIENT_TYPES) {
                (ErrorCode::UnknownType | ErrorCode::InvalidMessage, Some(ty)) if ty != "hello" => {
                    Err(required())
                }
                (code, _) => Err(ParseError {
                    code,
                    detail: alloc::format!("{e}"),
                }),
            },
        }
    }
}

impl ServerMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses one text frame from the server. Any error means the server
    /// broke the protocol: `malformed_json` when the frame is not JSON,
    /// else `invalid_message` (a missing or unknown `type` included).
    pub fn from_json(text: &str) -> Result<ServerMessage, ParseError> {
        // Every remote keystroke arrives as an `op_echo`: decode it straight
        // into its struct, as `ClientMessage::from_json` does for `op`.
        if text.starts_with(r#"{"type":"op_echo","#)
            && let Ok(echo) = serde_json::from_str::<OpEcho>(text)
        {
            return Ok(ServerMessage::OpEcho(echo));
        }
        // The others are routed by `type` and decoded straight into their
        // struct too: serde's internally tagged enums buffer every field
        // before choosing the variant, code the browser package carried
        // for nothing else.
        fn decode<'a, T: Deserialize<'a>>(
            text: &'a str,
            wrap: fn(T) -> ServerMessage,
        ) -> Result<ServerMessage, ParseError> {
            serde_json::from_str(text)
                .map(wrap)
                .map_err(|e| ParseError::from_server(&e))
        }
        let probe = match serde_json::from_str::<Probe<'_>>(text) {
            Ok(probe) => probe,
            // JSON that is not an object (an array, a number) is a wrong
            // message, not bad JSON.
            Err(e) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
                return Err(ParseError {
                    code: ErrorCode::InvalidMessage,
                    detail: alloc::format!("{e}"),
                });
            }
            Err(e) => return Err(ParseError::from_server(&e)),
        };
        match probe.ty.as_deref() {
            Some("hello_ack") => decode(text, ServerMessage::HelloAck),
            Some("snapshot") => decode(text, ServerMessage::Snapshot),
            Some("op_echo") => decode(text, ServerMessage::OpEcho),
            Some("error") => decode(text, ServerMessage::Error),
            #[cfg(feature = "presence")]
            Some("presence") => decode(text, ServerMessage::Presence),
            #[cfg(feature = "presence")]
            Some("presence_removed") => decode(text, ServerMessage::PresenceRemoved),
            Some(other) => Err(ParseError {
                code: ErrorCode::InvalidMessage,
                detail: alloc::format!("unknown message type `{other}`"),
            }),
            None => Err(ParseError {
                code: ErrorCode::InvalidMessage,
                detail: "a message needs a string `type`".into(),
            }),
        }
    }
}

/// The `type`s a client sends that this side knows.
#[cfg(feature = "presence")]
const CLIENT_TYPES: &[&str] = &["hello", "op", "presence"];
#[cfg(not(feature = "presence"))]
const CLIENT_TYPES: &[&str] = &["hello", "op"];

/// A message's `type`, the rest of it skipped; borrowed unless it holds
/// an escape (`"err\u006fr"` is `error` too).
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "type", borrow, default)]
    ty: Option<Cow<'a, str>>,
}

/// The `type` of a message, when it is a JSON object with a string `type`:
/// how messages that serde cannot decode as a tagged enum are routed.
fn message_type(text: &str) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Probe<'_>>(text).ok()?.ty
}

/// How deep a message's arrays and objects may nest: a message nested
/// `MAX_NESTING` levels deep (its own object counting as one) or more is
/// `malformed_json`, wherever the nesting is, ignored fields included.
pub const MAX_NESTING: usize = 128;

/// Refuses text nested [`MAX_NESTING`] levels deep or more. serde_json
/// enforces its own limit of the same depth only on values it decodes, not
/// on fields it skips; this scan makes the rule hold everywhere.
fn check_nesting(text: &str) -> Result<(), ParseError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth >= MAX_NESTING {
                    return Err(ParseError {
                        code: ErrorCode::MalformedJson,
                        detail: alloc::format!("nested {MAX_NESTING} levels deep or more"),
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Why a text frame is not a valid message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub code: ErrorCode,
    pub detail: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl core::error::Error for ParseError {}

impl ParseError {
    /// For a server's message a client needs no finer code than this: any
    /// of them means the server broke the protocol, and the answer is to
    /// reconnect. (The finer look of [`classify`] costs the browser
    /// package code it has no use for.)
    fn from_server(err: &serde_json::Error) -> ParseError {
        ParseError {
            code: if err.is_data() {
                ErrorCode::InvalidMessage
            } else {
                ErrorCode::MalformedJson
            },
            detail: alloc::format!("{err}"),
        }
    }

    fn new(text: &str, err: &serde_json::Error, types: &[&str]) -> ParseError {
        let (code, _) = classify(text, err, types);
        ParseError {
            code,
            detail: alloc::format!("{err}"),
        }
    }
}

/// Whether serde_json refused the text as JSON (not its content). A number
/// beyond what a 64-bit float holds (`1e400`) is valid JSON out of range:
/// serde_json files it under syntax, the protocol under `invalid_message`.
fn is_syntax(err: &serde_json::Error) -> bool {
    !err.is_data() && !alloc::format!("{err}").starts_with("number out of range")
}

/// The protocol's code for a frame serde_json refused, and its `type` when
/// it could be read. Only on the error path: a second, lenient look tells
/// bad JSON from a missing or unknown type and from a bad field, in that
/// order (`docs/protocol.md` §6).
fn classify(text: &str, err: &serde_json::Error, types: &[&str]) -> (ErrorCode, Option<String>) {
    if is_syntax(err) {
        return (ErrorCode::MalformedJson, None);
    }
    // The typed decode may stop at a mistyped value before reaching a
    // syntax error further on (`[` alone); nesting was checked before.
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Err(e) if is_syntax(&e) => return (ErrorCode::MalformedJson, None),
        Err(_) => return (ErrorCode::InvalidMessage, None),
        Ok(_) => {}
    }
    match message_type(text) {
        None => (ErrorCode::MissingType, None),
        Some(ty) if !types.contains(&&*ty) => (ErrorCode::UnknownType, Some(ty.into_owned())),
        Some(ty) => (ErrorCode::InvalidMessage, Some(ty.into_owned())),
    }
}

/// Every stable code an `error` message can carry: the protocol's own and
/// the reasons an operation is refused. One enum for the relay, the client
/// session and the browser package, so that a code, whether the connection
/// survives it and its close code are written down once (and checked
/// against the tables of `docs/protocol.md` §6-§7 by `crdt/tests/sync.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not JSON, truncated, or nested 128 levels deep or more.
    MalformedJson,
    /// Not a JSON object with a string `type`.
    MissingType,
    UnknownType,
    /// Known `type`, but a field is missing, mistyped or out of range.
    InvalidMessage,
    BinaryFrame,
    MessageTooLarge,
    /// Anything but `hello` as the first message.
    HelloRequired,
    DuplicateHello,
    HelloTimeout,
    IdleTimeout,
    InvalidDocId,
    /// `replica_id` is 0 or above 2^53 - 1.
    InvalidReplicaId,
    TooManyConnections,
    /// The relay's store is not keeping up; reconnect after a backoff.
    Overloaded,
    /// The client did not read fast enough; it should reconnect and replay.
    TooSlow,
    /// The same replica connected again; this connection is stale.
    Superseded,
    /// `hello` without a valid token for its document (the relay has a
    /// verification key): no room is loaded for it.
    Unauthorized,
    /// The token's `exp` passed: at `hello`, or while connected (accepted
    /// edits stay). Fetch a new token and reconnect.
    TokenExpired,
    ServerShutdown,
    Internal,
    /// The connection's token grants reading only. Not for good: the
    /// client keeps the edit, which a connection with write access sends.
    ReadOnly,
    /// The connection sent operations faster than its rate limit; nothing
    /// of the message was accepted. Not for good: send it again after the
    /// error's `retry_after_ms`.
    RateLimited,
    /// An operation made by another replica than the connection's.
    WrongReplica,
    /// The operation would take the document past its size or history
    /// limit. Refused for good: the client drops the operation.
    DocumentTooLarge,
    /// The operation's lamport is further ahead of the document's clock
    /// than the clock rule of `docs/crdt.md` §3 allows. Refused for good.
    LamportTooFarAhead,
    /// Something the operation depends on is not accepted yet; may pass
    /// once it is.
    MissingDependency,
    UnknownId,
    ConflictingOp,
    LamportRegressed,
    CausalityViolation,
    IdTooLarge,
    ReservedReplica,
    EmptyOp,
    /// A `presence` message above the relay's size limit; the previous
    /// presence stays.
    PresenceTooLarge,
}

impl ErrorCode {
    /// Every code, in the order of the table in `docs/protocol.md` §6.
    pub const ALL: [ErrorCode; 34] = [
        ErrorCode::MalformedJson,
        ErrorCode::MissingType,
        ErrorCode::UnknownType,
        ErrorCode::InvalidMessage,
        ErrorCode::InvalidDocId,
        ErrorCode::InvalidReplicaId,
        ErrorCode::HelloRequired,
        ErrorCode::DuplicateHello,
        ErrorCode::HelloTimeout,
        ErrorCode::IdleTimeout,
        ErrorCode::TooSlow,
        ErrorCode::Superseded,
        ErrorCode::Unauthorized,
        ErrorCode::TokenExpired,
        ErrorCode::BinaryFrame,
        ErrorCode::MessageTooLarge,
        ErrorCode::TooManyConnections,
        ErrorCode::Overloaded,
        ErrorCode::ServerShutdown,
        ErrorCode::Internal,
        ErrorCode::ReadOnly,
        ErrorCode::RateLimited,
        ErrorCode::WrongReplica,
        ErrorCode::DocumentTooLarge,
        ErrorCode::LamportTooFarAhead,
        ErrorCode::MissingDependency,
        ErrorCode::UnknownId,
        ErrorCode::ConflictingOp,
        ErrorCode::LamportRegressed,
        ErrorCode::CausalityViolation,
        ErrorCode::IdTooLarge,
        ErrorCode::ReservedReplica,
        ErrorCode::EmptyOp,
        ErrorCode::PresenceTooLarge,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::MissingType => "missing_type",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::BinaryFrame => "binary_frame",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::HelloRequired => "hello_required",
            ErrorCode::DuplicateHello => "duplicate_hello",
            ErrorCode::HelloTimeout => "hello_timeout",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::InvalidDocId => "invalid_doc_id",
            ErrorCode::InvalidReplicaId => "invalid_replica_id",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::TooSlow => "too_slow",
            ErrorCode::Superseded => "superseded",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServerShutdown => "server_shutdown",
            ErrorCode::Internal => "internal_error",
            ErrorCode::WrongReplica => "wrong_replica",
            ErrorCode::DocumentTooLarge => "document_too_large",
            ErrorCode::LamportTooFarAhead => "lamport_too_far_ahead",
            ErrorCode::MissingDependency => "missing_dependency",
            ErrorCode::UnknownId => "unknown_id",
            ErrorCode::ConflictingOp => "conflicting_op",
            ErrorCode::LamportRegressed => "lamport_regressed",
            ErrorCode::CausalityViolation => "causality_violation",
            ErrorCode::IdTooLarge => "id_too_large",
            ErrorCode::ReservedReplica => "reserved_replica",
            ErrorCode::EmptyOp => "empty_op",
            ErrorCode::PresenceTooLarge => "presence_too_large",
        }
    }

    /// The code a wire string names, if this side knows it.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// The code an operation refused by the CRDT gets on the wire.
    pub fn of(error: &crate::Error) -> ErrorCode {
        use crate::Error as E;
        match error {
            E::IdTooLarge { .. } | E::ClockExhausted => ErrorCode::IdTooLarge,
            E::ReservedReplica => ErrorCode::ReservedReplica,
            E::EmptyOp => ErrorCode::EmptyOp,
            E::ConflictingOp { .. } => ErrorCode::ConflictingOp,
            E::CausalityViolation { .. } => ErrorCode::CausalityViolation,
            E::LamportRegressed { .. } => ErrorCode::LamportRegressed,
            E::UnknownId { .. } => ErrorCode::UnknownId,
            E::MissingDependency { .. } | E::BufferFull { .. } => ErrorCode::MissingDependency,
            E::DocumentTooLarge { .. } => ErrorCode::DocumentTooLarge,
            _ => ErrorCode::InvalidMessage,
        }
    }

    /// Whether an operation refused with this code can never be accepted,
    /// however often it is sent again: the client drops it (see
    /// `docs/protocol.md` §5). `missing_dependency` may pass later, and
    /// `read_only` and `rate_limited` refuse the connection, not the edit.
    pub const fn refused_for_good(self) -> bool {
        !matches!(
            self,
            ErrorCode::MissingDependency | ErrorCode::ReadOnly | ErrorCode::RateLimited
        )
    }

    /// The WebSocket close code that ends the connection after this error,
    /// or `None` when the connection survives it.
    pub const fn close_code(self) -> Option<u16> {
        match self {
            ErrorCode::ServerShutdown => Some(close::GOING_AWAY),
            ErrorCode::BinaryFrame => Some(close::UNSUPPORTED_DATA),
            ErrorCode::MessageTooLarge => Some(close::MESSAGE_TOO_BIG),
            ErrorCode::Internal => Some(close::INTERNAL_ERROR),
            ErrorCode::MalformedJson
            | ErrorCode::MissingType
            | ErrorCode::UnknownType
            | ErrorCode::InvalidMessage
            | ErrorCode::InvalidDocId
            | ErrorCode::InvalidReplicaId => Some(close::PROTOCOL_ERROR),
            ErrorCode::HelloRequired | ErrorCode::DuplicateHello => Some(close::HANDSHAKE),
            ErrorCode::HelloTimeout => Some(close::HELLO_TIMEOUT),
            ErrorCode::IdleTimeout => Some(close::IDLE_TIMEOUT),
            ErrorCode::TooSlow => Some(close::TOO_SLOW),
            ErrorCode::Superseded => Some(close::SUPERSEDED),
            ErrorCode::Unauthorized => Some(close::UNAUTHORIZED),
            ErrorCode::TokenExpired => Some(close::TOKEN_EXPIRED),
            ErrorCode::TooManyConnections | ErrorCode::Overloaded => Some(close::TRY_AGAIN_LATER),
            ErrorCode::ReadOnly
            | ErrorCode::RateLimited
            | ErrorCode::WrongReplica
            | ErrorCode::DocumentTooLarge
            | ErrorCode::LamportTooFarAhead
            | ErrorCode::MissingDependency
            | ErrorCode::UnknownId
            | ErrorCode::ConflictingOp
            | ErrorCode::LamportRegressed
            | ErrorCode::CausalityViolation
            | ErrorCode::IdTooLarge
            | ErrorCode::ReservedReplica
            | ErrorCode::EmptyOp
            | ErrorCode::PresenceTooLarge => None,
        }
    }

    /// The `error` message for this code; fatal exactly when it closes.
    pub fn message(self, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error(ErrorMessage {
            code: self.as_str().to_owned(),
            message: message.into(),
            fatal: self.close_code().is_some(),
            close_code: self.close_code(),
            index: None,
            seq: None,
            retry_after_ms: None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WebSocket close codes the relay uses. The 1000 range is RFC 6455's; the
/// 4000 range is this protocol's.
pub mod close {
    /// The server is shutting down; reconnect later (to another instance).
    pub const GOING_AWAY: u16 = 1001;
    /// A binary frame: the protocol is JSON text only.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A frame or message above the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server failed (for example its store); reconnect and resync.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The document already has the maximum number of connections.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// Not a valid message: bad JSON, unknown `type`, bad fields.
    pub const PROTOCOL_ERROR: u16 = 4000;
    /// `hello` missing before another message, or sent twice.
    pub const HANDSHAKE: u16 = 4001;
    /// No `hello` within the hello timeout.
    pub const HELLO_TIMEOUT: u16 = 4002;
    /// Nothing received (not even a pong) within the idle timeout.
    pub const IDLE_TIMEOUT: u16 = 4003;
    /// The send queue was full: the client reads too slowly. Reconnect
    /// with `last_seen_server_seq` to replay what was missed.
    pub const TOO_SLOW: u16 = 4008;
    /// Another connection with the same replica id replaced this one.
    pub const SUPERSEDED: u16 = 4009;
    /// No valid token for the document: reconnecting with the same token
    /// cannot help.
    pub const UNAUTHORIZED: u16 = 4010;
    /// The token expired: get a new one, then reconnect.
    pub const TOKEN_EXPIRED: u16 = 4011;
}
