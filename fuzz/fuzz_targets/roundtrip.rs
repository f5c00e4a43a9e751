//! Arbitrary HELP text and label values through registry, encoder and the
//! strict parser: they must come back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemeter_fuzz::{roundtrip_target, RoundTripInput};

fuzz_target!(|input: RoundTripInput| roundtrip_target(input));
