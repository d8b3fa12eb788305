//! Graph parameters from outside: any request parts parse or are refused without a panic, and
//! any parameters read back the same in every encoding, NULs and bad UTF-8 refused alike (see
//! `wabahook_api::graph::checks`).
#![no_main]

type Pairs = Vec<(String, String)>;

libfuzzer_sys::fuzz_target!(|input: (&str, &str, &[u8], Pairs, Pairs, &str)| {
    let (path, content_type, body, query, pairs, boundary) = input;
    wabahook_api::graph::checks::raw(path, content_type, body);
    wabahook_api::graph::checks::round_trip(&query, &pairs, boundary);
    wabahook_api::graph::checks::refusals(&pairs, boundary);
});
