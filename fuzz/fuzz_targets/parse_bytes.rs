//! Arbitrary bytes into the strict 0.0.4 parser: it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| telemeter_fuzz::parse_bytes_target(data));
