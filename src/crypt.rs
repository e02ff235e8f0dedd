//! Encryption of backups with age (age-encryption.org/v1): public recipients to write,
//! a secret identity to read, and salted keys for what a writer must recognise without
//! reading (folders, in an encrypted archive's plaintext index).
//!
//! A backup host holds only recipients, so a stolen one cannot read old backups. Files are
//! age's STREAM format, which can be decrypted from any offset: a message is read without
//! decrypting its whole volume.

use std::io::{self, Read, Seek, Write};

use sha2::{Digest, Sha256};

use crate::secret::Secret;

pub use age::stream::{StreamReader, StreamWriter};

/// Validated recipients: `age1...` X25519 keys and `ssh-ed25519` / `ssh-rsa` public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipients(Vec<String>);

/// Why a recipient or an identity cannot be used; says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

fn recipient(s: &str) -> Option<Box<dyn age::Recipient + Send>> {
    if let Ok(r) = s.parse::<age::x25519::Recipient>() {
        return Some(Box::new(r));
    }
    s.parse::<age::ssh::Recipient>()
        .ok()
        .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
}

impl Recipients {
    /// Each entry must be one public key; the list must not be empty.
    pub fn parse(list: &[String]) -> Result<Recipients, (usize, KeyError)> {
        if list.is_empty() {
            return Err((0, KeyError("no recipient given".into())));
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, s) in list.iter().enumerate() {
            let s = s.trim();
            if recipient(s).is_none() {
                let shown: String = s.chars().take(24).collect();
                return Err((
                    i,
                    KeyError(format!(
                        "{shown:?} is not an age recipient: give a public key (age1..., from `age-keygen -y KEY.txt`) or an SSH public key (ssh-ed25519 ... or ssh-rsa ...)"
                    )),
                ));
            }
            out.push(s.to_string());
        }
        Ok(Recipients(out))
    }

    pub fn as_strings(&self) -> &[String] {
        &self.0
    }

    /// Starts an encrypted stream into `out`; `finish()` on the result ends it.
    pub fn encrypt<W: Write>(&self, out: W) -> io::Result<StreamWriter<W>> {
        let keys: Vec<Box<dyn age::Recipient + Send>> =
            self.0.iter().filter_map(|s| recipient(s)).collect();
        let encryptor =
            age::Encryptor::with_recipients(keys.iter().map(|k| k.as_ref() as &dyn age::Recipient))
                .map_err(|e| io::Error::other(e.to_string()))?;
        encryptor.wrap_output(out)
    }
}

/// A secret identity: an age identity file (`AGE-SECRET-KEY-1...` lines, as `age-keygen`
/// writes) or an unencrypted OpenSSH private key. Debug never shows it.
#[derive(Clone)]
pub struct Identity(Secret);

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity([REDACTED])")
    }
}

impl Identity {
    pub fn parse(text: Secret) -> Result<Identity, KeyError> {
        let id = Identity(text);
        id.identities()?;
        Ok(id)
    }

    fn identities(&self) -> Result<Vec<Box<dyn age::Identity>>, KeyError> {
        let text = self.0.expose();
        if text.trim_start().starts_with("-----BEGIN") {
            let ssh = age::ssh::Identity::from_buffer(text.as_bytes(), None)
                .map_err(|_| KeyError("the SSH private key cannot be read".into()))?;
            return match ssh {
                age::ssh::Identity::Unencrypted(_) => Ok(vec![Box::new(ssh)]),
                age::ssh::Identity::Encrypted(_) => Err(KeyError(
                    "the SSH private key is protected by a passphrase; give an age identity (age-keygen) or an unprotected copy from a password manager (identity: { command: [...] })".into(),
                )),
                age::ssh::Identity::Unsupported(_) => Err(KeyError(
                    "this kind of SSH key is not supported by age; use ssh-ed25519, ssh-rsa or an age identity".into(),
                )),
            };
        }
        let bad = || {
            KeyError(
                "not an age identity: expected lines starting AGE-SECRET-KEY-1 (from age-keygen) or an OpenSSH private key".into(),
            )
        };
        let file = age::IdentityFile::from_buffer(text.as_bytes()).map_err(|_| bad())?;
        let ids = file.into_identities().map_err(|_| bad())?;
        if ids.is_empty() {
            return Err(bad());
        }
        Ok(ids)
    }

    /// Decrypts a stream; the reader can seek when `r` can.
    pub fn decrypt<R: Read>(&self, r: R) -> io::Result<StreamReader<R>> {
        let ids = self.identities().map_err(io::Error::other)?;
        let decryptor = age::Decryptor::new(r).map_err(|e| io::Error::other(decrypt_error(&e)))?;
        if decryptor.is_scrypt() {
            return Err(io::Error::other(
                "this file is encrypted with a passphrase, not to a key",
            ));
        }
        decryptor
            .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| io::Error::other(decrypt_error(&e)))
    }
}

fn decrypt_error(e: &age::DecryptError) -> String {
    match e {
        age::DecryptError::NoMatchingKeys => {
            "the identity given does not open this file (it was encrypted to other recipients)"
                .into()
        }
        age::DecryptError::InvalidHeader | age::DecryptError::UnknownFormat => {
            "not an age-encrypted file, or its header is damaged".into()
        }
        other => format!("cannot decrypt: {other}"),
    }
}

/// Seeks on readers that can; used for random access into encrypted volumes.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// A random salt for an archive's keys (hex). Salts need only be unique, not secret.
pub fn new_salt() -> String {
    let bytes: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    hex::encode(bytes)
}

/// A salted key standing for `value` (a folder name, a folder's path): equal values give equal
/// keys within one archive, and the key shows nothing of the value.
pub fn key(salt: &str, kind: &str, value: &str) -> String {
    let mut h = Sha256::new();
    for part in [salt, kind, value] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Recipients, Identity) {
        let id = age::x25519::Identity::generate();
        use age::secrecy::ExposeSecret;
        let text = id.to_string().expose_secret().to_string();
        (
            Recipients::parse(&[id.to_public().to_string()]).unwrap(),
            Identity::parse(Secret::new(text)).unwrap(),
        )
    }

    #[test]
    fn round_trip_and_seek() {
        let (r, id) = pair();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = r.encrypt(Vec::new()).unwrap();
        w.write_all(&data).unwrap();
        let sealed = w.finish().unwrap();
        assert!(!sealed.windows(16).any(|x| x == &data[1000..1016]));
        let mut rd = id.decrypt(io::Cursor::new(&sealed)).unwrap();
        rd.seek(io::SeekFrom::Start(150_000)).unwrap();
        let mut buf = vec![0; 100];
        rd.read_exact(&mut buf).unwrap();
        assert_eq!(buf, &data[150_000..150_100]);
    }

    #[test]
    fn another_identity_is_refused_clearly() {
        let (r, _) = pair();
        let (_, other) = pair();
        let mut w = r.encrypt(Vec::new()).unwrap();
        w.write_all(b"hello").unwrap();
        let sealed = w.finish().unwrap();
        let e = other.decrypt(io::Cursor::new(sealed)).err().unwrap();
        assert!(e.to_string().contains("does not open this file"), "{e}");
    }

    #[test]
    fn bad_recipients_and_identities_say_what_is_expected() {
        let (i, e) = Recipients::parse(&["age1good?".into()]).unwrap_err();
        assert_eq!(i, 0);
        assert!(e.0.contains("age-keygen -y"), "{e}");
        assert!(Recipients::parse(&[]).is_err());
        let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@rust";
        assert!(Recipients::parse(&[ssh.into()]).is_ok());
        let e = Identity::parse(Secret::new("hunter2")).unwrap_err();
        assert!(e.0.contains("AGE-SECRET-KEY-1"), "{e}");
        assert!(!format!("{:?}", pair().1).contains("AGE-SECRET"));
    }

    #[test]
    fn keys_are_salted_and_stable() {
        assert_eq!(key("s", "folder", "INBOX"), key("s", "folder", "INBOX"));
        assert_ne!(key("s", "folder", "INBOX"), key("t", "folder", "INBOX"));
        assert_ne!(key("s", "folder", "a"), key("s", "path", "a"));
        assert_eq!(key("s", "folder", "x").len(), 32);
    }
}
