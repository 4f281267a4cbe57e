//! Fuzz target: arbitrary sequences of edits, deliveries and hostile ops.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| collab_crdt::fuzzing::run_ops(data));
