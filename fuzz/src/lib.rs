//! The stable harness's modules (tests/fuzz), shared by the three
//! libFuzzer entries in fuzz_targets/: the same code fuzzed either way.

#[allow(dead_code)]
#[path = "../../tests/fuzz/mutate.rs"]
mod mutate;
#[allow(dead_code)]
#[path = "../../tests/fuzz/rng.rs"]
mod rng;
#[allow(dead_code)]
#[path = "../../tests/fuzz/targets.rs"]
pub mod targets;
