//! [`WorkPlan`]: what a chunked job makes of one source (rungs, ranges, audio, thumbnails),
//! computed the same way by the coordinator and by every worker that encodes one of its items.
//! Its [`WorkPlan::hash`] travels with each item: a worker whose own plan differs (another
//! release during a rolling upgrade) hands the item back rather than encode mismatched rungs.

use framelog_core::probe::Inspection;
use sha2::Digest;

use crate::audio::AudioPlan;
use crate::chunks::{self, ChunkPlan, RangeSpec};
use crate::encoder::Encoder;
use crate::error::JobError;
use crate::ladder::{LadderSource, select_profiles};
use crate::profile::Profile;
use crate::settings::TranscoderSettings;
use crate::storyboard::{Storyboard, poster_size, tile_interval};
use crate::video_filters::PAD_AFTER_SECS;

pub use crate::items::{AUDIO_ITEM, range_item};

/// One job's rungs, ranges, audio and thumbnails.
#[derive(Debug, Clone)]
pub struct WorkPlan {
    /// The ladder, lowest first.
    pub profiles: Vec<Profile>,
    pub chunks: ChunkPlan,
    /// None: the source has no audio.
    pub audio: Option<AudioPlan>,
    pub board: Storyboard,
    pub poster_at_secs: f64,
    pub poster_size: (u32, u32),
    pub duration_secs: f64,
    /// Hex digest of everything above and the encoder.
    pub hash: String,
}

/// The range index an item name stands for.
pub fn range_index(item: &str) -> Option<u32> {
    item.strip_prefix('r')?.parse().ok()
}

impl WorkPlan {
    /// The plan of a video source (`Err` when it has no video rung).
    pub fn of(
        inspection: &Inspection,
        settings: &TranscoderSettings,
        encoder: &Encoder,
    ) -> Result<WorkPlan, JobError> {
        let profiles = select_profiles(&LadderSource::from_inspection(inspection));
        let (Some(lowest), Some(top)) = (profiles.first(), profiles.last()) else {
            return Err(framelog_core::probe::ProbeError::NoVideo.into());
        };
        let d = inspection.probe.duration_secs;
        // The ladder's video ends where the video track does, unless it is held on its last
        // picture to the container's end (`video_filters::PAD_AFTER_SECS`): the ranges cover
        // that, not an audio tail a few milliseconds longer (no range of no frames).
        let early = inspection.video.as_ref().map_or(0.0, |v| v.ends_early_secs);
        let video_end = if early > PAD_AFTER_SECS { d } else { (d - early).max(0.0) };
        let board = Storyboard::plan(d, lowest.width, lowest.height, tile_interval(d));
        let poster_at_secs = d * 0.25;
        let poster_size = poster_size(top.width, top.height);
        let c = &settings.chunks;
        // A video held on its last picture is padded by the last range alone, which must start
        // before the picture ends: such a source is one range (rare; see ARCHITECTURE).
        let (per_range, first) = match early > PAD_AFTER_SECS {
            true => (u32::MAX, u32::MAX),
            false => (c.range_segments, c.first_range_segments),
        };
        let chunks = chunks::plan(
            video_end,
            top,
            settings.segment_secs,
            per_range,
            first,
            &board,
            poster_at_secs,
        );
        let audio = crate::audio::plan_for(inspection);
        let mut h = sha2::Sha256::new();
        let text = format!(
            "{profiles:?}|{chunks:?}|{audio:?}|{board:?}|{poster_at_secs}|{poster_size:?}|{}|{}|{}",
            encoder.codec, encoder.preset, settings.segment_secs
        );
        h.update(text.as_bytes());
        let hash = hex::encode(h.finalize())[..16].to_owned();
        Ok(WorkPlan {
            profiles,
            chunks,
            audio,
            board,
            poster_at_secs,
            poster_size,
            duration_secs: d,
            hash,
        })
    }

    /// Every item in the order they are worth doing: range 0, the audio, the other ranges.
    pub fn items(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.chunks.ranges {
            out.push(range_item(r.index));
            if r.index == 0 && self.audio.is_some() {
                out.push(AUDIO_ITEM.to_owned());
            }
        }
        out
    }

    /// The range an item names.
    pub fn range(&self, item: &str) -> Option<&RangeSpec> {
        let i = range_index(item)?;
        self.chunks.ranges.iter().find(|r| r.index == i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_names_round_trip_and_sort_in_range_order() {
        assert_eq!(range_item(3), "r00003");
        assert_eq!(range_index("r00003"), Some(3));
        assert_eq!(range_index(AUDIO_ITEM), None);
        assert!(range_item(9) < range_item(10));
    }
}
