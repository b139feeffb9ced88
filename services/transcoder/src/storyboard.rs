//! The storyboard (pure): how many thumbnails a video gets (one every few seconds), the sheets
//! they fill (`sprites_0.jpg`, `sprites_1.jpg`... of 10x10 tiles) and the WebVTT index, one cue
//! per thumbnail (`sprites_<k>.jpg#xywh=x,y,w,h`), the cues together covering the whole video;
//! and the poster's size.

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

/// Shortest and longest time between two storyboard thumbnails (seconds).
pub const TILE_SECS: (f64, f64) = (2.0, 10.0);
/// Most thumbnails of one video: past it (videos over ~2.8 h) thumbnails are spaced further.
pub const MAX_TILES: u32 = 1000;

/// The time between thumbnails a `duration_secs` video aims at: a hundredth of it, within
/// [`TILE_SECS`], and no more than [`MAX_TILES`] in all.
pub fn tile_interval(duration_secs: f64) -> f64 {
    let d = duration_secs.max(0.0);
    (d / 100.0).clamp(TILE_SECS.0, TILE_SECS.1).max(d / f64::from(MAX_TILES))
}

/// The storyboard of one video: `count` thumbnails spaced evenly over the duration, on as
/// many sheets of `grid` as they need (`sprites_0.jpg`, `sprites_1.jpg`...), the last one
/// maybe partly filled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Storyboard {
    /// The layout of every sheet.
    pub grid: SpriteGrid,
    /// Thumbnails in all.
    pub count: u32,
    pub duration_secs: f64,
}

impl Storyboard {
    /// Thumbnails of a `width`x`height` picture about every `interval_secs` (at least one, at
    /// most [`MAX_TILES`]) over `duration_secs`; a storyboard with fewer than a sheet of them gets a smaller sheet
    /// (fewer rows, or columns).
    pub fn plan(duration_secs: f64, width: u32, height: u32, interval_secs: f64) -> Storyboard {
        let d = duration_secs.max(0.0);
        let interval = if interval_secs > 0.0 { interval_secs } else { TILE_SECS.0 };
        let count = (d / interval - 1e-9).ceil().clamp(1.0, f64::from(MAX_TILES)) as u32;
        let mut grid = SpriteGrid::for_picture(width, height);
        grid.cols = grid.cols.min(count);
        grid.rows = grid.rows.min(count.div_ceil(grid.cols));
        Storyboard { grid, count, duration_secs: d }
    }

    /// Sheets needed for all the thumbnails.
    pub fn sheets(&self) -> u32 {
        self.count.div_ceil(self.grid.count())
    }

    /// The file name of sheet `k`.
    pub fn sheet_name(k: u32) -> String {
        format!("sprites_{k}.jpg")
    }

    /// The frame rate that samples `count` frames over the duration, as `N/D` for ffmpeg.
    pub fn rate(&self) -> String {
        let ms = ((self.duration_secs * 1000.0).round() as u64).max(1);
        let n = u64::from(self.count) * 1000;
        let g = gcd(n, ms);
        format!("{}/{}", n / g, ms / g)
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}

/// The WebVTT storyboard: thumbnail `i` covers `[i, i+1) × duration / count` and is tile
/// `i % per-sheet` (row-major) of sheet `i / per-sheet`, named `<image_prefix>sprites_<k>.jpg`
/// (a URI relative to the VTT file). The last cue ends at the duration; cues that would be
/// empty (videos shorter than a millisecond per thumbnail) are left out, and so are those of
/// sheets from `sheets` on (a video track that ends before the container: ffmpeg wrote fewer).
pub fn storyboard_vtt(board: &Storyboard, image_prefix: &str, sheets: u32) -> String {
    let grid = &board.grid;
    let total_ms = (board.duration_secs * 1000.0).round() as u64;
    let n = u64::from(board.count);
    let per_sheet = grid.count();
    let mut out = String::from("WEBVTT\n");
    for i in 0..n {
        let (start, end) = (i * total_ms / n, (i + 1) * total_ms / n);
        if end <= start {
            continue;
        }
        let (sheet, tile) = ((i / u64::from(per_sheet)) as u32, (i % u64::from(per_sheet)) as u32);
        if sheet >= sheets {
            break;
        }
        let (col, row) = (tile % grid.cols, tile / grid.cols);
        out.push_str(&format!(
            "\n{} --> {}\n{image_prefix}{}#xywh={},{},{},{}\n",
            vtt_time(start),
            vtt_time(end),
            Storyboard::sheet_name(sheet),
            col * grid.thumb_width,
            row * grid.thumb_height,
            grid.thumb_width,
            grid.thumb_height
        ));
    }
    out
}

/// The poster size for a picture of `width`x`height`: the same, or, when larger than 1080p,
/// fitted into 1920x1080 (1080x1920 for a portrait picture) keeping the aspect ratio (both even).
pub fn poster_size(width: u32, height: u32) -> (u32, u32) {
    let (w, h) = (f64::from(width.max(2)), f64::from(height.max(2)));
    let (bw, bh) = if w >= h { (1920.0, 1080.0) } else { (1080.0, 1920.0) };
    let k = (bw / w).min(bh / h).min(1.0);
    let even = |x: f64| (((x * k) / 2.0).round() as u32 * 2).max(2);
    (even(w), even(h))
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
    fn the_cues_tile_the_sheets_and_cover_the_whole_duration_without_gaps() {
        let board = Storyboard::plan(25.0, 640, 360, 0.1);
        assert_eq!((board.count, board.sheets()), (250, 3));
        assert_eq!((board.grid.cols, board.grid.rows), (10, 10));
        assert_eq!(board.rate(), "10/1");
        let cues = parse_vtt(&storyboard_vtt(&board, "v/1/", board.sheets())).unwrap();
        assert_eq!(cues.len(), 250);
        assert_eq!(cues[0].0, 0);
        assert_eq!(cues.last().unwrap().1, 25_000);
        assert!(cues.windows(2).all(|w| w[0].1 == w[1].0), "contiguous");
        assert_eq!(cues[0].2, "v/1/sprites_0.jpg#xywh=0,0,160,90");
        assert_eq!(cues[11].2, "v/1/sprites_0.jpg#xywh=160,90,160,90");
        assert_eq!(cues[99].2, "v/1/sprites_0.jpg#xywh=1440,810,160,90");
        assert_eq!(cues[100].2, "v/1/sprites_1.jpg#xywh=0,0,160,90");
        assert_eq!(cues[249].2, "v/1/sprites_2.jpg#xywh=1440,360,160,90");
        let two = parse_vtt(&storyboard_vtt(&board, "", 2)).unwrap();
        assert_eq!((two.len(), two[199].1), (200, 20_000), "only the sheets written");
    }

    #[test]
    fn long_videos_get_a_tile_every_few_seconds_and_short_ones_a_small_sheet() {
        assert_eq!(tile_interval(7200.0), 10.0);
        assert_eq!(tile_interval(600.0), 6.0);
        assert_eq!(tile_interval(8.0), 2.0);
        assert_eq!(tile_interval(36_000.0), 36.0, "10 h: bounded to 1000 tiles");
        let two_hours = Storyboard::plan(7200.0, 640, 360, tile_interval(7200.0));
        assert_eq!((two_hours.count, two_hours.sheets()), (720, 8));
        let short = Storyboard::plan(8.0, 640, 360, tile_interval(8.0));
        assert_eq!((short.count, short.grid.cols, short.grid.rows), (4, 4, 1));
        assert_eq!(Storyboard::plan(39.0, 640, 360, 2.0).grid.rows, 2);
        assert_eq!(Storyboard::plan(0.0, 640, 360, 2.0).count, 1);
        assert_eq!(Storyboard::plan(4.0, 640, 360, 2.0).count, 2, "exact multiple: no extra");
        assert_eq!(Storyboard::plan(1e12, 640, 360, 0.001).count, MAX_TILES);
        assert_eq!(Storyboard::plan(f64::NAN, 640, 360, f64::NAN).count, 1);
    }

    #[test]
    fn hour_timestamps_and_no_empty_cues() {
        assert_eq!(vtt_time(3_723_004), "01:02:03.004");
        let board = Storyboard::plan(0.05, 640, 360, 0.0005);
        let cues = parse_vtt(&storyboard_vtt(&board, "", 1)).unwrap();
        assert_eq!(board.count, 100);
        assert_eq!(cues.len(), 50);
        assert_eq!(cues.last().unwrap().1, 50);
        assert!(cues.iter().all(|c| c.1 > c.0));
    }

    #[test]
    fn a_4k_poster_fits_in_1080p_and_a_small_one_is_kept() {
        assert_eq!(poster_size(3840, 2160), (1920, 1080));
        assert_eq!(poster_size(4096, 2160), (1920, 1012));
        assert_eq!(poster_size(2160, 3840), (1080, 1920));
        assert_eq!(poster_size(720, 1280), (720, 1280));
        assert_eq!(poster_size(1080, 1080), (1080, 1080));
        assert_eq!(poster_size(2160, 2160), (1080, 1080));
        assert_eq!(poster_size(1280, 720), (1280, 720));
    }
}
