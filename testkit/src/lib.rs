//! `collab-testkit`: what tests and benchmarks share, so that none of them
//! keeps a copy or reaches into another crate's files.
//!
//! - [`rng`]: a small seeded random number generator (repeatable runs).
//! - [`trace`]: loading and replaying Joseph Gentle's editing traces.
//! - [`postgres`]: where the PostgreSQL tests find their database.

pub mod postgres;
pub mod rng;
pub mod trace;

pub use rng::Rng;
