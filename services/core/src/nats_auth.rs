//! NATS credentials: a user and password from flags and a 0600 file, or embedded in a URL
//! (`nats://user:password@host:4222`). async-nats ignores credentials in a URL, so they are
//! taken out of it here and given to the client explicitly; URLs are redacted before they are
//! shown anywhere.

use std::path::Path;

use crate::secret::ensure_private;

/// A NATS user and password. Its `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsCredentials {
    pub user: String,
    password: String,
}

impl std::fmt::Debug for NatsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCredentials").field("user", &self.user).finish_non_exhaustive()
    }
}

/// Why the NATS credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NatsAuthError {
    #[error(
        "--nats-user {user} was given without --nats-password-file (FRAMELOG_NATS_PASSWORD_FILE)"
    )]
    NoPassword { user: String },
    #[error("reading the NATS password file {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("the NATS password file {path} is empty")]
    Empty { path: String },
    #[error("the NATS URLs name different users ({0}); give one user for all of them")]
    MixedUsers(String),
}

impl NatsCredentials {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        NatsCredentials { user: user.into(), password: password.into() }
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// Reads the password (first line, trimmed) from `file`, which must be private (0600).
    pub fn from_password_file(user: &str, file: &Path) -> Result<Self, NatsAuthError> {
        let err = |source| NatsAuthError::File { path: file.display().to_string(), source };
        ensure_private(file).map_err(err)?;
        let text = std::fs::read_to_string(file).map_err(err)?;
        let password = text.lines().next().unwrap_or("").trim();
        if password.is_empty() {
            return Err(NatsAuthError::Empty { path: file.display().to_string() });
        }
        Ok(NatsCredentials::new(user, password))
    }

    /// Applies them to client options.
    pub fn apply(&self, opts: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
        opts.user_and_password(self.user.clone(), self.password.clone())
    }
}

/// Splits `scheme://user:password@host...` into the URL without credentials and the
/// credentials (percent-decoded). A URL without `user@` comes back unchanged with `None`.
pub fn split_credentials(url: &str) -> (String, Option<NatsCredentials>) {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_owned(), None);
    };
    let (userinfo, host) = (&rest[..at], &rest[at + 1..]);
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let stripped = match scheme {
        Some(s) => format!("{s}://{host}"),
        None => host.to_owned(),
    };
    (stripped, Some(NatsCredentials::new(percent_decode(user), percent_decode(password))))
}

/// The URL with any password replaced by `***` (for messages and logs).
pub fn redact_url(url: &str) -> String {
    match split_credentials(url) {
        (stripped, Some(c)) => match stripped.split_once("://") {
            Some((s, host)) => format!("{s}://{}:***@{host}", c.user),
            None => format!("{}:***@{stripped}", c.user),
        },
        (url, None) => url,
    }
}

/// The URLs without credentials, and the one user they carry (if any).
pub fn credentials_from_urls(
    urls: &[String],
) -> Result<(Vec<String>, Option<NatsCredentials>), NatsAuthError> {
    let mut found: Option<NatsCredentials> = None;
    let mut out = Vec::with_capacity(urls.len());
    for u in urls {
        let (stripped, creds) = split_credentials(u);
        out.push(stripped);
        if let Some(c) = creds {
            match &found {
                Some(f) if *f != c => {
                    return Err(NatsAuthError::MixedUsers(format!("{}, {}", f.user, c.user)));
                }
                _ => found = Some(c),
            }
        }
    }
    Ok((out, found))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out_of_a_url() {
        let (url, c) = split_credentials("nats://framelog:s3cr%40t@127.0.0.1:4222");
        assert_eq!(url, "nats://127.0.0.1:4222");
        let c = c.unwrap();
        assert_eq!((c.user.as_str(), c.password()), ("framelog", "s3cr@t"));
        assert_eq!(
            split_credentials("nats://127.0.0.1:4222"),
            ("nats://127.0.0.1:4222".into(), None)
        );
        assert_eq!(split_credentials("127.0.0.1:4222").1, None);
        let (url, c) = split_credentials("u:p@h:1");
        assert_eq!((url.as_str(), c.unwrap().password()), ("h:1", "p"));
    }

    #[test]
    fn a_redacted_url_never_shows_the_password() {
        assert_eq!(redact_url("nats://framelog:hunter2@h:4222"), "nats://framelog:***@h:4222");
        assert_eq!(redact_url("nats://h:4222"), "nats://h:4222");
        assert!(!format!("{:?}", NatsCredentials::new("u", "hunter2")).contains("hunter2"));
    }

    #[test]
    fn urls_naming_two_users_are_refused() {
        let urls = ["nats://a:x@h:1".to_owned(), "nats://h:2".to_owned()];
        let (stripped, c) = credentials_from_urls(&urls).unwrap();
        assert_eq!(stripped, ["nats://h:1", "nats://h:2"]);
        assert_eq!(c.unwrap().user, "a");
        let mixed = ["nats://a:x@h:1".to_owned(), "nats://b:y@h:2".to_owned()];
        assert!(matches!(credentials_from_urls(&mixed), Err(NatsAuthError::MixedUsers(_))));
    }

    #[test]
    fn a_password_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("framelog.pw");
        std::fs::write(&p, "pw\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let msg = NatsCredentials::from_password_file("framelog", &p).unwrap_err().to_string();
        assert!(msg.contains("chmod 600") && msg.contains(&p.display().to_string()), "{msg}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = NatsCredentials::from_password_file("framelog", &p).unwrap();
        assert_eq!(c.password(), "pw");
    }
}
