//! Arbitrary bytes as an admin console's whole answer to `telemeter
//! status`: no panic, no hang, nothing printed with a control character.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    telemeter_cli::fuzzing::status_response(data);
});
