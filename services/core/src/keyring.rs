//! The master keys behind every signature, with key ids, and the per-purpose keys derived from
//! them (HKDF-SHA256). Pure: parsing, printing, rotation and lookup do no IO (the file lives in
//! [`crate::secret`]).
//!
//! File format (one key per line, `#` comments):
//!
//! ```text
//! k1 <hex master key>
//! k0 <hex master key> until=<unix seconds>
//! ```
//!
//! Exactly one key has no `until`: the active one, which signs. A key with `until` still
//! verifies what it signed until then (the grace period after `framelog secret rotate`). A file
//! holding only a hex line (the format before key ids) is the one active key `k0`.

use crate::hkdf;

/// Shortest accepted master key, bytes.
pub const MIN_KEY_LEN: usize = 16;
/// Longest key id (`k` and up to 6 digits).
const MAX_KID_LEN: usize = 7;

/// What a derived key is for: each purpose gets its own key, so a token of one kind can never
/// be replayed as another, and a leak of one derived key reveals no other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Playback tokens of videos and live streams (`signing`).
    PlaybackToken,
    /// Stream keys (`framelog-live` `keys`).
    StreamKey,
    /// Pseudonymous viewer ids of view counting (`framelog-playback`).
    ViewerId,
    /// Signatures of outgoing webhooks (reserved).
    Webhook,
}

impl Purpose {
    fn info(self) -> &'static [u8] {
        match self {
            Purpose::PlaybackToken => b"framelog/v1/playback-token",
            Purpose::StreamKey => b"framelog/v1/stream-key",
            Purpose::ViewerId => b"framelog/v1/viewer-id",
            Purpose::Webhook => b"framelog/v1/webhook",
        }
    }
}

/// One master key.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    pub id: String,
    pub bytes: Vec<u8>,
    /// Unix seconds after which it no longer verifies; `None` for the active key.
    pub until: Option<i64>,
}

impl MasterKey {
    /// The key of `purpose` derived from this master.
    pub fn derive(&self, purpose: Purpose) -> [u8; 32] {
        hkdf::derive(b"framelog-keyring-v1", &self.bytes, purpose.info())
    }
}

/// Why a keyring file does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("line {0}: expected `<key id> <hex key> [until=<unix seconds>]`")]
    Syntax(usize),
    #[error("line {0}: key id must be `k` and a number without leading zeros (k0, k1, ...)")]
    BadId(usize),
    #[error("line {0}: the key is not hex or is shorter than {MIN_KEY_LEN} bytes")]
    BadKey(usize),
    #[error("key id {0} appears twice")]
    DuplicateId(String),
    #[error("{0} keys have no `until`: exactly one key is active")]
    Active(usize),
}

/// The master keys, the active one first.
#[derive(Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("ids", &ids).finish_non_exhaustive()
    }
}

/// Whether `s` is a key id: `k` and canonical decimal digits.
pub fn valid_key_id(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('k') else { return false };
    s.len() <= MAX_KID_LEN
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

impl Keyring {
    /// One active key `k0`.
    pub fn single(bytes: &[u8]) -> Keyring {
        Keyring { keys: vec![MasterKey { id: "k0".into(), bytes: bytes.to_vec(), until: None }] }
    }

    pub fn parse(text: &str) -> Result<Keyring, KeyringError> {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .collect();
        // The format before key ids: one hex line.
        if let [(n, only)] = lines.as_slice()
            && !only.contains(char::is_whitespace)
        {
            let bytes = hex::decode(only).map_err(|_| KeyringError::BadKey(*n))?;
            if bytes.len() < MIN_KEY_LEN {
                return Err(KeyringError::BadKey(*n));
            }
            return Ok(Keyring::single(&bytes));
        }
        let mut keys: Vec<MasterKey> = Vec::new();
        for (n, line) in lines {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (id, key, until) = match fields.as_slice() {
                [id, key] => (*id, *key, None),
                [id, key, until] => {
                    let v = until.strip_prefix("until=").ok_or(KeyringError::Syntax(n))?;
                    let canonical = !v.is_empty()
                        && v.len() <= 12
                        && v.bytes().all(|b| b.is_ascii_digit())
                        && (v == "0" || !v.starts_with('0'));
                    if !canonical {
                        return Err(KeyringError::Syntax(n));
                    }
                    (*id, *key, Some(v.parse::<i64>().map_err(|_| KeyringError::Syntax(n))?))
                }
                _ => return Err(KeyringError::Syntax(n)),
            };
            if !valid_key_id(id) {
                return Err(KeyringError::BadId(n));
            }
            let bytes = hex::decode(key).map_err(|_| KeyringError::BadKey(n))?;
            if bytes.len() < MIN_KEY_LEN {
                return Err(KeyringError::BadKey(n));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyringError::DuplicateId(id.into()));
            }
            keys.push(MasterKey { id: id.into(), bytes, until });
        }
        let active = keys.iter().filter(|k| k.until.is_none()).count();
        if active != 1 {
            return Err(KeyringError::Active(active));
        }
        keys.sort_by_key(|k| k.until.map_or(i64::MIN, |u| -u));
        Ok(Keyring { keys })
    }

    /// The file text (active key first).
    pub fn to_text(&self) -> String {
        let mut s = String::from(
            "# Framelog master keys (framelog secret rotate). Keep this file 0600 and identical \
             on every replica.\n",
        );
        for k in &self.keys {
            s.push_str(&format!("{} {}", k.id, hex::encode(&k.bytes)));
            if let Some(u) = k.until {
                s.push_str(&format!(" until={u}"));
            }
            s.push('\n');
        }
        s
    }

    /// The key that signs.
    pub fn active(&self) -> &MasterKey {
        &self.keys[0]
    }

    /// Every key, the active one first (for re-deriving something made with an older key).
    pub fn keys(&self) -> &[MasterKey] {
        &self.keys
    }

    /// The key `id` if it may still verify at `now`: `Err(true)` if it is retired (past its
    /// `until`), `Err(false)` if there is no such key.
    pub fn verifying(&self, id: &str, now: i64) -> Result<&MasterKey, bool> {
        let k = self.keys.iter().find(|k| k.id == id).ok_or(false)?;
        match k.until {
            Some(until) if now > until => Err(true),
            _ => Ok(k),
        }
    }

    /// A new keyring whose active key is `fresh` (id one above the highest); the old active key
    /// verifies until `now + grace_secs`. Keys already retired keep their `until`.
    pub fn rotated(&self, fresh: &[u8], now: i64, grace_secs: i64) -> Keyring {
        let next = self
            .keys
            .iter()
            .filter_map(|k| k.id[1..].parse::<u64>().ok())
            .max()
            .map_or(0, |m| m + 1);
        let mut keys =
            vec![MasterKey { id: format!("k{next}"), bytes: fresh.to_vec(), until: None }];
        for k in &self.keys {
            let until = k.until.or(Some(now.saturating_add(grace_secs)));
            keys.push(MasterKey { until, ..k.clone() });
        }
        Keyring { keys }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "000102030405060708090a0b0c0d0e0f";
    const B: &str = "101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_legacy_single_hex_line_is_the_active_key_k0() {
        let r = Keyring::parse(&format!("{A}\n")).unwrap();
        assert_eq!(r.active().id, "k0");
        assert_eq!(hex::encode(&r.active().bytes), A);
    }

    #[test]
    fn a_keyring_round_trips_and_keeps_one_active_key() {
        let text = format!("k0 {A} until=2000\nk1 {B}\n");
        let r = Keyring::parse(&text).unwrap();
        assert_eq!(r.active().id, "k1");
        assert_eq!(Keyring::parse(&r.to_text()).unwrap(), r);
        assert!(format!("{r:?}").contains("k1") && !format!("{r:?}").contains(B));
    }

    #[test]
    fn a_rotated_ring_signs_with_a_new_id_and_retires_the_old_after_the_grace() {
        let r = Keyring::parse(A).unwrap().rotated(&hex::decode(B).unwrap(), 1000, 50);
        assert_eq!(r.active().id, "k1");
        assert_eq!(r.verifying("k0", 1050).map(|k| k.id.as_str()), Ok("k0"));
        assert_eq!(r.verifying("k0", 1051).map(|_| ()), Err(true));
        assert_eq!(r.verifying("k9", 0).map(|_| ()), Err(false));
        let again = r.rotated(&[7; 32], 5000, 50);
        assert_eq!(again.active().id, "k2");
        assert_eq!(again.verifying("k0", 1051).map(|_| ()), Err(true), "k0 keeps its until");
        assert_eq!(again.verifying("k1", 5050).map(|k| k.id.as_str()), Ok("k1"));
    }

    #[test]
    fn malformed_keyrings_are_refused() {
        for bad in [
            "",
            "zz",
            "abcd",
            &format!("k0 {A}\nk1 {B}\n"),
            &format!("k0 {A} until=1\n"),
            &format!("k0 {A}\nk0 {B} until=1\n"),
            &format!("k01 {A}\n"),
            &format!("x1 {A}\n"),
            &format!("k1 {A} until=+5\nk2 {B}\n"),
            &format!("k1 {A} until=05\nk2 {B}\n"),
            &format!("k1 {A} since=5\nk2 {B}\n"),
            &format!("k1 {A} until=5 extra\nk2 {B}\n"),
        ] {
            assert!(Keyring::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_purpose_and_each_master_derive_different_keys() {
        let a = MasterKey { id: "k0".into(), bytes: hex::decode(A).unwrap(), until: None };
        let b = MasterKey { id: "k1".into(), bytes: hex::decode(B).unwrap(), until: None };
        let all = [Purpose::PlaybackToken, Purpose::StreamKey, Purpose::ViewerId, Purpose::Webhook];
        let mut seen = std::collections::HashSet::new();
        for p in all {
            assert!(seen.insert(a.derive(p)));
            assert!(seen.insert(b.derive(p)));
        }
        assert_ne!(a.derive(Purpose::StreamKey).as_slice(), a.bytes.as_slice());
    }

    #[test]
    fn key_ids_are_canonical() {
        for ok in ["k0", "k1", "k10", "k999999"] {
            assert!(valid_key_id(ok), "{ok}");
        }
        for bad in ["", "k", "k01", "K1", "k-1", "k+1", "k 1", "k1000000", "kx"] {
            assert!(!valid_key_id(bad), "{bad}");
        }
    }
}
