//! Arbitrary bytes as a scraper's `Accept` header: never a panic, and the
//! negotiation's rules hold whatever the header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    telemeter_fuzz::targets::accept_target(data);
});
