//! `framelog secret rotate|list`: the master keys in the secret file (no NATS, no sled).
//!
//! Rotation adds a new active master key; the previous one keeps verifying what it signed
//! (playback tokens) until `now + grace`, then stops. Stream keys are checked by their stored
//! hash, so they keep working across rotations (and can still be revealed while their master
//! is in the file). Every replica must get the new file and be restarted: a replica still on
//! the old file cannot verify tokens signed with the new key.

use std::path::Path;

use anyhow::{Context, bail};
use framelog_core::CommonSettings;
use framelog_core::keyring::Keyring;
use framelog_core::secret::{Secret, generate_master, write_private};

/// `framelog secret ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SecretCommand {
    /// Add a new active master key; the previous one still verifies for the grace period.
    Rotate {
        #[command(flatten)]
        common: CommonSettings,
        /// How long tokens signed with the previous key keep working: a number and s, m, h or
        /// d (e.g. 7d, 12h).
        #[arg(long, env = "FRAMELOG_SECRET_GRACE", default_value = "7d")]
        grace: String,
    },
    /// List the key ids, which one signs and until when the others verify (never the keys).
    List {
        #[command(flatten)]
        common: CommonSettings,
    },
}

/// Seconds of a grace period like `7d`, `12h`, `30m` or `90s`.
pub fn parse_grace(s: &str) -> anyhow::Result<i64> {
    let (digits, unit) = s.split_at(s.len().saturating_sub(1));
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("grace {s:?}: expected a number and s, m, h or d (e.g. 7d)"),
    };
    let valid =
        !digits.is_empty() && digits.len() <= 6 && digits.bytes().all(|b| b.is_ascii_digit());
    if !valid {
        bail!("grace {s:?}: expected a number and s, m, h or d (e.g. 7d)");
    }
    Ok(digits.parse::<i64>()? * mult)
}

/// Rotates the keyring in `path` at `now` (unix seconds): returns the new keyring, written 0600.
pub fn rotate_file(path: &Path, now: i64, grace_secs: i64) -> anyhow::Result<Keyring> {
    if !path.exists() {
        bail!(
            "no secret file at {} (framelog serve creates it on first start; give --data-dir or \
             --secret-file)",
            path.display()
        );
    }
    let current = Secret::load_or_create(path)
        .with_context(|| format!("reading the secret file {}", path.display()))?;
    let next = current.keyring().rotated(&generate_master(), now, grace_secs);
    write_private(path, &next.to_text(), false)
        .with_context(|| format!("writing the secret file {}", path.display()))?;
    Ok(next)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One line per key: which signs, until when the others verify (unix seconds and from `now`).
fn describe(ring: &Keyring, now: i64) -> String {
    let mut out = String::new();
    for k in ring.keys() {
        match k.until {
            None => out.push_str(&format!("{}  active (signs)\n", k.id)),
            Some(u) if u >= now => {
                let left = u - now;
                out.push_str(&format!(
                    "{}  verifies until {u} (unix; {}d {}h from now)\n",
                    k.id,
                    left / 86_400,
                    left % 86_400 / 3600
                ));
            }
            Some(u) => out.push_str(&format!("{}  retired since {u} (unix)\n", k.id)),
        }
    }
    out
}

pub fn run(cmd: SecretCommand) -> anyhow::Result<()> {
    match cmd {
        SecretCommand::Rotate { common, grace } => {
            let grace = parse_grace(&grace)?;
            let path = common.secret_path();
            let now = now_unix();
            let ring = rotate_file(&path, now, grace)?;
            print!(
                "Rotated {}: new active key {}.\n{}",
                path.display(),
                ring.active().id,
                describe(&ring, now)
            );
            println!(
                "Copy this file to every replica (mode 0600) and restart them: a replica still on \
                 the old file cannot verify tokens signed with {}.",
                ring.active().id
            );
            Ok(())
        }
        SecretCommand::List { common } => {
            let path = common.secret_path();
            let secret = Secret::load_or_create(&path)
                .with_context(|| format!("reading the secret file {}", path.display()))?;
            print!("{}", describe(secret.keyring(), now_unix()));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framelog_core::signing::{TokenError, playback_token, verify_playback_token};

    #[test]
    fn grace_periods_parse_strictly() {
        assert_eq!(parse_grace("7d").unwrap(), 7 * 86_400);
        assert_eq!(parse_grace("12h").unwrap(), 12 * 3600);
        assert_eq!(parse_grace("90s").unwrap(), 90);
        for bad in ["", "d", "7", "7w", "-1d", "+1d", " 7d", "1.5h", "9999999d"] {
            assert!(parse_grace(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_token_signed_before_rotate_verifies_in_the_grace_period_and_fails_after() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let before = Secret::load_or_create(&path).unwrap();
        let token = playback_token(&before, "acme", "vid_1", 2_000_000_000);
        let now = 1_800_000_000;
        let ring = rotate_file(&path, now, parse_grace("7d").unwrap()).unwrap();
        assert_eq!(ring.active().id, "k1");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        // What a restarted server reads.
        let after = Secret::load_or_create(&path).unwrap();
        assert_ne!(after.as_bytes(), before.as_bytes());
        let in_grace = now + 7 * 86_400;
        assert_eq!(verify_playback_token(&after, &token, "vid_1", now + 60), Ok("acme"));
        assert_eq!(verify_playback_token(&after, &token, "vid_1", in_grace), Ok("acme"));
        assert_eq!(
            verify_playback_token(&after, &token, "vid_1", in_grace + 1),
            Err(TokenError::KeyRetired)
        );
        let fresh = playback_token(&after, "acme", "vid_1", 2_000_000_000);
        assert_eq!(verify_playback_token(&after, &fresh, "vid_1", in_grace + 1), Ok("acme"));
    }

    #[test]
    fn rotating_a_missing_or_world_readable_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        assert!(rotate_file(&path, 0, 60).unwrap_err().to_string().contains("no secret file"));
        Secret::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = format!("{:#}", rotate_file(&path, 0, 60).unwrap_err());
        assert!(err.contains("chmod 600"), "{err}");
    }
}
