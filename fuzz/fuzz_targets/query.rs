//! Arbitrary bytes as an admin request's query string: never a panic, and
//! an accepted query survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    telemeter_fuzz::targets::query_target(data);
});
