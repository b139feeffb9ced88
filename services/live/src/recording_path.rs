//! Which file a recording hook may hand over. A hook only names a path; taking it on trust let
//! a caller delete or move any file the server can reach (`data/secret.key`, another tenant's
//! source). A path is accepted only if, symlinks resolved, it is a regular file strictly under
//! one of the media servers' recordings directories, named the way that server names a
//! recording of this stream, and is not itself a symlink; the file opened is checked to be
//! the one that was inspected (same device and inode).

use std::path::{Component, Path, PathBuf};

use framelog_events::MediaServer;

/// Why a recording path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Symlink,
    OutsideRecordingsDir,
    NotARegularFile,
    NotThisStream,
    NoAuthorisedSession,
}

impl Refusal {
    /// Stable reason, also the `reason` of the `recording_refused` event.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Missing => "recording_missing",
            Refusal::Symlink => "symlink",
            Refusal::OutsideRecordingsDir => "outside_recordings_dir",
            Refusal::NotARegularFile => "not_a_regular_file",
            Refusal::NotThisStream => "not_this_streams_recording",
            Refusal::NoAuthorisedSession => "no_authorised_session",
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            Refusal::Missing => "the recording file does not exist",
            Refusal::Symlink => "the recording path is a symbolic link",
            Refusal::OutsideRecordingsDir => {
                "the file is not under a configured recordings directory"
            }
            Refusal::NotARegularFile => "the recording is not a regular file",
            Refusal::NotThisStream => "the file is not named as a recording of this stream",
            Refusal::NoAuthorisedSession => {
                "no authorised publish of this stream made this recording"
            }
        }
    }
}

/// Whether `rel` (the path under a recordings directory) is how `server` names a recording of
/// `stream`: nginx-rtmp writes `<name>.flv` or, with `record_unique`, `<name>-<unix time>.flv`
/// directly in `record_path`; MediaMTX writes `<app>/<stream id>/<time>.mp4|.ts` under the
/// root of `recordPath` (`%path/...`).
pub fn named_for(server: MediaServer, rel: &Path, stream: &str) -> bool {
    let parts: Vec<&str> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().unwrap_or("\0"),
            _ => "\0",
        })
        .collect();
    if parts.iter().any(|p| p.contains('\0') || p.is_empty()) {
        return false;
    }
    match server {
        MediaServer::NginxRtmp => {
            let [file] = parts.as_slice() else { return false };
            let Some(base) = file.strip_suffix(".flv") else { return false };
            let Some(rest) = base.strip_prefix(stream) else { return false };
            rest.is_empty()
                || rest
                    .strip_prefix('-')
                    .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        }
        MediaServer::Mediamtx => {
            let [.., dir, file] = parts.as_slice() else { return false };
            *dir == stream
                && !file.starts_with('.')
                && (file.ends_with(".mp4") || file.ends_with(".ts"))
        }
    }
}

/// Checks `given` against the recordings directories `dirs`; returns the canonical path of
/// the file to import.
pub fn check(
    dirs: &[PathBuf],
    server: MediaServer,
    stream: &str,
    given: &Path,
) -> Result<PathBuf, Refusal> {
    let meta = std::fs::symlink_metadata(given).map_err(|_| Refusal::Missing)?;
    if meta.file_type().is_symlink() {
        return Err(Refusal::Symlink);
    }
    let canon = std::fs::canonicalize(given).map_err(|_| Refusal::Missing)?;
    let rel = dirs
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .find_map(|d| {
            canon.strip_prefix(&d).ok().filter(|r| !r.as_os_str().is_empty()).map(Path::to_owned)
        })
        .ok_or(Refusal::OutsideRecordingsDir)?;
    let meta = std::fs::symlink_metadata(&canon).map_err(|_| Refusal::Missing)?;
    if !meta.file_type().is_file() {
        return Err(Refusal::NotARegularFile);
    }
    if !named_for(server, &rel, stream) {
        return Err(Refusal::NotThisStream);
    }
    same_file_when_opened(&canon, &meta)?;
    Ok(canon)
}

/// Opens the file and checks it is still the one inspected (nothing swapped it in between).
#[cfg(unix)]
fn same_file_when_opened(path: &Path, seen: &std::fs::Metadata) -> Result<(), Refusal> {
    use std::os::unix::fs::MetadataExt;
    let f = std::fs::File::open(path).map_err(|_| Refusal::Missing)?;
    let now = f.metadata().map_err(|_| Refusal::Missing)?;
    if now.is_file() && now.dev() == seen.dev() && now.ino() == seen.ino() {
        Ok(())
    } else {
        Err(Refusal::NotARegularFile)
    }
}

#[cfg(not(unix))]
fn same_file_when_opened(_: &Path, _: &std::fs::Metadata) -> Result<(), Refusal> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_names_a_recording_by_stream_and_unique_timestamp() {
        let ok = |p: &str| named_for(MediaServer::NginxRtmp, Path::new(p), "str_1");
        assert!(ok("str_1-1733090000.flv"));
        assert!(ok("str_1.flv"));
        for bad in [
            "str_2-1733090000.flv",
            "str_1-1733090000.mp4",
            "str_1-abc.flv",
            "str_1-.flv",
            "str_10-1.flv",
            "sub/str_1-1.flv",
            "../str_1-1.flv",
            "source",
        ] {
            assert!(!ok(bad), "{bad}");
        }
    }

    #[test]
    fn mediamtx_names_a_recording_by_its_path_directory() {
        let ok = |p: &str| named_for(MediaServer::Mediamtx, Path::new(p), "str_1");
        assert!(ok("live/str_1/2026-12-01_10-00-00-000000.mp4"));
        assert!(ok("live/str_1/2026-12-01_10-00-00-000000.ts"));
        for bad in [
            "live/str_2/2026.mp4",
            "str_1.mp4",
            "live/str_1/.hidden.mp4",
            "live/str_1/x.flv",
            "live/../str_1/x.mp4",
        ] {
            assert!(!ok(bad), "{bad}");
        }
    }

    #[test]
    fn only_a_regular_file_of_the_stream_inside_the_directory_passes() {
        let root = tempfile::tempdir().unwrap();
        let rec = root.path().join("recordings");
        std::fs::create_dir_all(&rec).unwrap();
        let dirs = vec![rec.clone()];
        let good = rec.join("str_1-17.flv");
        std::fs::write(&good, b"flv").unwrap();
        let secret = root.path().join("secret.key");
        std::fs::write(&secret, b"k").unwrap();
        let check = |p: &Path| check(&dirs, MediaServer::NginxRtmp, "str_1", p);
        assert_eq!(check(&good).unwrap(), std::fs::canonicalize(&good).unwrap());
        assert_eq!(check(&secret), Err(Refusal::OutsideRecordingsDir));
        assert_eq!(check(&rec.join("../secret.key")), Err(Refusal::OutsideRecordingsDir));
        assert_eq!(check(&rec), Err(Refusal::OutsideRecordingsDir), "the directory itself");
        assert_eq!(check(&rec.join("nope-1.flv")), Err(Refusal::Missing));
        std::fs::create_dir(rec.join("str_1-18.flv")).unwrap();
        assert_eq!(check(&rec.join("str_1-18.flv")), Err(Refusal::NotARegularFile));
        std::fs::write(rec.join("str_2-1.flv"), b"x").unwrap();
        assert_eq!(check(&rec.join("str_2-1.flv")), Err(Refusal::NotThisStream));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&secret, rec.join("str_1-19.flv")).unwrap();
            assert_eq!(check(&rec.join("str_1-19.flv")), Err(Refusal::Symlink));
            // A symlinked directory on the way resolves outside.
            std::os::unix::fs::symlink(root.path(), rec.join("up")).unwrap();
            assert_eq!(check(&rec.join("up/secret.key")), Err(Refusal::OutsideRecordingsDir));
        }
        assert_eq!(std::fs::read(&secret).unwrap(), b"k");
    }
}
