//! Fuzz targets for telemeter, for `cargo fuzz` (`cargo +nightly fuzz run
//! parse_bytes`, `cargo +nightly fuzz run parse_openmetrics`, `cargo
//! +nightly fuzz run roundtrip`).
//!
//! The target bodies are in [`targets`] (`src/targets.rs`), which uses only
//! `std` and `telemeter` so that the main crate's `tests/fuzz_replay.rs` can
//! include it and replay `fuzz/corpus/` on stable Rust. This library adds
//! what needs the fuzzing dependencies: the `arbitrary` input of the
//! round-trip target.

pub mod targets;

pub use targets::{parse_bytes_target, parse_openmetrics_target};

use arbitrary::{Arbitrary, Unstructured};

/// The input of the round-trip target: HELP text and one to three label
/// values.
///
/// It is decoded from the raw fuzz input with
/// [`targets::decode_roundtrip`] (UTF-8, lossily, split on U+0001), not
/// field by field as `#[derive(Arbitrary)]` would: that way a crash file
/// libFuzzer writes means the same thing to `tests/fuzz_replay.rs`, which
/// has no `arbitrary` to decode it with, and replays exactly once copied
/// into `fuzz/corpus/roundtrip/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTripInput {
    /// The HELP text given to the registry.
    pub help: String,
    /// The label values, one to three.
    pub values: Vec<String>,
}

impl RoundTripInput {
    /// Decodes an input from raw bytes, as [`targets::decode_roundtrip`].
    pub fn from_bytes(data: &[u8]) -> Self {
        let (help, values) = targets::decode_roundtrip(data);
        RoundTripInput { help, values }
    }
}

impl<'a> Arbitrary<'a> for RoundTripInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let data = u.bytes(u.len())?;
        Ok(RoundTripInput::from_bytes(data))
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(RoundTripInput::from_bytes(u.take_rest()))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (0, None)
    }
}

/// Runs [`targets::roundtrip_target`] on a decoded input.
pub fn roundtrip_target(input: RoundTripInput) {
    targets::roundtrip_target(&input.help, &input.values);
}
