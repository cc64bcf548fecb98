#![no_main]
// See supportprobe::fuzzing::webhook_verify for the input layout and the invariants checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| supportprobe::fuzzing::webhook_verify(data));
