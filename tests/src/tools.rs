//! Locating the binaries tests run.

use std::path::{Path, PathBuf};

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A binary from `FRAMELOG_<NAME>` (e.g. `FRAMELOG_NATS_SERVER`), `.tools/bin/<name>`, or `PATH`.
pub fn find_binary(name: &str) -> PathBuf {
    let var = format!("FRAMELOG_{}", name.to_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(&var) {
        return PathBuf::from(p);
    }
    let local = workspace_root().join(".tools/bin").join(name);
    if local.exists() {
        return local;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("{name} not found: run deploy/bootstrap.sh (or set {var})");
}
