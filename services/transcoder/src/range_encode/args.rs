//! The ffmpeg command line of one range (pure).

use super::{RangeJob, THUMBS_DIR};
use crate::chunks::{segment_frames, segment_length};
use crate::command::hls_args;
use crate::profile::FrameRate;
use crate::video_filters::{OUTPUT_COLOUR_ARGS, pre_chain, scale_step};

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// Seconds as ffmpeg reads them, rounded down to the microsecond: a range start or length
/// rounded down keeps the frame on the boundary in its range (ffmpeg compares in the stream's
/// time base, rounding to nearest, so the microsecond never moves a frame out).
pub fn secs(t: f64) -> String {
    let us = (t.max(0.0) * 1e6 + 1e-3).floor() as u64;
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// How much earlier than its start a range reads its input: half a frame of the top rung (none
/// for a range starting at 0). A range so takes exactly the source frames the single-process
/// encode's `fps` filter would round to its frames, even when the source's timestamps jitter
/// around the boundary (a variable-rate phone video); the graph shifts them back first.
pub fn lead_secs(job: &RangeJob<'_>) -> f64 {
    match job.ordered().first() {
        Some(top) if job.range.start_secs > 0.0 => {
            (f64::from(top.fps.den) / f64::from(top.fps.num.max(1)) / 2.0).min(job.range.start_secs)
        }
        _ => 0.0,
    }
}

/// The `-filter_complex` graph of a range: the ladder's cascade (as
/// [`crate::command::filter_graph`]: pre-filters once, each rung scaled from the next larger,
/// the rate capped where it changes), the input first shifted back by [`lead_secs`], the top
/// rung's `fps` anchored at 0 and, but in the last range, padded and cut to the range's exact
/// frame count (so a variable-rate source still gives whole frames from the range start and
/// neither a frame less nor one more at its end); `[thumbs]` with the global thumbnail
/// frames and `[poster]` when the range taps them. Output labels `[v0]`, `[v1]`... in
/// [`RangeJob::ordered`] order.
pub fn filter_graph(job: &RangeJob<'_>) -> String {
    let ordered = job.ordered();
    let range = job.range;
    // A video track that ends early is held on its last picture by the last range alone.
    let video = job.video.map(|v| {
        let mut v = v.clone();
        if !range.last {
            v.ends_early_secs = 0.0;
        }
        v
    });
    let mut parts = Vec::new();
    let lead = lead_secs(job);
    let shift = if lead > 0.0 { format!("setpts=PTS-{}/TB,", secs(lead)) } else { String::new() };
    let mut node = format!("[0:v]{shift}{}", pre_chain(video.as_ref()));
    if range.poster {
        parts.push(format!("{node}split=2[src][pst]"));
        parts.push(format!(
            "[pst]select='isnan(prev_selected_t)*gte(t,{})',{}[poster]",
            secs(job.poster_at_secs - range.start_secs),
            scale_step(job.poster_size.0, job.poster_size.1)
        ));
        node = "[src]".to_owned();
    }
    let mut prev_fps: Option<FrameRate> = None;
    for (k, p) in ordered.iter().enumerate() {
        let last = k + 1 == ordered.len();
        let mut filters = Vec::new();
        if prev_fps.is_none() {
            filters.push(format!("fps={}:start_time=0", p.fps));
            if !range.last {
                let frames = segment_frames(p, job.segment_secs) * u64::from(range.segments);
                // A sparse end (variable-rate source) is filled with copies of the last
                // frame, as the single encode's fps filter does; never a frame more.
                filters.push(format!("tpad=stop_mode=clone:stop={frames},trim=end_frame={frames}"));
            }
        } else if prev_fps != Some(p.fps) {
            filters.push(format!("fps={}", p.fps));
            if !range.last {
                // A lower rate's `fps` may round one frame more out of the range's end (a
                // frame that would start a segment of its own): cut at its exact count too.
                let frames = segment_frames(p, job.segment_secs) * u64::from(range.segments);
                filters.push(format!("trim=end_frame={frames}"));
            }
        }
        prev_fps = Some(p.fps);
        filters.push(scale_step(p.width, p.height));
        let mut taps = vec![format!("[r{k}]")];
        if !last {
            taps.push(format!("[n{}]", k + 1));
        }
        if last && job.taps_thumbs() {
            taps.push("[thumbs]".to_owned());
        }
        let chain = filters.join(",");
        if taps.len() == 1 {
            parts.push(format!("{node}{chain}{}", taps[0]));
        } else {
            parts.push(format!("{node}{chain},split={}{}", taps.len(), taps.concat()));
        }
        parts.push(format!("[r{k}]{}[v{k}]", job.encoder.filter_tail()));
        node = format!("[n{}]", k + 1);
    }
    if let (Some(board), Some(lowest)) = (job.board.filter(|_| job.taps_thumbs()), ordered.last()) {
        // Back on the source's clock, then the frames the single-process storyboard's `fps`
        // filter takes: the last before each `(i + 1/2) / rate` (a frame is selected when the
        // next frame, 1/fps later, is at or past such an instant). A microsecond of margin
        // keeps a frame exactly on an instant on the side the fps filter's rounding puts it.
        let rate = board.rate();
        let next = format!("{}/{}", lowest.fps.den, lowest.fps.num);
        parts.push(format!(
            "[thumbs]setpts=PTS+round({}/TB),select='gt(floor((t+{next}+0.000001)*({rate})-0.5),\
             floor((t+0.000001)*({rate})-0.5))',scale={}:{}[thumbnails]",
            secs(range.start_secs),
            board.grid.thumb_width,
            board.grid.thumb_height
        ));
    }
    parts.join(";")
}

/// The whole argument list (without the program name): `-ss <start - lead> [-t <length>]` before the
/// fenced input, the range's graph, the ladder's per-rung codec, GOP and rate arguments, no
/// audio, fMP4 HLS into `<out>/<rung>/` numbered from the range's first segment (`hls_time` a
/// half frame under the exact segment length, so every cut falls on the planned keyframe),
/// then the thumbnails (`thumbs/thumb_%05d.jpg` from the first global index) and the poster
/// (`poster.jpg`).
pub fn range_args(job: &RangeJob<'_>) -> Vec<String> {
    let ordered = job.ordered();
    let range = job.range;
    let mut a = crate::command::preamble();
    a.extend(job.encoder.input_args());
    a.extend([s("-ss"), secs(range.start_secs - lead_secs(job))]);
    if !range.last {
        a.extend([s("-t"), secs(range.end_secs - range.start_secs)]);
    }
    a.extend(job.input.input_args());
    a.extend([s("-filter_complex"), filter_graph(job)]);
    for k in 0..ordered.len() {
        a.extend([s("-map"), format!("[v{k}]")]);
    }
    a.extend(crate::rate::video_args(job.encoder, &ordered));
    a.extend(OUTPUT_COLOUR_ARGS.map(s));
    a.push(s("-an"));
    a.extend([s("-start_number"), s(range.first_segment)]);
    let vsm: Vec<String> =
        ordered.iter().enumerate().map(|(i, p)| format!("v:{i},name:{}", p.name)).collect();
    let mut hls = hls_args(job.out, job.segment_secs, &vsm.join(" "));
    if let (Some(top), Some(i)) = (ordered.first(), hls.iter().position(|x| x == "-hls_time")) {
        let half_frame = f64::from(top.fps.den) / f64::from(top.fps.num.max(1)) / 2.0;
        hls[i + 1] = secs(segment_length(top, job.segment_secs) - half_frame);
    }
    a.extend(hls);
    if job.taps_thumbs() {
        let pattern = job.out.join(THUMBS_DIR).join("thumb_%05d.jpg");
        // Passthrough: selected frames at their own instants (constant-rate output would
        // fill the gaps, and the time from 0, with copies).
        a.extend(["-map", "[thumbnails]", "-fps_mode", "passthrough", "-frames:v"].map(s));
        a.extend([s(range.thumbs), s("-start_number"), s(range.first_thumb)]);
        a.extend([s("-q:v"), s(4), pattern.display().to_string()]);
    }
    if range.poster {
        a.extend(["-map", "[poster]", "-frames:v", "1", "-update", "1", "-q:v", "3"].map(s));
        a.push(job.out.join("poster.jpg").display().to_string());
    }
    a
}
