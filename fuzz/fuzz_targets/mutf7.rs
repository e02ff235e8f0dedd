#![no_main]
//! Modified UTF-7 folder names: decoding never panics, and what decodes round-trips.

use libfuzzer_sys::fuzz_target;
use mailferry::imap::mutf7;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = mutf7::decode_lossy(&text);
    if let Ok(name) = mutf7::decode(&text) {
        assert_eq!(mutf7::decode(&mutf7::encode(&name)).as_deref(), Ok(name.as_str()));
    }
});
