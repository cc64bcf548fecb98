#![no_main]
// See supportprobe::fuzzing::config_parse_render for the input layout and the invariants checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| supportprobe::fuzzing::config_parse_render(data));
