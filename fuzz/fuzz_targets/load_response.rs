//! Arbitrary bytes (after a flags byte: gzip, validate) as a server's whole
//! answer to `telemeter load`: no panic, no hang, the gzip budget given back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    telemeter_cli::fuzzing::load_response(data);
});
