//! Any text as a seed file, JSON and TOML: a seed or a parse error, never a panic, and a JSON
//! seed written as TOML parses the same (see `wabahook_domain::checks::seed`).
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    wabahook_domain::checks::seed(text);
});
