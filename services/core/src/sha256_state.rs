//! [`Sha256State`]: a SHA-256 in progress that can be stored and resumed elsewhere, so an
//! upload is hashed as its bytes arrive in order, on whichever replica takes each chunk, and
//! completion never reads the file again. The state is sha2's own serialised state
//! (`SerializableState`: the eight chaining words, the block count and the buffered tail), so
//! nothing of SHA-256 is reimplemented here.

use sha2::digest::common::hazmat::SerializableState;
use sha2::{Digest, Sha256};

/// A SHA-256 of the first [`Sha256State::len`] bytes of something, resumable anywhere.
#[derive(Clone)]
pub struct Sha256State {
    hasher: Sha256,
    len: u64,
}

impl std::fmt::Debug for Sha256State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sha256State").field("len", &self.len).finish_non_exhaustive()
    }
}

impl Default for Sha256State {
    fn default() -> Self {
        Sha256State::new()
    }
}

/// A stored state that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("corrupt sha256 state")]
pub struct CorruptState;

impl Sha256State {
    pub fn new() -> Sha256State {
        Sha256State { hasher: Sha256::new(), len: 0 }
    }

    /// Hashes `bytes` next.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// How many bytes have been hashed.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything hashed, lower-case hex.
    pub fn finalize_hex(self) -> String {
        hex::encode(self.hasher.finalize())
    }

    /// The state as text: `<len>:<hex of sha2's serialised state>`.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.len, hex::encode(self.hasher.serialize()))
    }

    /// Reads [`Sha256State::encode`]'s text back.
    pub fn decode(s: &str) -> Result<Sha256State, CorruptState> {
        let (len, state) = s.split_once(':').ok_or(CorruptState)?;
        let len = len.parse().map_err(|_| CorruptState)?;
        let raw = hex::decode(state).map_err(|_| CorruptState)?;
        let arr = raw.as_slice().try_into().map_err(|_| CorruptState)?;
        let hasher = Sha256::deserialize(arr).map_err(|_| CorruptState)?;
        Ok(Sha256State { hasher, len })
    }
}

impl serde::Serialize for Sha256State {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

impl<'de> serde::Deserialize<'de> for Sha256State {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha256State::decode(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_resumed_after_any_split_gives_the_whole_digest() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let want = hex::encode(Sha256::digest(&data));
        for cut in [0, 1, 63, 64, 65, 127, 128, 4096, 9_999, 10_000] {
            let mut a = Sha256State::new();
            a.update(&data[..cut]);
            let text = serde_json::to_string(&a).unwrap();
            let mut b: Sha256State = serde_json::from_str(&text).unwrap();
            assert_eq!(b.len(), cut as u64);
            b.update(&data[cut..]);
            assert_eq!(b.finalize_hex(), want, "cut at {cut}");
        }
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "12", "x:00", "3:zz", "3:0011"] {
            assert!(Sha256State::decode(bad).is_err(), "{bad:?}");
        }
    }
}
