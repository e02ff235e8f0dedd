//! Encrypted backups end to end: a backup profile holds only the age recipient (the public
//! key), the archive it writes shows no subject, address or folder name, and a restore with
//! the identity (the secret key) is byte-exact with flags and dates.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::*;

const FOLDER: &str = "机密/Project Falcon";
const SUBJECT: &str = "Falcon acquisition terms";
const ADDRESS: &str = "ceo@falcon-holdings.example";

fn keypair(dir: &Path) -> (String, std::path::PathBuf) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let key = dir.join("key.txt");
    fs::write(&key, format!("{}\n", id.to_string().expose_secret())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    (id.to_public().to_string(), key)
}

/// Every byte under `dir`, plus each file decompressed by zstd where it is zstd at all.
fn archive_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.extend(p.to_string_lossy().as_bytes());
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let data = fs::read(&p).unwrap();
            if let Ok(plain) = zstd::decode_all(&data[..]) {
                out.extend(plain);
            }
            out.extend(data);
        }
    }
    out
}

fn seed(src: &TestUser) {
    let secret = format!(
        "From: {ADDRESS}\r\nTo: board@example.org\r\nSubject: {SUBJECT}\r\nMessage-ID: <falcon-1@falcon-holdings.example>\r\n\r\nPrice: 42 million.\r\n"
    );
    src.append(
        FOLDER,
        secret.as_bytes(),
        &["\\Seen", "$Forwarded"],
        Some("07-Jul-2021 02:44:25 +0800"),
    );
    src.append(
        "INBOX",
        b"Subject: lunch\r\n\r\nnoon?\r\n",
        &["\\Flagged"],
        Some("01-Feb-2024 12:00:00 +0800"),
    );
    src.append(
        "INBOX",
        b"Subject: no date\r\n\r\nbody\r\n",
        &[],
        Some("02-Feb-2024 12:00:00 +0800"),
    );
    src.create_mailbox("Falcon empty");
}

#[test]
fn encrypted_backup_hides_the_mail_and_restores_exactly() {
    let d = dovecot();
    let (src, dst) = (d.new_user("encsrc"), d.new_user("encdst"));
    seed(&src);
    let work = tempfile::tempdir().unwrap();
    let (recipient, key) = keypair(work.path());
    let archive = work.path().join("backup");
    let pw = [("SRC_PW", src.password.as_str())];
    let backup = write_profile(
        work.path(),
        &imap_yaml(&src, "SRC_PW"),
        &format!(
            "  archive: {{ path: backup, encryption: {{ recipients: [\"{recipient}\"] }} }}\n"
        ),
    );

    let first = run_profile(&backup, &pw);
    assert_eq!(first.code, 0, "{}", first.output);
    assert_eq!(first.report["copied"], 3, "{}", first.output);
    let again = run_profile(&backup, &pw);
    assert_eq!(
        (again.report["copied"].as_u64(), again.code),
        (Some(0), 0),
        "a rerun with only the public key adds nothing: {}",
        again.output
    );
    src.append("INBOX", b"Subject: later\r\n\r\nnew\r\n", &[], None);
    let third = run_profile(&backup, &pw);
    assert_eq!(third.report["copied"], 1, "{}", third.output);

    let bytes = archive_bytes(&archive);
    for clear in [
        "Falcon",
        "falcon",
        "机密",
        "acquisition",
        "42 million",
        "board@example.org",
        "lunch",
        "Jul-2021",
    ] {
        assert!(
            !bytes.windows(clear.len()).any(|w| w == clear.as_bytes()),
            "{clear:?} can be read in the encrypted archive"
        );
    }

    // `age -d VOLUME | zstd -d` is a plain tar of .eml files.
    let volume = archive.join("volumes/run-000001.tar.zst.age");
    let id = age::IdentityFile::from_file(key.to_string_lossy().into_owned())
        .unwrap()
        .into_identities()
        .unwrap();
    let reader = age::Decryptor::new(fs::File::open(&volume).unwrap())
        .unwrap()
        .decrypt(id.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .unwrap();
    let mut tar = tar::Archive::new(zstd::Decoder::new(reader).unwrap());
    let names: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&format!("{FOLDER}/000000.eml")), "{names:?}");

    // Without the identity a restore stops and says what to give.
    let pw2 = [("DST_PW", dst.password.as_str())];
    let blind = write_profile(
        work.path(),
        "  archive: { path: backup }\n",
        &imap_yaml(&dst, "DST_PW"),
    );
    let refused = run_profile(&blind, &pw2);
    assert_eq!(refused.code, 2, "{}", refused.output);
    assert!(
        refused.output.contains("encrypted") && refused.output.contains("identity"),
        "{}",
        refused.output
    );
    assert!(dst.messages("INBOX").is_empty());

    let restore = write_profile(
        work.path(),
        &format!(
            "  archive: {{ path: backup, identity: {{ file: \"{}\" }} }}\n",
            key.display()
        ),
        &imap_yaml(&dst, "DST_PW"),
    );
    let restored = run_profile(&restore, &pw2);
    assert_eq!(restored.code, 0, "{}", restored.output);
    assert_eq!(restored.report["copied"], 4, "{}", restored.output);
    assert_same(&src, "INBOX", &dst, "INBOX");
    assert_same(&src, FOLDER, &dst, FOLDER);
    assert!(dst.mailbox_names().iter().any(|n| n == "Falcon empty"));
    assert!(
        !restored.output.contains("AGE-SECRET-KEY"),
        "the secret key never reaches the output"
    );

    let (code, out) = output_of(
        Command::new(BIN)
            .args(["archive", "check", "backup", "--identity"])
            .arg(&key)
            .current_dir(work.path()),
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = output_of(
        Command::new(BIN)
            .args(["archive", "check", "backup"])
            .current_dir(work.path()),
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--identity"), "{out}");
}

#[test]
fn a_bad_recipient_is_refused_before_anything_runs() {
    let work = tempfile::tempdir().unwrap();
    let profile = write_profile(
        work.path(),
        "  mbox: nothing.mbox\n",
        "  archive: { path: backup, encryption: { recipients: [\"age1notakey\"] } }\n",
    );
    let (code, out) = output_of(
        Command::new(BIN)
            .arg("run")
            .arg(&profile)
            .current_dir(work.path()),
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("target.archive.encryption.recipients[0]") && out.contains("age-keygen"),
        "{out}"
    );
    assert!(!work.path().join("backup").exists());
}
