//! The storyboard (pure): the sprite sheet geometry and its WebVTT index, one cue per thumbnail
//! (`sprites.jpg#xywh=x,y,w,h`), the cues together covering the whole video.

/// Thumbnails per row and per column of the sprite sheet.
pub const GRID: u32 = 10;
/// Thumbnail width in pixels (at most; never wider than the rendition).
pub const THUMB_WIDTH: u32 = 160;

/// The layout of a sprite sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpriteGrid {
    pub cols: u32,
    pub rows: u32,
    pub thumb_width: u32,
    pub thumb_height: u32,
}

impl SpriteGrid {
    /// A 10×10 grid of thumbnails of a `width`x`height` picture: 160 px wide (or the picture's
    /// width if smaller), height by aspect ratio, both even.
    pub fn for_picture(width: u32, height: u32) -> SpriteGrid {
        let tw = THUMB_WIDTH.min(width.max(2)) & !1;
        let th =
            ((f64::from(tw) * f64::from(height.max(2)) / f64::from(width.max(2)) / 2.0).round()
                as u32
                * 2)
            .max(2);
        SpriteGrid { cols: GRID, rows: GRID, thumb_width: tw, thumb_height: th }
    }

    /// Thumbnails on the sheet.
    pub fn count(&self) -> u32 {
        self.cols * self.rows
    }
}

/// `HH:MM:SS.mmm`.
pub fn vtt_time(ms: u64) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    format!("{h:02}:{m:02}:{:02}.{:03}", rest / 1000, rest % 1000)
}

/// The WebVTT storyboard of a `duration_secs` video whose sheet is `image` (a URI relative to the
/// VTT file). Thumbnail `i` (row-major) covers `[i, i+1) × duration / count`; the last cue ends at
/// the duration; cues that would be empty (videos shorter than a millisecond per thumbnail) are
/// left out.
pub fn storyboard_vtt(duration_secs: f64, grid: &SpriteGrid, image: &str) -> String {
    let total_ms = (duration_secs.max(0.0) * 1000.0).round() as u64;
    let n = u64::from(grid.count());
    let mut out = String::from("WEBVTT\n");
    for i in 0..n {
        let (start, end) = (i * total_ms / n, (i + 1) * total_ms / n);
        if end <= start {
            continue;
        }
        let (col, row) = (i as u32 % grid.cols, i as u32 / grid.cols);
        out.push_str(&format!(
            "\n{} --> {}\n{image}#xywh={},{},{},{}\n",
            vtt_time(start),
            vtt_time(end),
            col * grid.thumb_width,
            row * grid.thumb_height,
            grid.thumb_width,
            grid.thumb_height
        ));
    }
    out
}

/// One parsed cue: start and end in milliseconds and its payload line.
pub type Cue = (u64, u64, String);

fn parse_time(s: &str) -> Option<u64> {
    let (hms, ms) = s.trim().split_once('.')?;
    let parts: Vec<u64> = hms.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let secs = parts.iter().fold(0, |acc, p| acc * 60 + p);
    Some(secs * 1000 + ms.parse::<u64>().ok()?)
}

/// Parses the cues of a WebVTT file (enough of WebVTT for storyboards).
pub fn parse_vtt(text: &str) -> Option<Vec<Cue>> {
    let mut lines = text.lines();
    if !lines.next()?.starts_with("WEBVTT") {
        return None;
    }
    let mut cues = Vec::new();
    while let Some(line) = lines.next() {
        if let Some((a, b)) = line.split_once("-->") {
            let payload = lines.next()?.to_owned();
            cues.push((parse_time(a)?, parse_time(b)?, payload));
        }
    }
    Some(cues)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_keep_the_aspect_ratio_with_even_sizes() {
        assert_eq!(SpriteGrid::for_picture(640, 360).thumb_height, 90);
        let portrait = SpriteGrid::for_picture(360, 640);
        assert_eq!((portrait.thumb_width, portrait.thumb_height), (160, 284));
        let tiny = SpriteGrid::for_picture(120, 90);
        assert_eq!((tiny.thumb_width, tiny.thumb_height), (120, 90));
    }

    #[test]
    fn the_cues_tile_the_sheet_and_cover_the_whole_duration_without_gaps() {
        let grid = SpriteGrid::for_picture(640, 360);
        let vtt = storyboard_vtt(7.25, &grid, "sprites.jpg");
        let cues = parse_vtt(&vtt).unwrap();
        assert_eq!(cues.len(), 100);
        assert_eq!(cues[0].0, 0);
        assert_eq!(cues.last().unwrap().1, 7250);
        assert!(cues.windows(2).all(|w| w[0].1 == w[1].0), "contiguous");
        assert_eq!(cues[0].2, "sprites.jpg#xywh=0,0,160,90");
        assert_eq!(cues[11].2, "sprites.jpg#xywh=160,90,160,90");
        assert_eq!(cues[99].2, "sprites.jpg#xywh=1440,810,160,90");
    }

    #[test]
    fn long_videos_get_hour_timestamps_and_tiny_ones_no_empty_cues() {
        assert_eq!(vtt_time(3_723_004), "01:02:03.004");
        let grid = SpriteGrid::for_picture(640, 360);
        let cues = parse_vtt(&storyboard_vtt(0.05, &grid, "s.jpg")).unwrap();
        assert_eq!(cues.len(), 50);
        assert_eq!(cues.last().unwrap().1, 50);
        assert!(cues.iter().all(|c| c.1 > c.0));
    }
}
