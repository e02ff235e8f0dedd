#![no_main]
//! Any bytes as a profile: a value or an error naming the key and line, never a panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = mailferry::profile::Profile::parse(&text, std::path::Path::new("/fuzz/profile.yaml"));
});
