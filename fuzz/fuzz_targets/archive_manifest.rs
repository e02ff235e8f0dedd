#![no_main]
//! Any bytes as an archive's manifest, over real data files: replayed, listed, checked and
//! read back.

use libfuzzer_sys::fuzz_target;
use mailferry::archive::{ArchiveStore, MessageStore};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("manifest.jsonl"), data).unwrap();
    if let Ok(store) = ArchiveStore::open(dir.path())
        && let Ok(folders) = store.folders()
    {
        for f in folders {
            for m in f.messages {
                let _ = store.read(&f.name, m.id);
            }
        }
    }
    let _ = mailferry::archive::check(dir.path());
    let _ = mailferry::archive::list(dir.path());
});
