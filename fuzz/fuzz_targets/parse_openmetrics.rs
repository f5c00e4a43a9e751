//! Arbitrary bytes into the strict OpenMetrics 1.0 parser: it must never
//! panic, and what it accepts must read back the same once re-rendered.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    telemeter_fuzz::parse_openmetrics_target(data);
});
