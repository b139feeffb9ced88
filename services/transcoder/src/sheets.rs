//! Storyboard sheets of a chunked job: the ranges tap their thumbnails one by one (uploaded as
//! `thumbs/thumb_%05d-<token>.jpg`), and the coordinator tiles them, in global order, into
//! `sprites_<k>.jpg` sheets of the storyboard's grid with one ffmpeg call: the geometry of the
//! sheets a single-process job makes ([`crate::command`]'s `tile` filter), so
//! [`crate::storyboard::storyboard_vtt`] indexes them the same way.
//!
//! The thumbnails' names carry attempt tokens, so they are linked as `00000.jpg`, `00001.jpg`...
//! into a scratch directory that ffmpeg's image2 demuxer reads as a numbered sequence.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::error::JobError;
use crate::ffmpeg::{self, Priority};
use crate::storyboard::Storyboard;

/// The image2 pattern of the numbered links [`tile`] makes.
pub const THUMB_PATTERN: &str = "%05d.jpg";

/// ffmpeg args that tile the numbered thumbnails `thumbs_dir/pattern` (from 0, in global order)
/// into sheets `<out>/sprites_<k>.jpg` of `board.grid` (cols x rows, thumbnails scaled to the
/// grid's size), the last sheet partial (the `tile` filter flushes it at the end, the rest of
/// it black).
pub fn tile_args(thumbs_dir: &Path, pattern: &str, board: &Storyboard, out: &Path) -> Vec<String> {
    let g = &board.grid;
    let filter =
        format!("scale={}:{},setsar=1,tile={}x{}", g.thumb_width, g.thumb_height, g.cols, g.rows);
    let input = thumbs_dir.join(pattern).display().to_string();
    let sheets = out.join("sprites_%d.jpg").display().to_string();
    let s = String::from;
    let mut a: Vec<String> = ["-nostdin", "-hide_banner", "-y", "-benchmark"].map(s).to_vec();
    a.extend(["-f", "image2", "-framerate", "25", "-start_number", "0", "-i"].map(s));
    a.push(input);
    a.extend([s("-vf"), filter]);
    a.extend(
        ["-fps_mode", "passthrough", "-update", "0", "-start_number", "0", "-q:v", "4"].map(s),
    );
    a.push(sheets);
    a
}

/// Tiles `thumbs` (local jpg paths in global order) into `<out>/sprites_<k>.jpg` sheets of
/// `board.grid` with one ffmpeg run; returns how many sheets were written (ceil of thumbnails
/// over tiles per sheet; none and no ffmpeg for no thumbnails).
#[instrument(skip_all, fields(thumbs = thumbs.len()), err)]
pub async fn tile(
    ffmpeg: &Path,
    thumbs: &[PathBuf],
    board: &Storyboard,
    out: &Path,
    cancel: &CancellationToken,
) -> Result<u32, JobError> {
    if thumbs.is_empty() {
        return Ok(0);
    }
    tokio::fs::create_dir_all(out)
        .await
        .map_err(JobError::io(format!("creating {}", out.display())))?;
    let links = tempfile::Builder::new()
        .prefix(".thumbs-")
        .tempdir_in(out)
        .map_err(JobError::io("creating the thumbnail links' directory"))?;
    for (i, t) in thumbs.iter().enumerate() {
        let target = std::path::absolute(t).map_err(JobError::io(format!("{}", t.display())))?;
        let link = links.path().join(format!("{i:05}.jpg"));
        tokio::fs::symlink(&target, &link)
            .await
            .map_err(JobError::io(format!("linking {}", t.display())))?;
    }
    let args = tile_args(links.path(), THUMB_PATTERN, board, out);
    ffmpeg::run(ffmpeg, &args, Priority::Normal, cancel, &mut |_| {}).await?;
    let expected = (thumbs.len() as u32).div_ceil(board.grid.count().max(1));
    for k in 0..expected {
        let sheet = out.join(Storyboard::sheet_name(k));
        if !sheet.is_file() {
            return Err(JobError::output(&sheet, "ffmpeg wrote fewer sprite sheets than planned"));
        }
    }
    Ok(expected)
}

#[cfg(test)]
#[path = "sheets_tests.rs"]
mod tests;
