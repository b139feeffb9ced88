use super::*;
use crate::ladder::{LadderSource, select_profiles};

fn ladder(width: u32, height: u32, fps: f64) -> Vec<Profile> {
    let mut p = select_profiles(&LadderSource { width, height, fps, nominal_fps: None });
    p.reverse();
    p
}

fn value(args: &[String], option: &str) -> Option<String> {
    args.iter().position(|a| a == option).map(|i| args[i + 1].clone())
}

#[test]
fn x264_rungs_get_capped_crf_with_an_explicit_level() {
    let p = ladder(1920, 1080, 30.0);
    let x = Encoder::libx264("veryfast");
    let a = stream_args(&x, 0, &p[0], RateControl::for_encoder(&x));
    assert_eq!(
        a.join(" "),
        "-c:v:0 libx264 -preset:v:0 veryfast -profile:v:0 high -level:v:0 4.0 -crf:v:0 23 \
         -maxrate:v:0 6000000 -bufsize:v:0 9000000 -g:v:0 60 -keyint_min:v:0 60"
    );
    let abr = stream_args(&x, 4, &p[4], RateControl::Abr);
    assert_eq!(value(&abr, "-b:v:4").as_deref(), Some("400000"), "the seed's ABR: {abr:?}");
    assert_eq!(value(&abr, "-crf:v:4"), None);
    assert_eq!(value(&abr, "-maxrate:v:4").as_deref(), Some("428000"), "7% headroom");
    assert_eq!(value(&abr, "-level:v:4").as_deref(), Some("2.1"));
}

#[test]
fn the_hevc_rung_is_x265_with_hvc1_closed_gops_and_no_scene_cuts() {
    let p = ladder(3840, 2160, 60.0);
    let x = Encoder::libx264("veryfast");
    let all: Vec<&Profile> = p.iter().collect();
    let a = video_args(&x, &all);
    assert_eq!(value(&a, "-c:v:0").as_deref(), Some("libx265"));
    assert_eq!(value(&a, "-profile:v:0").as_deref(), Some("main"));
    assert_eq!(value(&a, "-tag:v:0").as_deref(), Some("hvc1"));
    assert_eq!(value(&a, "-crf:v:0").as_deref(), Some("25"));
    assert_eq!(value(&a, "-level:v:0"), None, "x265 sets its own level");
    assert_eq!(
        value(&a, "-x265-params:v:0").as_deref(),
        Some("keyint=120:min-keyint=120:scenecut=0:open-gop=0:info=0:log-level=error")
    );
    for k in 1..p.len() {
        assert_eq!(value(&a, &format!("-c:v:{k}")).as_deref(), Some("libx264"), "stream {k}");
        assert_eq!(value(&a, &format!("-tag:v:{k}")), None);
    }
    assert_eq!(value(&a, "-level:v:1").as_deref(), Some("4.2"), "1080p60");
    assert_eq!(value(&a, "-level:v:2").as_deref(), Some("3.2"), "720p60");
    assert!(a.ends_with(&["-sc_threshold".to_owned(), "0".to_owned()]));
    assert!(!a.iter().any(|o| o == "-c:v" || o == "-profile:v"), "nothing global: {a:?}");
}

#[test]
fn hardware_encoders_keep_their_peak_capped_vbr() {
    let p = ladder(1280, 720, 30.0);
    let nv = Encoder::named("h264_nvenc", "");
    assert_eq!(RateControl::for_encoder(&nv), RateControl::Abr);
    let a = stream_args(&nv, 0, &p[0], RateControl::CappedCrf);
    assert_eq!(value(&a, "-rc:v:0").as_deref(), Some("vbr"));
    assert_eq!(value(&a, "-b:v:0").as_deref(), Some("3000000"));
    assert_eq!(value(&a, "-maxrate:v:0").as_deref(), Some("3210000"));
    assert_eq!(value(&a, "-crf:v:0"), None);
    assert_eq!(value(&a, "-level:v:0").as_deref(), Some("3.1"));
    let qsv = stream_args(&Encoder::named("h264_qsv", ""), 0, &p[0], RateControl::Abr);
    assert_eq!(value(&qsv, "-level:v:0").as_deref(), Some("31"));
    let other = Encoder::named("libopenh264", "");
    let a = stream_args(&other, 0, &p[0], RateControl::for_encoder(&other));
    assert_eq!((value(&a, "-crf:v:0"), value(&a, "-level:v:0")), (None, None));
}
