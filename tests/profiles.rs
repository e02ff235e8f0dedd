//! Every example profile under profiles/ parses, and says what its comments promise.

use std::path::{Path, PathBuf};

use mailferry::profile::{
    ArchiveFormat, AttachmentFilter, PasswordSource, Profile, Source, Target,
};
use mailferry::providers::TlsMode;

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles")
}

fn load(name: &str) -> Profile {
    let path = profiles_dir().join(name);
    Profile::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_example_profile_parses() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(profiles_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            if let Err(e) = Profile::load(&path) {
                panic!("{e}");
            }
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    for expected in [
        "126-to-qq.yaml",
        "163-to-qq.yaml",
        "backup-nightly.yaml",
        "restore-archive.yaml",
        "restore-mbox.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing: {names:?}"
        );
    }
}

#[test]
fn netease_to_qq_uses_the_presets() {
    for (name, host) in [
        ("163-to-qq.yaml", "imap.163.com"),
        ("126-to-qq.yaml", "imap.126.com"),
    ] {
        let p = load(name);
        let Source::Imap(src) = &p.source else {
            panic!("{name}: {:?}", p.source)
        };
        assert_eq!(src.host, host, "{name}");
        assert_eq!(src.port, 993, "{name}");
        assert_eq!(src.tls, TlsMode::Implicit, "{name}");
        assert!(
            src.provider.is_some_and(|p| p.requires_id),
            "{name}: NetEase needs IMAP ID"
        );
        let Target::Imap(dst) = &p.target else {
            panic!("{name}: {:?}", p.target)
        };
        assert_eq!(dst.provider.map(|p| p.id), Some("qq"), "{name}");
        assert_eq!(
            (dst.host.as_str(), dst.port),
            ("imap.qq.com", 993),
            "{name}"
        );
        assert!(
            p.workers >= 1 && p.workers <= 4,
            "{name}: {} workers",
            p.workers
        );
        assert!(
            p.state_dir.ends_with("profiles/.mailferry"),
            "{:?}",
            p.state_dir
        );
    }

    let p = load("163-to-qq.yaml");
    assert_eq!(p.folders.exclude, ["病毒文件夹"]);
    let Target::Imap(dst) = &p.target else {
        panic!()
    };
    assert_eq!(dst.password, PasswordSource::Env("QQ_AUTH_CODE".into()));

    let p = load("126-to-qq.yaml");
    assert_eq!(p.filters.max_size, Some(50_000_000));
    let Source::Imap(src) = &p.source else {
        panic!()
    };
    assert!(
        matches!(&src.password, PasswordSource::File(f) if f.ends_with(".config/mailferry/126.code")),
        "{:?}",
        src.password
    );
}

#[test]
fn nightly_backup_writes_a_tar_archive_beside_the_profile() {
    let p = load("backup-nightly.yaml");
    let Source::Imap(src) = &p.source else {
        panic!()
    };
    assert_eq!(src.host, "imap.163.com");
    assert_eq!(
        src.password,
        PasswordSource::Command(mailferry::profile::PasswordCommand::Shell(
            "pass show mail/163".into()
        ))
    );
    let Target::Archive(a) = &p.target else {
        panic!("{:?}", p.target)
    };
    assert_eq!(a.path, profiles_dir().join("backups/alice-163"));
    assert_eq!((a.format, a.compression_level), (ArchiveFormat::Tar, 9));
    assert_eq!(p.state_dir, profiles_dir().join("backups/.mailferry"));
    assert_eq!(p.workers, 2);
}

#[test]
fn restores_go_to_qq() {
    let p = load("restore-archive.yaml");
    let Source::Archive { path, .. } = &p.source else {
        panic!("{:?}", p.source)
    };
    assert_eq!(path, &profiles_dir().join("backups/alice-163"));
    assert!(matches!(&p.target, Target::Imap(a) if a.host == "imap.qq.com"));
    assert_eq!(p.folders.include.len(), 3);
    let (since, before) = (p.filters.since.unwrap(), p.filters.before.unwrap());
    assert!(since < before);

    let p = load("restore-mbox.yaml");
    let Source::Mbox { path } = &p.source else {
        panic!("{:?}", p.source)
    };
    assert!(path.starts_with(profiles_dir()), "{path:?}");
    assert!(path.ends_with("All mail Including Spam and Trash.mbox"));
    assert!(matches!(&p.target, Target::Imap(a) if a.host == "imap.qq.com"));
    assert_eq!(p.filters.attachments, AttachmentFilter::Any);
    assert_eq!(p.filters.max_attachment_size, Some(50_000_000));
}

#[test]
fn a_typo_in_a_profile_file_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.yaml");
    let text = std::fs::read_to_string(profiles_dir().join("163-to-qq.yaml"))
        .unwrap()
        .replace("    user: alice@163.com", "    usr: alice@163.com");
    std::fs::write(&path, &text).unwrap();
    let e = Profile::load(&path).unwrap_err();
    let line = text.lines().position(|l| l.contains("usr:")).unwrap() + 1;
    assert_eq!(e.file, path);
    assert_eq!(e.line, Some(line));
    assert_eq!(e.key.as_deref(), Some("source.imap.usr"));
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!(
            "{} line {line}: source.imap.usr: unknown key; did you mean 'user'?",
            path.display()
        )),
        "{shown}"
    );
}
