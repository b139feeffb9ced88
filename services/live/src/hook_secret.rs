//! The webhook secret: media servers (nginx-rtmp, MediaMTX and `framelog hook`) prove they are
//! ours with it; where a call comes from proves nothing (behind a reverse proxy on the same
//! host every caller is 127.0.0.1).
//!
//! It lives in a file (default `<data dir>/hook-secret`, generated with mode 0600 on first
//! start) so that `deploy/up.sh` can render it into the nginx-rtmp config and `framelog hook
//! --secret-file` can read it, without it ever appearing in argv.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest secret accepted from a file or a flag.
pub const MIN_LEN: usize = 16;

/// The webhook secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct HookSecret(String);

impl std::fmt::Debug for HookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookSecret(..)")
    }
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

/// Whether `s` can travel in a URL query and an nginx config line unescaped.
fn url_safe(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
}

impl HookSecret {
    /// A secret given as a value (`--live-hook-secret`): at least [`MIN_LEN`] URL-safe
    /// characters.
    pub fn from_value(v: &str) -> std::io::Result<HookSecret> {
        let v = v.trim();
        if v.len() < MIN_LEN || !url_safe(v) {
            return Err(invalid(format!(
                "the webhook secret must be at least {MIN_LEN} characters of [A-Za-z0-9-_.~]"
            )));
        }
        Ok(HookSecret(v.to_owned()))
    }

    /// Reads the secret from `path`, or generates one there (64 hex characters, mode 0600).
    pub fn load_or_create(path: &Path) -> std::io::Result<HookSecret> {
        match std::fs::read_to_string(path) {
            Ok(s) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(path)?.permissions().mode();
                    if mode & 0o077 != 0 {
                        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"),
                            "the webhook secret file is readable by others; chmod 600 it");
                    }
                }
                Self::from_value(&s).map_err(|e| invalid(format!("{}: {e}", path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut bytes = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
                let value = hex::encode(bytes);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                match opts.open(path) {
                    Ok(mut f) => {
                        f.write_all(value.as_bytes())?;
                        f.sync_all()?;
                        tracing::info!(path = %path.display(), "generated the webhook secret");
                        Ok(HookSecret(value))
                    }
                    // Another process (deploy/up.sh, a replica) created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The value, for rendering into a media server's config (never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `got` is the secret. Both sides are hashed first, so the comparison takes the
    /// same time whatever the length or content of `got`.
    pub fn matches(&self, got: &str) -> bool {
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(got.as_bytes());
        bool::from(a.as_slice().ct_eq(b.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_private_url_safe_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d/hook-secret");
        let a = HookSecret::load_or_create(&p).unwrap();
        let b = HookSecret::load_or_create(&p).unwrap();
        assert_eq!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 64);
        assert!(url_safe(a.expose()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(format!("{a:?}"), "HookSecret(..)");
    }

    #[test]
    fn only_the_exact_secret_matches() {
        let s = HookSecret::from_value("0123456789abcdef-XYZ").unwrap();
        assert!(s.matches("0123456789abcdef-XYZ"));
        for bad in ["", "0123456789abcdef-XY", "0123456789abcdef-XYZ ", "x"] {
            assert!(!s.matches(bad), "{bad:?}");
        }
    }

    #[test]
    fn short_or_unsafe_secrets_are_refused() {
        assert!(HookSecret::from_value("short").is_err());
        assert!(HookSecret::from_value("has spaces in it, sixteen+").is_err());
        assert!(HookSecret::from_value("a&b=c0123456789abcdef").is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "tiny\n").unwrap();
        assert!(HookSecret::load_or_create(&p).is_err());
        std::fs::write(&p, "0123456789abcdef0123\n").unwrap();
        assert_eq!(HookSecret::load_or_create(&p).unwrap().expose(), "0123456789abcdef0123");
    }
}
