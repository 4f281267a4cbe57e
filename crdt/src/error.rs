//! The crate's error type: every way an edit, a remote operation or a snapshot can be refused.

use crate::id::Id;

/// Why an operation was refused. When a method returns an error the
/// document is exactly as it was before the call, except that
/// [`crate::Doc::apply_all`] and [`crate::Doc::merge_from`] keep the
/// operations applied before the failing one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{field} {value} is above 2^53 - 1, the largest integer JavaScript holds exactly")]
    IdTooLarge { field: &'static str, value: u64 },

    #[error("replica id 0 is reserved for the document start")]
    ReservedReplica,

    #[error("an operation must cover at least one character")]
    EmptyOp,

    #[error("position {pos} is past the end of the document (length {len})")]
    PositionOutOfRange { pos: usize, len: usize },

    #[error("UTF-16 offset {offset} falls inside a surrogate pair")]
    SplitSurrogate { offset: usize },

    #[error(
        "operation {replica_id}:{seq} differs from the operation already applied with the same id"
    )]
    ConflictingOp { replica_id: u64, seq: u64 },

    #[error("operation at lamport {lamport} must come after {dependency}, which it depends on")]
    CausalityViolation { lamport: u64, dependency: Id },

    #[error(
        "operation {replica_id}:{seq} has lamport {lamport}, not above {last}, the lamport that replica already reached"
    )]
    LamportRegressed {
        replica_id: u64,
        seq: u64,
        lamport: u64,
        last: u64,
    },

    #[error("character {id} does not exist: its replica has moved past it without creating it")]
    UnknownId { id: Id },

    #[error(
        "operation {replica_id}:{seq} depends on units of replica {waits_for} that have not arrived"
    )]
    MissingDependency {
        replica_id: u64,
        seq: u64,
        waits_for: u64,
    },

    #[error("the buffer of operations waiting for their dependencies is full ({limit} operations)")]
    BufferFull { limit: usize },

    #[error("the lamport clock or sequence number would pass 2^53 - 1")]
    ClockExhausted,

    #[error(
        "the document would exceed {limit} characters (or 4 GiB of text) including deleted ones"
    )]
    DocumentTooLarge { limit: u64 },

    #[error("invalid snapshot: {0}")]
    Decode(#[from] DecodeError),
}

impl Error {
    /// A stable, machine-readable name for the error, used on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            Error::IdTooLarge { .. } => "id_too_large",
            Error::ReservedReplica => "reserved_replica",
            Error::EmptyOp => "empty_op",
            Error::PositionOutOfRange { .. } => "position_out_of_range",
            Error::SplitSurrogate { .. } => "split_surrogate",
            Error::ConflictingOp { .. } => "conflicting_op",
            Error::CausalityViolation { .. } => "causality_violation",
            Error::LamportRegressed { .. } => "lamport_regressed",
            Error::UnknownId { .. } => "unknown_id",
            Error::MissingDependency { .. } => "missing_dependency",
            Error::BufferFull { .. } => "buffer_full",
            Error::ClockExhausted => "clock_exhausted",
            Error::DocumentTooLarge { .. } => "document_too_large",
            Error::Decode(_) => "invalid_snapshot",
        }
    }
}

/// Why snapshot bytes could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("not a collab-crdt snapshot (bad magic bytes)")]
    BadMagic,
    #[error("unsupported snapshot format version {0}")]
    UnsupportedVersion(u8),
    #[error("the data ends before the {0} it announces")]
    Truncated(&'static str),
    #[error("a compressed section is corrupt")]
    Compression,
    #[error("a section is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    #[error("text is not valid UTF-8")]
    Utf8,
    #[error("{0} bytes follow the end of the snapshot")]
    TrailingBytes(usize),
    #[error("the operations do not form a consistent history: {0}")]
    Inconsistent(&'static str),
}
