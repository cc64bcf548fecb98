#![no_main]
// See supportprobe::fuzzing::mail_parse_classify for the input layout and the invariants checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| supportprobe::fuzzing::mail_parse_classify(data));
