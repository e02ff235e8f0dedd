#![no_main]
//! Any bytes as an mbox export: split, listed and read back.

use libfuzzer_sys::fuzz_target;
use mailferry::archive::{MboxStore, MessageStore};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("INBOX.mbox");
    std::fs::write(&file, data).unwrap();
    if let Ok(store) = MboxStore::open(&file)
        && let Ok(folders) = store.folders()
    {
        for f in folders {
            for m in f.messages {
                let _ = store.read(&f.name, m.id);
            }
        }
    }
});
