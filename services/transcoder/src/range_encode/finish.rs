//! After ffmpeg: the range's files shifted, renamed with the token and measured.

use std::path::Path;

use super::{RangeJob, RangeOutput, RungOutput, SegmentOut, THUMBS_DIR};
use crate::command::{INIT_SEGMENT, MEDIA_PLAYLIST};
use crate::error::JobError;
use crate::fmp4::{init_fingerprint, shift_fragments, track_timescale};
use crate::iframes::{parse_fragments, parse_init};
use crate::playlist::parse_media_playlist;

/// How far (in timescale units) `start × timescale` may be from a whole number: a range that
/// does not start on a tick of the track's clock would be shifted inexactly.
const TICK_TOLERANCE: f64 = 1e-3;

/// Segment file name of global segment `n` of attempt `token`.
pub fn segment_name(n: u32, token: &str) -> String {
    format!("seg_{n:05}-{token}.m4s")
}

/// Init segment name of attempt `token`.
pub fn init_name(token: &str) -> String {
    format!("init-{token}.mp4")
}

async fn read(path: &Path) -> Result<Vec<u8>, JobError> {
    tokio::fs::read(path).await.map_err(|e| JobError::output(path, e))
}

async fn rename(from: &Path, to: &Path) -> Result<(), JobError> {
    tokio::fs::rename(from, to).await.map_err(|e| JobError::output(from, e))
}

/// After ffmpeg: for each rung, shifts every fragment by `round(start × timescale)` (refused
/// when the start is not on a tick), numbers fragments globally (`first_segment + 1` on, one
/// fragment per segment), renames segments to `seg_%05d-<token>.m4s` and the init to
/// `init-<token>.mp4`, measures sizes and durations (from the range's own playlist, which is
/// then removed) and finds each segment's first sync sample; thumbnails become
/// `thumb_%05d-<token>.jpg`, the poster `poster-<token>.jpg`. A range whose segment count is
/// not the plan's is an error (the numbering of every later range would collide). Files stay in
/// `out`; `cpu_secs` is 0 (see [`super::encode_range`]).
pub async fn finish_range(job: &RangeJob<'_>) -> Result<RangeOutput, JobError> {
    let mut rungs = Vec::new();
    for p in job.ordered() {
        rungs.push(finish_rung(job, &p.name).await?);
    }
    Ok(RangeOutput {
        index: job.range.index,
        token: job.token.to_owned(),
        rungs,
        thumbs: finish_thumbs(job).await?,
        poster: finish_poster(job).await?,
        cpu_secs: 0.0,
    })
}

async fn finish_rung(job: &RangeJob<'_>, name: &str) -> Result<RungOutput, JobError> {
    let range = job.range;
    let dir = job.out.join(name);
    let playlist_path = dir.join(MEDIA_PLAYLIST);
    let text = tokio::fs::read_to_string(&playlist_path)
        .await
        .map_err(|e| JobError::output(&playlist_path, e))?;
    let playlist = parse_media_playlist(&text).map_err(|e| JobError::output(&playlist_path, e))?;
    if playlist.segments.len() != range.segments as usize {
        return Err(JobError::output(
            &playlist_path,
            format!(
                "range {} made {} segments, the plan has {}",
                range.index,
                playlist.segments.len(),
                range.segments
            ),
        ));
    }
    let init_path = dir.join(playlist.init.as_deref().unwrap_or(INIT_SEGMENT));
    let init = read(&init_path).await?;
    let timescale = track_timescale(&init).map_err(|e| JobError::output(&init_path, e))?;
    let defaults = parse_init(&init).map_err(|e| JobError::output(&init_path, e))?;
    let ticks = range.start_secs * f64::from(timescale);
    if (ticks - ticks.round()).abs() > TICK_TOLERANCE {
        return Err(JobError::output(
            &init_path,
            format!("range start {} s is not on a tick of timescale {timescale}", range.start_secs),
        ));
    }
    let offset = ticks.round() as u64;
    let fingerprint = init_fingerprint(&init).map_err(|e| JobError::output(&init_path, e))?;
    let init_file = init_name(job.token);
    rename(&init_path, &dir.join(&init_file)).await?;
    let mut sequence = range.first_segment + 1;
    let mut segments = Vec::new();
    for (k, seg) in playlist.segments.iter().enumerate() {
        let path = dir.join(&seg.uri);
        let expected = format!("seg_{:05}.m4s", range.first_segment + k as u32);
        if seg.uri != expected {
            return Err(JobError::output(&path, format!("expected segment {expected}")));
        }
        let mut bytes = read(&path).await?;
        sequence = shift_fragments(&mut bytes, offset, sequence)
            .map_err(|e| JobError::output(&path, e))?;
        let fragments =
            parse_fragments(&bytes, &defaults).map_err(|e| JobError::output(&path, e))?;
        let iframe = fragments.first().and_then(|f| {
            let s = f.samples.first().filter(|s| s.sync)?;
            Some((f.moof_offset, s.offset + u64::from(s.size) - f.moof_offset))
        });
        let uri = segment_name(range.first_segment + k as u32, job.token);
        let to = dir.join(&uri);
        tokio::fs::write(&to, &bytes).await.map_err(|e| JobError::output(&to, e))?;
        tokio::fs::remove_file(&path).await.map_err(|e| JobError::output(&path, e))?;
        segments.push(SegmentOut {
            uri,
            duration: seg.duration,
            bytes: bytes.len() as u64,
            iframe,
        });
    }
    tokio::fs::remove_file(&playlist_path)
        .await
        .map_err(|e| JobError::output(&playlist_path, e))?;
    Ok(RungOutput {
        name: name.to_owned(),
        init: init_file,
        init_fingerprint: fingerprint,
        segments,
    })
}

async fn finish_thumbs(job: &RangeJob<'_>) -> Result<Vec<String>, JobError> {
    let mut names = Vec::new();
    if !job.taps_thumbs() {
        return Ok(names);
    }
    let dir = job.out.join(THUMBS_DIR);
    let first = job.range.first_thumb;
    for i in first..first + job.range.thumbs {
        let from = dir.join(format!("thumb_{i:05}.jpg"));
        if !tokio::fs::try_exists(&from).await.unwrap_or(false) {
            // A video track that ends before its planned end: fewer thumbnails, in order.
            break;
        }
        let name = format!("thumb_{i:05}-{}.jpg", job.token);
        rename(&from, &dir.join(&name)).await?;
        names.push(name);
    }
    Ok(names)
}

async fn finish_poster(job: &RangeJob<'_>) -> Result<Option<String>, JobError> {
    let from = job.out.join("poster.jpg");
    if !job.range.poster || !tokio::fs::try_exists(&from).await.unwrap_or(false) {
        return Ok(None);
    }
    let name = format!("poster-{}.jpg", job.token);
    rename(&from, &job.out.join(&name)).await?;
    Ok(Some(name))
}
