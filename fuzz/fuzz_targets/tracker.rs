//! libFuzzer's entry for the `tracker` target of tests/fuzz (the same code).
#![no_main]

use tcpladder_fuzz::targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    targets::tracker(data, &mut targets::Features::default());
});
