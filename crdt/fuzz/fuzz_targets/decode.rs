//! Fuzz target: arbitrary bytes decoded as a snapshot and loaded.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| collab_crdt::fuzzing::run_decode(data));
