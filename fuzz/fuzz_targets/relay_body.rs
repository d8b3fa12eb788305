//! What a relay ingests, a webhook body and its `X-Hub-Signature-256`: verified over the raw
//! bytes, parsed, and written back in Meta's form byte for byte; a body changed after signing
//! never verifies (see `wabahook_receiver::checks::relay_body`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (&str, &[u8], (usize, u8))| {
    let (header, body, flip) = input;
    wabahook_receiver::checks::relay_body("app-secret", header, body, flip);
});
