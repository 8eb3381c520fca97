//! libFuzzer's entry for the `tracker` target of tests/fuzz (the same code).
#![no_main]

// The stable harness's modules, of which the targets use a part.
#[allow(dead_code)]
#[path = "../../tests/fuzz/mutate.rs"]
mod mutate;
#[allow(dead_code)]
#[path = "../../tests/fuzz/rng.rs"]
mod rng;
#[allow(dead_code)]
#[path = "../../tests/fuzz/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    targets::tracker(data, &mut targets::Features::default());
});
