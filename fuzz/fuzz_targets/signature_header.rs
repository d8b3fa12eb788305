//! Any `X-Hub-Signature-256` value against any body: no panic, and only the right signature
//! verifies (see `checks::signature_header`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (&str, &[u8])| {
    let (header, body) = input;
    wabahook_receiver::checks::signature_header(header, body);
});
