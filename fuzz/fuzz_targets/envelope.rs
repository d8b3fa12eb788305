//! Any bytes as a webhook body: no panic, and what parses round-trips (see `checks::envelope`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wabahook_receiver::checks::envelope(data);
});
