//! The server secret: the HMAC key behind stream keys and playback tokens.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

/// Length of a generated secret, bytes.
const SECRET_LEN: usize = 32;

/// A secret key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Secret(std::sync::Arc<[u8]>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// Wraps raw key bytes.
    pub fn from_bytes(b: &[u8]) -> Self {
        Secret(b.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Reads the secret (hex) from `path`, or generates one there (mode 0600) if the file is
    /// absent. Several replicas must share the same file contents.
    pub fn load_or_create(path: &Path) -> std::io::Result<Secret> {
        match std::fs::read_to_string(path) {
            Ok(s) => {
                let bytes = hex::decode(s.trim()).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("secret file {} is not hex: {e}", path.display()),
                    )
                })?;
                if bytes.len() < 16 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("secret in {} is shorter than 16 bytes", path.display()),
                    ));
                }
                Ok(Secret(bytes.into()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut bytes = [0u8; SECRET_LEN];
                rand::rng().fill_bytes(&mut bytes);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                match opts.open(path) {
                    Ok(mut f) => {
                        f.write_all(hex::encode(bytes).as_bytes())?;
                        f.sync_all()?;
                        Ok(Secret(bytes.as_slice().into()))
                    }
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

    #[test]
    fn a_short_or_non_hex_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "zz").unwrap();
        assert!(Secret::load_or_create(&p).is_err());
        std::fs::write(&p, "abcd").unwrap();
        assert!(Secret::load_or_create(&p).is_err());
    }
}
