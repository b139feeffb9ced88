//! The coordinator's passthrough, published while it is packaged: playable in about a second
//! whatever the source's length.
//!
//! The stream copy ([`crate::passthrough::package_args`]) runs with EVENT playlists (ffmpeg
//! lists each segment once it is complete, writing through a temporary file); every 200 ms the
//! coordinator stores the segments listed since the last look, then the playlists (with
//! `EXT-X-START:TIME-OFFSET=0`, so players begin at 0). As soon as the first video segment (and
//! the first audio segment) are stored, a master naming them goes live and `playable` is said;
//! the copy runs on far faster than real time, so a player never reaches its end. When ffmpeg
//! is done the playlists end (`EXT-X-ENDLIST`) and the master is rewritten with the measured
//! bit rates. Copied AAC that browsers do not decode (seen in the first init segment) and
//! keyframes too sparse before anything is live fall back to [`crate::passthrough::package`]
//! (audio encoded) or to no passthrough.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use framelog_events::TranscodeData;
use tokio_util::sync::CancellationToken;

use crate::chunked_job::{Coordinator, Stored};
use crate::command::MEDIA_PLAYLIST;
use crate::error::JobError;
use crate::ffmpeg::{self, FfmpegError, Priority};
use crate::master::AudioMedia;
use crate::passthrough::{
    self, AudioHandling, Eligibility, MAX_KEYFRAME_GAP_SECS, Measured, PLAYABLE_AAC, Packaged,
    SOURCE_AUDIO, SOURCE_RENDITION, aac_object_type, package_args,
};
use crate::playlist::{average_bandwidth, parse_media_playlist, peak_bandwidth};
use crate::progress::Progress;
use crate::publish::Version;

/// What has been stored of one packaged directory.
#[derive(Default)]
struct Dir {
    /// Segments stored, in order: (duration, bytes).
    sizes: Vec<(f64, u64)>,
    init: Option<Vec<u8>>,
    target: u32,
}

impl Dir {
    fn measured(&self) -> Option<Measured> {
        let init = self.init.clone()?;
        (!self.sizes.is_empty()).then(|| Measured {
            bandwidth: peak_bandwidth(&self.sizes, f64::from(self.target.max(1))),
            average_bandwidth: average_bandwidth(&self.sizes),
            longest_secs: self.sizes.iter().map(|(d, _)| *d).fold(0.0, f64::max),
            init,
        })
    }
}

/// Why the progressive copy stops early.
enum Stop {
    /// Copied AAC that browsers do not decode: packaged again with the audio encoded.
    EncodeAudio(u32),
    /// Keyframes too sparse, seen before anything went live: no passthrough.
    Sparse(f64),
}

/// The progressive copy's state.
#[derive(Default)]
struct Progressive {
    dirs: HashMap<&'static str, Dir>,
    /// The pointer was tried (whether it moved or not).
    live: bool,
    /// `playable` was said.
    announced: bool,
    aot: Option<u8>,
}

/// `text` (an ffmpeg EVENT playlist) with players told to start at 0.
fn start_at_zero(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("#EXT-X-PLAYLIST-TYPE") {
            out.push_str("#EXT-X-START:TIME-OFFSET=0\n");
        }
    }
    out
}

impl Coordinator<'_> {
    /// Packages an eligible source by stream copy and makes it the version's first master as
    /// soon as its first segments are stored.
    pub(crate) async fn passthrough(
        &self,
        version: &Version,
        grace: u64,
    ) -> Result<Option<Packaged>, JobError> {
        let audio = match passthrough::eligibility(self.inspection) {
            Eligibility::Eligible { audio } => audio,
            Eligibility::NotEligible(why) => {
                tracing::info!(%why, "no passthrough: the ladder's first range plays first");
                return Ok(None);
            }
        };
        self.reporter.set(Progress { percent: 1.0, eta_secs: None, stage: "packaging" });
        let settings = &self.shared.settings;
        let out = self.work.join("passthrough");
        let mut args = package_args(self.source, &audio, &out, settings.segment_secs);
        for (i, a) in args.clone().iter().enumerate() {
            if a == "-hls_playlist_type" {
                args[i + 1] = "event".into();
            }
            if a == "-hls_flags" {
                args[i + 1] = format!("{}+temp_file", args[i + 1]);
            }
        }
        let copy_cancel = self.cancel.child_token();
        let mut state = Progressive::default();
        let mut quiet = |_| {};
        let run = ffmpeg::run(&settings.ffmpeg, &args, Priority::Normal, &copy_cancel, &mut quiet);
        tokio::pin!(run);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let ran = loop {
            tokio::select! {
                r = &mut run => break r,
                _ = tick.tick() => match self.copy_step(version, &out, &audio, &mut state, grace).await? {
                    None => {}
                    Some(stop) => {
                        copy_cancel.cancel();
                        let _ = (&mut run).await;
                        return self.stopped(stop, version, &audio, grace).await;
                    }
                },
            }
        };
        let stats = match ran {
            Ok(stats) => stats,
            Err(FfmpegError::Cancelled) => return Err(JobError::Cancelled),
            Err(e) => return Err(e.into()),
        };
        if let Some(stop) = self.copy_step(version, &out, &audio, &mut state, grace).await? {
            return self.stopped(stop, version, &audio, grace).await;
        }
        // The final master, with the bit rates of the whole copy.
        let Some(p) = self.packaged(&state, &audio, stats.cpu_secs)? else {
            return Ok(None);
        };
        self.store_master(version, &p).await?;
        if !state.live {
            state.announced = self.go_live_playable(version, grace).await?;
        }
        tracing::info!(wall = stats.wall.as_secs_f64(), "passthrough packaged");
        Ok(state.announced.then_some(p))
    }

    /// Stores what ffmpeg finished since the last look; goes live once there is something to
    /// play. `Some(stop)`: the copy must stop.
    async fn copy_step(
        &self,
        version: &Version,
        out: &Path,
        audio: &AudioHandling,
        state: &mut Progressive,
        grace: u64,
    ) -> Result<Option<Stop>, JobError> {
        let store = Stored { c: self, version };
        let dirs: &[&'static str] = match audio {
            AudioHandling::None => &[SOURCE_RENDITION],
            _ => &[SOURCE_RENDITION, SOURCE_AUDIO],
        };
        for name in dirs {
            let dir = out.join(name);
            let Ok(text) = tokio::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).await else {
                continue;
            };
            let Ok(playlist) = parse_media_playlist(&text) else { continue };
            let d = state.dirs.entry(name).or_default();
            d.target = playlist.target_duration;
            if d.init.is_none()
                && let Some(init) = &playlist.init
            {
                let local = dir.join(init);
                let bytes = tokio::fs::read(&local).await.map_err(JobError::io("an init"))?;
                if *name == SOURCE_AUDIO
                    && let AudioHandling::Copy(i) = audio
                {
                    let aot = aac_object_type(&bytes).unwrap_or(2);
                    if !PLAYABLE_AAC.contains(&aot) {
                        return Ok(Some(Stop::EncodeAudio(*i)));
                    }
                    state.aot = Some(aot);
                }
                store.file(&local, &format!("{name}/{init}")).await?;
                d.init = Some(bytes);
            }
            let new = &playlist.segments[d.sizes.len().min(playlist.segments.len())..];
            for seg in new {
                if *name == SOURCE_RENDITION && seg.duration > MAX_KEYFRAME_GAP_SECS {
                    if !state.live {
                        return Ok(Some(Stop::Sparse(seg.duration)));
                    }
                    tracing::warn!(secs = seg.duration, "a long segment in a live passthrough");
                }
                let local = dir.join(&seg.uri);
                let len = tokio::fs::metadata(&local).await.map_err(JobError::io("a segment"))?;
                store.file(&local, &format!("{name}/{}", seg.uri)).await?;
                d.sizes.push((seg.duration, len.len()));
            }
            if !new.is_empty() || playlist.ended {
                store.text(&format!("{name}/{MEDIA_PLAYLIST}"), start_at_zero(&text)).await?;
            }
        }
        let ready = dirs.iter().all(|n| state.dirs.get(n).is_some_and(|d| !d.sizes.is_empty()));
        if ready
            && !state.live
            && let Some(p) = self.packaged(state, audio, 0.0)?
        {
            self.store_master(version, &p).await?;
            // False: a complete version is live (a retry of a ready video), nothing to say.
            state.announced = self.go_live_playable(version, grace).await?;
            state.live = true;
        }
        Ok(None)
    }

    /// The passthrough as stored so far.
    fn packaged(
        &self,
        state: &Progressive,
        audio: &AudioHandling,
        cpu_secs: f64,
    ) -> Result<Option<Packaged>, JobError> {
        let Some(video) = &self.inspection.video else { return Ok(None) };
        let Some(m) = state.dirs.get(SOURCE_RENDITION).and_then(Dir::measured) else {
            return Ok(None);
        };
        let media: Option<AudioMedia> = match audio {
            AudioHandling::None => None,
            AudioHandling::Copy(i) | AudioHandling::Encode(i) => {
                let Some(a) = state.dirs.get(SOURCE_AUDIO).and_then(Dir::measured) else {
                    return Ok(None);
                };
                let aot = state.aot.unwrap_or(2);
                Some(passthrough::audio_media(self.inspection, *i, audio, &a, aot)?)
            }
        };
        let longest_segment_secs = m.longest_secs;
        Ok(Some(Packaged {
            variant: passthrough::variant(&m, video)?,
            audio: media,
            cpu_secs,
            longest_segment_secs,
        }))
    }

    async fn store_master(&self, version: &Version, p: &Packaged) -> Result<(), JobError> {
        let audio: Vec<AudioMedia> = p.audio.iter().map(|a| version.audio(a)).collect();
        let master = crate::playlist::render_master(&[version.variant(&p.variant)], &audio);
        Stored { c: self, version }.text("master.m3u8", master).await
    }

    /// Moves the pointer to the passthrough and says `playable`; false if a complete version
    /// is live.
    async fn go_live_playable(&self, version: &Version, grace: u64) -> Result<bool, JobError> {
        let media = &self.shared.ctx.media;
        if !version.go_live(self.deletion, media, false, grace).await? {
            return Ok(false);
        }
        let renditions = vec![SOURCE_RENDITION.to_owned()];
        self.emit.emit(TranscodeData::Playable { renditions }, "").await?;
        tracing::info!(secs = self.started.elapsed().as_secs_f64(), "passthrough playable");
        Ok(true)
    }

    /// After a stopped progressive copy: the whole copy again with the audio encoded, or none.
    async fn stopped(
        &self,
        stop: Stop,
        version: &Version,
        audio: &AudioHandling,
        grace: u64,
    ) -> Result<Option<Packaged>, JobError> {
        let index = match stop {
            Stop::Sparse(secs) => {
                tracing::info!(secs, "keyframes too sparse for a passthrough");
                return Ok(None);
            }
            Stop::EncodeAudio(i) => i,
        };
        tracing::info!(?audio, "AAC profile not played by browsers: packaged with AAC-LC");
        let out = self.work.join("passthrough-encoded");
        let settings = &self.shared.settings;
        let encode = AudioHandling::Encode(index);
        let cancel: &CancellationToken = self.cancel;
        let Some(p) = passthrough::package(
            &settings.ffmpeg,
            self.inspection,
            self.source,
            &out,
            settings.segment_secs,
            &encode,
            cancel,
        )
        .await?
        else {
            return Ok(None);
        };
        let store = Stored { c: self, version };
        for dir in [SOURCE_RENDITION, SOURCE_AUDIO] {
            if out.join(dir).is_dir() {
                store.dir(&out.join(dir), dir).await?;
            }
        }
        self.store_master(version, &p).await?;
        if !self.go_live_playable(version, grace).await? {
            return Ok(None);
        }
        Ok(Some(p))
    }
}
