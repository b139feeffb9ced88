//! I-frame playlists (trick play): the fMP4 boxes that say where each keyframe is (pure), the
//! `#EXT-X-I-FRAMES-ONLY` playlist of a rendition and its master entry, and an IO wrapper that
//! writes `<rendition>/iframes.m3u8` from what ffmpeg wrote.
//!
//! An entry's byte range starts at a `moof` and runs through the `mdat` header to the end of
//! the fragment's first sample, so only a fragment that begins with a sync sample gives an
//! entry. ffmpeg 5.1's HLS muxer writes one fragment per segment (asking it for a fragment per
//! keyframe with `-hls_segment_options movflags=+frag_keyframe` moves the whole first segment
//! into `init.mp4`), so there is one I-frame per segment; its duration runs to the next entry.

use std::path::Path;

use crate::command::INIT_SEGMENT;
use crate::error::JobError;
use crate::playlist::{MediaPlaylist, Variant, parse_media_playlist, peak_bandwidth};

/// Name of every video rendition's I-frame playlist.
pub const IFRAME_PLAYLIST: &str = "iframes.m3u8";

/// fMP4 bytes that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoxError {
    #[error("box `{0}` at byte {1} runs past the end of the data")]
    Truncated(String, u64),
    #[error("the init segment has no `{0}` box")]
    Missing(&'static str),
    #[error("the fragment at byte {0} has no sample")]
    Empty(u64),
}

/// What the init segment says of the (first) track's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackDefaults {
    /// `mdhd` units per second.
    pub timescale: u32,
    /// `trex` defaults, used when neither `tfhd` nor `trun` gives a value.
    pub sample_duration: u32,
    pub sample_size: u32,
    pub sample_flags: u32,
}

/// One sample of a fragment: where its bytes are (absolute in the segment), how long it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub offset: u64,
    pub size: u32,
    pub duration: u32,
    /// Not flagged `sample_is_non_sync_sample`.
    pub sync: bool,
}

/// One `moof` and its samples (first track fragment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub moof_offset: u64,
    pub samples: Vec<Sample>,
}

/// One entry of an I-frame playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct IFrame {
    /// The segment's URI (relative to the playlist).
    pub uri: String,
    pub offset: u64,
    pub length: u64,
    pub duration: f64,
}

/// The master playlist entry of one I-frame playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct IFrameVariant {
    /// Its URI as the master names it.
    pub uri: String,
    pub bandwidth: u64,
    pub width: u32,
    pub height: u32,
    /// The video codec alone (an I-frame stream has no audio).
    pub codecs: String,
}

const NON_SYNC: u32 = 0x0001_0000;

/// `(type, start, header length, end)` of one box.
type BoxSpan = ([u8; 4], u64, u64, u64);

/// Every box in `b[from..to]`.
fn boxes(b: &[u8], from: u64, to: u64) -> Result<Vec<BoxSpan>, BoxError> {
    let mut out = Vec::new();
    let mut at = from;
    while at + 8 <= to {
        let i = at as usize;
        let kind: [u8; 4] = b[i + 4..i + 8].try_into().expect("4 bytes");
        let name = String::from_utf8_lossy(&kind).into_owned();
        let (size, header) = match u32_at(b, at) {
            Some(1) => (u64_at(b, at + 8).ok_or(BoxError::Truncated(name.clone(), at))?, 16),
            Some(0) => (to - at, 8),
            Some(s) => (u64::from(s), 8),
            None => return Err(BoxError::Truncated(name, at)),
        };
        if size < header || at + size > to {
            return Err(BoxError::Truncated(name, at));
        }
        out.push((kind, at, header, at + size));
        at += size;
    }
    Ok(out)
}

fn u32_at(b: &[u8], at: u64) -> Option<u32> {
    let i = usize::try_from(at).ok()?;
    Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: u64) -> Option<u64> {
    let i = usize::try_from(at).ok()?;
    Some(u64::from_be_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

/// The first child of type `kind` of the box spanning `[start + header, end)`.
fn child(b: &[u8], parent: (u64, u64), kind: &[u8; 4]) -> Result<Option<(u64, u64)>, BoxError> {
    Ok(boxes(b, parent.0, parent.1)?
        .into_iter()
        .find(|x| &x.0 == kind)
        .map(|(_, s, h, e)| (s + h, e)))
}

fn path(b: &[u8], kinds: &[&'static [u8; 4]]) -> Result<(u64, u64), BoxError> {
    let mut span = (0, b.len() as u64);
    for k in kinds {
        let name = std::str::from_utf8(*k).unwrap_or("?");
        span = child(b, span, k)?.ok_or(BoxError::Missing(name))?;
    }
    Ok(span)
}

fn field(b: &[u8], at: u64, what: &str) -> Result<u32, BoxError> {
    u32_at(b, at).ok_or_else(|| BoxError::Truncated(what.to_owned(), at))
}

/// Reads the track defaults of an fMP4 init segment (its first track).
pub fn parse_init(b: &[u8]) -> Result<TrackDefaults, BoxError> {
    let (mdhd, _) = path(b, &[b"moov", b"trak", b"mdia", b"mdhd"])?;
    let version = b.get(mdhd as usize).copied().unwrap_or(0);
    let timescale = field(b, mdhd + if version == 1 { 20 } else { 12 }, "mdhd")?;
    let mut d = TrackDefaults { timescale, sample_duration: 0, sample_size: 0, sample_flags: 0 };
    if let Ok((trex, _)) = path(b, &[b"moov", b"mvex", b"trex"]) {
        d.sample_duration = field(b, trex + 12, "trex")?;
        d.sample_size = field(b, trex + 16, "trex")?;
        d.sample_flags = field(b, trex + 20, "trex")?;
    }
    Ok(d)
}

/// Reads every `moof` of a media segment (see [`parse_moof`]).
pub fn parse_fragments(b: &[u8], defaults: &TrackDefaults) -> Result<Vec<Fragment>, BoxError> {
    let mut out = Vec::new();
    for (kind, start, _, end) in boxes(b, 0, b.len() as u64)? {
        if &kind == b"moof" {
            out.push(parse_moof(&b[start as usize..end as usize], start, defaults)?);
        }
    }
    Ok(out)
}

/// Reads one `moof` box (`b`, found at `moof_offset` in its segment): the first track
/// fragment's samples, with the defaults of `tfhd` (else `trex`), the data offset of `trun`
/// from the moof (or the tfhd base offset).
pub fn parse_moof(
    b: &[u8],
    moof_offset: u64,
    defaults: &TrackDefaults,
) -> Result<Fragment, BoxError> {
    let Some(&(kind, _, header, end)) = boxes(b, 0, b.len() as u64)?.first() else {
        return Err(BoxError::Empty(moof_offset));
    };
    if &kind != b"moof" {
        return Err(BoxError::Missing("moof"));
    }
    let (start, shift) = (0u64, moof_offset);
    {
        let traf = child(b, (start + header, end), b"traf")?.ok_or(BoxError::Empty(shift))?;
        let tfhd = child(b, traf, b"tfhd")?.ok_or(BoxError::Empty(shift))?.0;
        let flags = field(b, tfhd, "tfhd")? & 0x00ff_ffff;
        let mut at = tfhd + 8;
        let mut base = start;
        if flags & 0x01 != 0 {
            let abs = u64_at(b, at).ok_or_else(|| BoxError::Truncated("tfhd".into(), at))?;
            base = abs.wrapping_sub(shift);
            at += 8;
        }
        if flags & 0x02 != 0 {
            at += 4;
        }
        let mut opt = |bit: u32, default: u32| -> Result<u32, BoxError> {
            if flags & bit == 0 {
                return Ok(default);
            }
            let v = field(b, at, "tfhd")?;
            at += 4;
            Ok(v)
        };
        let dur = opt(0x08, defaults.sample_duration)?;
        let size = opt(0x10, defaults.sample_size)?;
        let sflags = opt(0x20, defaults.sample_flags)?;
        let mut samples = Vec::new();
        let mut next = base;
        for (kind, s, h, _) in boxes(b, traf.0, traf.1)? {
            if &kind != b"trun" {
                continue;
            }
            let t = s + h;
            let tflags = field(b, t, "trun")? & 0x00ff_ffff;
            let count = field(b, t + 4, "trun")?;
            let mut at = t + 8;
            let mut data = next;
            if tflags & 0x01 != 0 {
                data = base.wrapping_add_signed(i64::from(field(b, at, "trun")? as i32));
                at += 4;
            }
            let mut first_flags = None;
            if tflags & 0x04 != 0 {
                first_flags = Some(field(b, at, "trun")?);
                at += 4;
            }
            for i in 0..count {
                let mut get = |bit: u32, default: u32| -> Result<u32, BoxError> {
                    if tflags & bit == 0 {
                        return Ok(default);
                    }
                    let v = field(b, at, "trun")?;
                    at += 4;
                    Ok(v)
                };
                let duration = get(0x100, dur)?;
                let size = get(0x200, size)?;
                let mut f = get(0x400, sflags)?;
                get(0x800, 0)?;
                if i == 0
                    && let Some(ff) = first_flags
                {
                    f = ff;
                }
                samples.push(Sample { offset: data, size, duration, sync: f & NON_SYNC == 0 });
                data += u64::from(size);
            }
            next = data;
        }
        if samples.is_empty() {
            return Err(BoxError::Empty(shift));
        }
        let samples = samples
            .into_iter()
            .map(|s| Sample { offset: s.offset.wrapping_add(shift), ..s })
            .collect();
        Ok(Fragment { moof_offset: shift, samples })
    }
}

/// The I-frame entries of a rendition's fragments, in play order, each paired with its
/// segment's URI: one per fragment that starts with a sync sample (moof through that sample),
/// lasting until the next entry (the last one until the end of the media).
pub fn iframes(fragments: &[(String, Fragment)], timescale: u32) -> Vec<IFrame> {
    let mut out: Vec<IFrame> = Vec::new();
    let scale = f64::from(timescale.max(1));
    for (uri, f) in fragments {
        let first = f.samples[0];
        if first.sync {
            out.push(IFrame {
                uri: uri.clone(),
                offset: f.moof_offset,
                length: first.offset + u64::from(first.size) - f.moof_offset,
                duration: 0.0,
            });
        }
        if let Some(last) = out.last_mut() {
            last.duration += f.samples.iter().map(|s| f64::from(s.duration)).sum::<f64>() / scale;
        }
    }
    out
}

/// The I-frame playlist text: version 4 (byte ranges), the rendition's init segment as
/// `EXT-X-MAP`, one `EXT-X-BYTERANGE` entry per I-frame.
pub fn iframe_playlist(init_uri: &str, frames: &[IFrame]) -> String {
    let target = frames.iter().map(|f| f.duration).fold(0.0, f64::max).ceil().max(1.0);
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-I-FRAMES-ONLY\n\
         #EXT-X-MAP:URI=\"{init_uri}\"\n"
    );
    for f in frames {
        out.push_str(&format!(
            "#EXTINF:{:.6},\n#EXT-X-BYTERANGE:{}@{}\n{}\n",
            f.duration, f.length, f.offset, f.uri
        ));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// Peak bit rate of an I-frame stream: each I-frame is a segment of its entry's duration.
pub fn iframe_bandwidth(frames: &[IFrame]) -> u64 {
    let sizes: Vec<(f64, u64)> = frames.iter().map(|f| (f.duration, f.length)).collect();
    let target = frames.iter().map(|f| f.duration).fold(0.0, f64::max).ceil().max(1.0);
    peak_bandwidth(&sizes, target)
}

/// The master playlist line of one I-frame playlist.
pub fn iframe_stream_inf(v: &IFrameVariant) -> String {
    format!(
        "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={},RESOLUTION={}x{},CODECS=\"{}\",URI=\"{}\"\n",
        v.bandwidth, v.width, v.height, v.codecs, v.uri
    )
}

/// Writes `<dir>/iframes.m3u8` for the rendition whose media playlist (already parsed) is
/// `playlist`, reading its init and segments. Returns the I-frame stream's peak bit rate.
pub async fn write_iframe_playlist(dir: &Path, playlist: &MediaPlaylist) -> Result<u64, JobError> {
    let init_uri = playlist.init.as_deref().unwrap_or(INIT_SEGMENT);
    let init_path = dir.join(init_uri);
    let init = tokio::fs::read(&init_path).await.map_err(|e| JobError::output(&init_path, e))?;
    let defaults = parse_init(&init).map_err(|e| JobError::output(&init_path, e))?;
    let mut fragments = Vec::new();
    for s in &playlist.segments {
        let p = dir.join(&s.uri);
        let frags = read_fragments(&p, &defaults).await.map_err(|e| JobError::output(&p, e))?;
        fragments.extend(frags.into_iter().map(|f| (s.uri.clone(), f)));
    }
    let frames = iframes(&fragments, defaults.timescale);
    if frames.is_empty() {
        return Err(JobError::output(dir, "no fragment starts with a key frame"));
    }
    let out = dir.join(IFRAME_PLAYLIST);
    tokio::fs::write(&out, iframe_playlist(init_uri, &frames))
        .await
        .map_err(|e| JobError::output(&out, e))?;
    Ok(iframe_bandwidth(&frames))
}

/// Writes the I-frame playlist of the video rendition the master names as `variant` (its media
/// playlist under `out_dir`) and returns its master entry, the URI relative like the
/// variant's. The codecs are the variant's first (the video's: audio codecs follow it).
pub async fn for_variant(out_dir: &Path, variant: &Variant) -> Result<IFrameVariant, JobError> {
    let (rendition, _) = variant.uri.rsplit_once('/').unwrap_or(("", &variant.uri));
    let dir = out_dir.join(rendition);
    let path = out_dir.join(&variant.uri);
    let text = tokio::fs::read_to_string(&path).await.map_err(|e| JobError::output(&path, e))?;
    let playlist = parse_media_playlist(&text).map_err(|e| JobError::output(&path, e))?;
    let bandwidth = write_iframe_playlist(&dir, &playlist).await?;
    let uri = if rendition.is_empty() {
        IFRAME_PLAYLIST.to_owned()
    } else {
        format!("{rendition}/{IFRAME_PLAYLIST}")
    };
    Ok(IFrameVariant {
        uri,
        bandwidth,
        width: variant.width,
        height: variant.height,
        codecs: variant.codecs.split(',').next().unwrap_or_default().to_owned(),
    })
}

/// Error of [`read_fragments`].
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Box(#[from] BoxError),
}

/// The fragments of one segment file, reading only its box headers and its `moof` boxes (the
/// `mdat` payloads are skipped over).
async fn read_fragments(path: &Path, defaults: &TrackDefaults) -> Result<Vec<Fragment>, ReadError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, SeekFrom};
    let mut f = tokio::fs::File::open(path).await?;
    let len = f.metadata().await?.len();
    let mut out = Vec::new();
    let mut at = 0u64;
    while at + 8 <= len {
        let mut head = [0u8; 16];
        f.seek(SeekFrom::Start(at)).await?;
        let n = if at + 16 <= len { 16 } else { 8 };
        f.read_exact(&mut head[..n]).await?;
        let kind = String::from_utf8_lossy(&head[4..8]).into_owned();
        let size = match u32::from_be_bytes(head[..4].try_into().expect("4 bytes")) {
            1 if n == 16 => u64::from_be_bytes(head[8..16].try_into().expect("8 bytes")),
            0 => len - at,
            s => u64::from(s),
        };
        if size < 8 || at + size > len {
            return Err(BoxError::Truncated(kind, at).into());
        }
        if &head[4..8] == b"moof" {
            let mut moof =
                vec![0u8; usize::try_from(size).map_err(|_| BoxError::Truncated(kind, at))?];
            f.seek(SeekFrom::Start(at)).await?;
            f.read_exact(&mut moof).await?;
            out.push(parse_moof(&moof, at, defaults)?);
        }
        at += size;
    }
    Ok(out)
}

#[cfg(test)]
#[path = "iframes_tests.rs"]
mod tests;
