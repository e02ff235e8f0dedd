#![no_main]
//! Any bytes as one untagged response from a server: FETCH and LIST handling.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (fetch, list) = mailferry::imap::session::interpret(data);
    if let Some(l) = list {
        let _ = mailferry::mapping::ListedFolder::from_list(
            &l.wire,
            l.delimiter.as_deref(),
            l.role,
            l.noselect,
            None,
        );
    }
    if let Some(r) = fetch
        && let (Some(h), Some(size)) = (r.header.as_deref(), r.size)
    {
        let _ = mailferry::fingerprint::Fingerprint::from_fetch(
            h,
            r.text.as_deref().unwrap_or_default(),
            size as u64,
        );
    }
});
