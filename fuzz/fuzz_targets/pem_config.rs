//! The server's file inputs as bytes: PEM certificates and keys (the dev PKI's reader, the
//! extra CAs of deliveries, the HTTPS acceptor) and the configuration file; values or named
//! errors, never a panic (see `wabahook_server::checks`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (&[u8], &[u8], &str)| {
    let (cert, key, config) = input;
    wabahook_server::checks::pem(cert, key);
    wabahook_server::checks::config(config);
});
