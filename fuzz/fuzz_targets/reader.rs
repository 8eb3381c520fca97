//! libFuzzer's entry for the `reader` target of tests/fuzz (the same code).
#![no_main]

use tcpladder_fuzz::targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    targets::reader(data, &mut targets::Features::default());
});
