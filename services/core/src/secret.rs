//! The server secret: the master keys ([`Keyring`]) behind stream keys, playback tokens and
//! viewer ids. Each use takes its own key derived from a master ([`Purpose`]); signatures carry
//! the master's key id, so `framelog secret rotate` can add a master while what older ones
//! signed still verifies for a grace period.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

pub use crate::keyring::{Keyring, MasterKey, Purpose};

/// Length of a generated master key, bytes.
pub const SECRET_LEN: usize = 32;

/// The keyring. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Secret(std::sync::Arc<Keyring>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

impl Secret {
    /// One active master key `k0` of these bytes.
    pub fn from_bytes(b: &[u8]) -> Self {
        Secret(Keyring::single(b).into())
    }

    pub fn from_keyring(k: Keyring) -> Self {
        Secret(k.into())
    }

    /// The active master key's bytes. Prefer [`Secret::key`]: a purpose's own derived key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0.active().bytes
    }

    pub fn keyring(&self) -> &Keyring {
        &self.0
    }

    /// The active key id and its derived key for `purpose` (what new signatures use).
    pub fn key(&self, purpose: Purpose) -> (&str, [u8; 32]) {
        let k = self.0.active();
        (&k.id, k.derive(purpose))
    }

    /// Reads the keyring from `path`, or generates one key there (mode 0600) if the file is
    /// absent. A file its group or others can read is refused. Several replicas must share the
    /// same file contents.
    pub fn load_or_create(path: &Path) -> std::io::Result<Secret> {
        match std::fs::read_to_string(path) {
            Ok(s) => {
                ensure_private(path)?;
                let ring = Keyring::parse(&s)
                    .map_err(|e| invalid(format!("secret file {}: {e}", path.display())))?;
                Ok(Secret(ring.into()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut bytes = [0u8; SECRET_LEN];
                rand::rng().fill_bytes(&mut bytes);
                let ring = Keyring::single(&bytes);
                match write_private(path, &ring.to_text(), true) {
                    Ok(()) => Ok(Secret(ring.into())),
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// A fresh random master key.
pub fn generate_master() -> [u8; SECRET_LEN] {
    let mut bytes = [0u8; SECRET_LEN];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// Writes `text` to `path` with mode 0600: with `create_new`, only if absent; otherwise
/// atomically (a 0600 temp file beside it, fsynced, renamed over it).
pub fn write_private(path: &Path, text: &str, create_new: bool) -> std::io::Result<()> {
    let target = if create_new { path.to_path_buf() } else { path.with_extension("tmp") };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if create_new {
        opts.create_new(true);
    } else {
        opts.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&target)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    if !create_new {
        std::fs::rename(&target, path)?;
    }
    Ok(())
}

/// Refuses a secret file its group or others may read or write: the error names the file, its
/// mode and the `chmod 600` fix. A no-op on non-Unix systems.
pub fn ensure_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "secret file {p} is readable by its group or others (mode {mode:04o}); \
                     restrict it with `chmod 600 {p}`",
                    p = path.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_read_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s/secret.key");
        let a = Secret::load_or_create(&p).unwrap();
        let b = Secret::load_or_create(&p).unwrap();
        assert_eq!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.as_bytes().len(), SECRET_LEN);
        assert_eq!(format!("{a:?}"), "Secret(..)");
    }

    fn write_mode(p: &Path, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(p, text).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_short_or_non_hex_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        write_mode(&p, "zz", 0o600);
        assert!(Secret::load_or_create(&p).is_err());
        write_mode(&p, "abcd", 0o600);
        assert!(Secret::load_or_create(&p).is_err());
    }

    #[test]
    fn a_secret_file_readable_by_group_or_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.key");
        let key = "000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f";
        for mode in [0o644, 0o640, 0o604, 0o660] {
            write_mode(&p, key, mode);
            let err = Secret::load_or_create(&p).unwrap_err();
            let msg = err.to_string();
            assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(msg.contains(&format!("chmod 600 {}", p.display())), "{msg}");
            assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
        }
        write_mode(&p, key, 0o600);
        assert_eq!(hex::encode(Secret::load_or_create(&p).unwrap().as_bytes()), key);
    }

    #[test]
    fn a_generated_secret_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.key");
        Secret::load_or_create(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        write_private(&p, "k0 00\n", false).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
