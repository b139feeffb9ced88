use std::path::Path;

use super::*;
use crate::storyboard::{parse_vtt, storyboard_vtt};

fn probe(path: &Path, entries: &str, filter: Option<&str>) -> String {
    let mut cmd = std::process::Command::new("ffprobe");
    cmd.args(["-v", "error", "-f", "lavfi"]);
    let input = match filter {
        Some(f) => format!("movie={},{f}", path.display()),
        None => format!("movie={}", path.display()),
    };
    cmd.args(["-i", &input, "-show_entries", entries, "-of", "csv=p=0"]);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Mean luma of the `w`x`h` tile at `(x, y)` of a sheet.
fn tile_luma(sheet: &Path, x: u32, y: u32, w: u32, h: u32) -> f64 {
    let f = format!("crop={w}:{h}:{x}:{y},signalstats");
    probe(sheet, "frame_tags=lavfi.signalstats.YAVG", Some(&f)).parse().unwrap()
}

#[test]
fn the_tile_args_scale_every_thumbnail_to_the_grid_and_number_sheets_from_zero() {
    let board = Storyboard::plan(460.0, 640, 360, 2.0);
    let a = tile_args(Path::new("/l"), THUMB_PATTERN, &board, Path::new("/o")).join(" ");
    assert!(a.contains("-f image2 -framerate 25 -start_number 0 -i /l/%05d.jpg"), "{a}");
    assert!(a.contains("-vf scale=160:90,setsar=1,tile=10x10"), "{a}");
    assert!(a.ends_with("-update 0 -start_number 0 -q:v 4 /o/sprites_%d.jpg"), "{a}");
}

#[tokio::test]
async fn two_hundred_thirty_thumbnails_make_three_sheets_the_storyboard_names() {
    let dir = tempfile::tempdir().unwrap();
    let thumbs_dir = dir.path().join("thumbs");
    std::fs::create_dir_all(&thumbs_dir).unwrap();
    // Named as uploaded, with an attempt token.
    let pattern = thumbs_dir.join("thumb_%05d-0badc0de.jpg").display().to_string();
    #[rustfmt::skip]
    let made = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25",
               "-frames:v", "230", "-start_number", "0", "-q:v", "4", &pattern])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let thumbs: Vec<PathBuf> =
        (0..230).map(|i| thumbs_dir.join(format!("thumb_{i:05}-0badc0de.jpg"))).collect();
    let board = Storyboard::plan(460.0, 640, 360, 2.0);
    assert_eq!((board.count, board.grid.cols, board.grid.rows), (230, 10, 10));
    let out = dir.path().join("out");
    let ffmpeg = Path::new("ffmpeg");
    let sheets = tile(ffmpeg, &thumbs, &board, &out, &CancellationToken::new()).await.unwrap();
    assert_eq!(sheets, 3);
    for k in 0..3 {
        let sheet = out.join(Storyboard::sheet_name(k));
        assert_eq!(probe(&sheet, "stream=width,height", None), "1600,900", "sheet {k}");
    }
    assert!(!out.join("sprites_3.jpg").exists());
    let leftovers: Vec<_> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 3, "the links are gone: {leftovers:?}");
    // The last sheet holds thumbnails 200..229: tile 29 is a picture, tile 30 is padding.
    let last = out.join("sprites_2.jpg");
    assert!(tile_luma(&last, 9 * 160, 2 * 90, 160, 90) > 40.0);
    assert!(tile_luma(&last, 0, 3 * 90, 160, 90) < 20.0);
    let cues = parse_vtt(&storyboard_vtt(&board, "", sheets)).unwrap();
    assert_eq!(cues.len(), 230);
    for (_, _, payload) in &cues {
        let (file, _) = payload.split_once('#').unwrap();
        assert!(out.join(file).is_file(), "{payload} names a sheet that exists");
    }
    assert_eq!(cues[229].2, "sprites_2.jpg#xywh=1440,180,160,90");
}

#[tokio::test]
async fn no_thumbnails_make_no_sheet_and_run_no_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let board = Storyboard::plan(10.0, 640, 360, 2.0);
    let missing = Path::new("/nonexistent/ffmpeg");
    let n = tile(missing, &[], &board, dir.path(), &CancellationToken::new()).await.unwrap();
    assert_eq!(n, 0);
}
