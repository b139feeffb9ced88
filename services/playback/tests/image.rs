//! The Image API on real ready videos: each source (a 16:9 854x480 clip and the corpus's
//! rotated portrait phone video) is transcoded by the real transcoder on a real nats-server,
//! then served by playback. Every picture is checked with ffmpeg/ffprobe: thumbnails match the
//! source's frames at their times (SSIM by ffmpeg's `ssim` filter against a frame ffmpeg cuts
//! from the source, scaled the same), sizes and fit modes are exact, an animation has
//! duration × fps frames, bad requests are 400 with the JSON error shape, other tenants get
//! 404/403, and a second request is answered from the store cache without ffmpeg.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use framelog_core::media::source_key;
use framelog_core::service::ServiceContext;
use framelog_events::{AggregateId, Event, TenantId, TranscodeData};
use framelog_playback::PlaybackSettings;
use framelog_playback::image::ImageSettings;
use framelog_tests::corpus::{self, Class};
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_tests::tools::workspace_root;
use framelog_transcoder::{Encoder, Outcome, TranscoderSettings, Worker};
use tokio_util::sync::CancellationToken;

/// Transcodes `source` as `acme`'s video `id` with the real transcoder (whole ladder).
async fn transcode(env: &Env, id: &str, source: &Path) {
    let probe = framelog_core::probe::probe(source, Duration::from_secs(30)).await.unwrap();
    let key = source_key("acme", id);
    let copy = source.with_extension("stored");
    std::fs::copy(source, &copy).unwrap();
    env.media.put_file(&key, &copy).await.unwrap();
    let event = Event::new(
        uuid::Uuid::now_v7(),
        time::OffsetDateTime::now_utc(),
        "framelog/test",
        TenantId::new("acme").unwrap(),
        AggregateId::new(id).unwrap(),
        TranscodeData::Requested { source_key: key, probe },
    );
    env.platform.events.publish(&event).await.unwrap();
    let ctx = ServiceContext {
        platform: env.platform.clone(),
        media: env.media.clone(),
        shutdown: CancellationToken::new(),
    };
    let settings = TranscoderSettings::for_test();
    let encoder = Encoder::libx264(&settings.x264_preset);
    let mut w = Worker::new(&ctx, settings, encoder, "w1")
        .await
        .unwrap()
        .with_poll(Duration::from_millis(300));
    let outcome = tokio::time::timeout(Duration::from_secs(240), async {
        loop {
            let o = w.process_next().await;
            if o.is_job_end() {
                return o;
            }
        }
    })
    .await
    .expect("the transcode ended in time");
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
}

struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!("not JSON ({}): {}", self.status, String::from_utf8_lossy(&self.body))
        })
    }
}

async fn get(pb: &Instance, path: &str) -> Got {
    let res = pb.app.http.get(pb.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    Got { status, headers, body: res.bytes().await.unwrap().to_vec() }
}

/// Saves `bytes` as `dir/name` and returns the path.
fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// ffprobe's (width, height, codec) of an image's first video stream.
fn probe_image(path: &Path) -> (u32, u32, String) {
    let v = corpus::ffprobe_json(path, &["-show_streams"]);
    let s = &v["streams"][0];
    (
        s["width"].as_u64().unwrap() as u32,
        s["height"].as_u64().unwrap() as u32,
        s["codec_name"].as_str().unwrap().to_owned(),
    )
}

/// The pts (seconds from the start) of every video frame of `source`, from its packets.
fn frame_times(source: &Path) -> Vec<f64> {
    let v = corpus::ffprobe_json(
        source,
        &["-select_streams", "v:0", "-show_entries", "stream=start_time:packet=pts_time"],
    );
    let start: f64 =
        v["streams"][0]["start_time"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let mut t: Vec<f64> = v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["pts_time"].as_str()?.parse::<f64>().ok())
        .map(|p| p - start)
        .collect();
    t.sort_by(f64::total_cmp);
    t
}

/// The source's frame at `t` seconds (the one nearest to `t`: a variable-frame-rate source's
/// frames fall between the ladder's), cut by ffmpeg in the displayed orientation and scaled
/// to `w`x`h`.
fn source_frame(source: &Path, t: f64, (w, h): (u32, u32), out: &Path) -> PathBuf {
    let times = frame_times(source);
    let nearest =
        times.iter().copied().min_by(|a, b| (a - t).abs().total_cmp(&(b - t).abs())).unwrap();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-ss"])
        .arg(format!("{:.6}", (nearest - 0.0005).max(0.0)))
        .arg("-i")
        .arg(source)
        .args(["-frames:v", "1", "-vf", &format!("scale={w}:{h}:flags=lanczos,setsar=1")])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg frame of the source at {t}");
    out.to_owned()
}

/// ffmpeg's SSIM (`All`) between two pictures of the same size.
fn ssim(a: &Path, b: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(a)
        .arg("-i")
        .arg(b)
        .args(["-lavfi", "[0:v]format=yuv420p[a];[1:v]format=yuv420p[b];[a][b]ssim"])
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let all = text.rsplit("All:").next().and_then(|r| r.split_whitespace().next());
    all.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no SSIM in: {text}"))
}

/// Mean luma of a region of an image (ffmpeg's signalstats).
fn mean_luma(image: &Path, (x, y, w, h): (u32, u32, u32, u32)) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-f", "lavfi", "-show_entries", "frame_tags=lavfi.signalstats.YAVG"])
        .args(["-of", "csv=p=0"])
        .arg(format!("movie={},crop={w}:{h}:{x}:{y},signalstats", image.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
}

/// (frames, width, format) of an animation: ffprobe's decoded frame count for a GIF; for an
/// animated WebP (which ffmpeg 5.1 cannot decode) libwebp's own `webpmux -info`.
fn animation(path: &Path) -> (u64, u32, String) {
    if path.extension().is_some_and(|e| e == "webp") {
        let out = Command::new("webpmux")
            .arg("-info")
            .arg(path)
            .output()
            .expect("webpmux (deploy/bootstrap.sh installs webp)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_else(|| panic!("{name} in {text}"))
                .to_owned()
        };
        let n = field("Number of frames:").parse().unwrap();
        let w = field("Canvas size:").split(' ').next().unwrap().parse().unwrap();
        assert!(text.contains("animation"), "{text}");
        return (n, w, "webp".into());
    }
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let n = text
        .trim()
        .trim_matches(',')
        .parse()
        .unwrap_or_else(|_| panic!("frames of {path:?}: {text}"));
    let (w, _, codec) = probe_image(path);
    (n, w, codec)
}

/// Thumbnails of `source` (transcoded as `id`) at three times match the source's frames there;
/// a frame a second away matches worse. Returns the SSIMs.
async fn thumbnails_match(
    pb: &Instance,
    env: &Env,
    id: &str,
    source: &Path,
    times: [f64; 3],
    width: u32,
    dir: &Path,
) -> Vec<f64> {
    let token = env.token("acme", id);
    let mut out = Vec::new();
    for (i, t) in times.into_iter().enumerate() {
        let ext = ["png", "jpg", "webp"][i];
        let got =
            get(pb, &format!("/image/{token}/{id}/thumbnail.{ext}?time={t}&width={width}")).await;
        assert_eq!(got.status, 200, "{t}: {}", String::from_utf8_lossy(&got.body));
        let ours = save(dir, &format!("{id}-{i}.{ext}"), &got.body);
        let (w, h, codec) = probe_image(&ours);
        assert_eq!(w, width);
        assert_eq!(codec, ["png", "mjpeg", "webp"][i]);
        let reference = source_frame(source, t, (w, h), &dir.join(format!("{id}-ref-{i}.png")));
        let away = if t >= 1.5 { t - 1.0 } else { t + 1.0 };
        let control = source_frame(source, away, (w, h), &dir.join(format!("{id}-away-{i}.png")));
        let (s, s_away) = (ssim(&ours, &reference), ssim(&ours, &control));
        println!("{id} t={t}: {w}x{h} {ext} SSIM {s:.4} (frame at {away}: {s_away:.4})");
        assert!(s >= 0.9, "{id} t={t}: SSIM {s}");
        assert!(
            s > s_away + 0.02,
            "{id} t={t}: {s} is not closer than the frame at {away} ({s_away})"
        );
        out.push(s);
    }
    out
}

#[tokio::test]
async fn thumbnails_and_animations_of_a_16_9_video_are_exact_bounded_isolated_and_cached() {
    let mut env = Env::new().await;
    let dir = tempfile::tempdir().unwrap();
    let src = generate_video(dir.path(), "wide.mp4", &VideoSpec::new(854, 480, 6.0));
    transcode(&env, "wide", &src).await;
    let settings = PlaybackSettings {
        images: ImageSettings { renders: 1, queue_ms: 200, timeout_secs: 60 },
        ..Default::default()
    };
    let pb = env.instance_with(settings, false, None).await;
    let token = env.token("acme", "wide");
    let base = format!("/image/{token}/wide");

    // Frames at three times.
    thumbnails_match(&pb, &env, "wide", &src, [0.5, 2.5, 5.0], 320, dir.path()).await;

    // Sizes and fit modes.
    let fit = |q: &str| format!("{base}/thumbnail.png?time=3&{q}");
    let got = get(&pb, &fit("width=400&height=400")).await;
    let preserve = save(dir.path(), "preserve.png", &got.body);
    assert_eq!((probe_image(&preserve).0, probe_image(&preserve).1), (400, 225));
    let got = get(&pb, &fit("width=400&height=400&fit_mode=pad")).await;
    let pad = save(dir.path(), "pad.png", &got.body);
    assert_eq!((probe_image(&pad).0, probe_image(&pad).1), (400, 400));
    let (bar, picture) = (mean_luma(&pad, (0, 0, 400, 80)), mean_luma(&pad, (0, 100, 400, 200)));
    println!("pad: bars luma {bar:.1}, picture luma {picture:.1}");
    assert!(bar < 20.0 && picture > 40.0, "pad: bars {bar}, picture {picture}");
    let got = get(&pb, &fit("width=400&height=400&fit_mode=crop")).await;
    let crop = save(dir.path(), "crop.png", &got.body);
    assert_eq!((probe_image(&crop).0, probe_image(&crop).1), (400, 400));
    let (top, bottom) = (mean_luma(&crop, (0, 0, 400, 40)), mean_luma(&crop, (0, 360, 400, 40)));
    println!("crop: top luma {top:.1}, bottom luma {bottom:.1}");
    assert!(top > 20.0 && bottom > 20.0, "crop has bars: {top} {bottom}");
    // One side: the other follows the aspect ratio (854:480), past the top rung if asked.
    let got = get(&pb, &format!("{base}/thumbnail.jpg?time=1&height=720")).await;
    let tall = save(dir.path(), "tall.jpg", &got.body);
    assert_eq!((probe_image(&tall).0, probe_image(&tall).1), (1281, 720));

    // Animations: duration x fps frames.
    for (file, q, want, codec) in [
        ("animated.gif", "start=1&end=3&fps=10&width=320", 20, "gif"),
        ("animated.webp", "start=0.5&end=2&fps=12&width=240", 18, "webp"),
        ("animated.gif", "start=4", 20, "gif"),
    ] {
        let got = get(&pb, &format!("{base}/{file}?{q}")).await;
        assert_eq!(got.status, 200, "{q}: {}", String::from_utf8_lossy(&got.body));
        let p = save(dir.path(), &format!("anim-{want}.{codec}"), &got.body);
        let (n, w, c) = animation(&p);
        println!("{file}?{q}: {n} frames, {w} wide, {c}");
        assert_eq!((n, c.as_str()), (want, codec), "{q}");
    }

    // Bounds: 400 with the JSON error shape.
    for (q, code) in [
        ("thumbnail.jpg?time=6.5", "out_of_range"),
        ("thumbnail.jpg?time=-1", "out_of_range"),
        ("thumbnail.jpg?width=1921", "out_of_range"),
        ("thumbnail.jpg?height=4000", "out_of_range"),
        ("thumbnail.jpg?width=abc", "invalid_query"),
        ("thumbnail.jpg?size=10", "invalid_query"),
        ("thumbnail.bmp", "unsupported_format"),
        ("animated.gif?start=0&end=10.5", "out_of_range"),
        ("animated.gif?start=5&end=7", "out_of_range"),
        ("animated.gif?width=641", "out_of_range"),
        ("animated.gif?fps=31", "out_of_range"),
    ] {
        let got = get(&pb, &format!("{base}/{q}")).await;
        assert_eq!(got.status, 400, "{q}");
        let j = got.json();
        assert_eq!(j["error"]["code"], code, "{q}: {j}");
        assert!(j["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{q}");
    }

    // Tenants: globex's token names globex, which has no such video; a token for another video
    // is refused; a video nobody has is 404.
    let globex = env.token("globex", "wide");
    let got = get(&pb, &format!("/image/{globex}/wide/thumbnail.jpg?time=1")).await;
    assert_eq!((got.status, got.json()["error"]["code"].as_str()), (404, Some("not_found")));
    let other = env.token("acme", "other");
    let got = get(&pb, &format!("/image/{other}/wide/thumbnail.jpg?time=1")).await;
    assert_eq!((got.status, got.json()["error"]["code"].as_str()), (403, Some("invalid_token")));
    let got = get(&pb, &format!("/image/{other}/other/thumbnail.jpg?time=1")).await;
    assert_eq!(got.status, 404);
    let got = get(&pb, "/image/public/wide/thumbnail.jpg?time=1").await;
    assert_eq!(got.status, 404, "not public");

    // The cache: the same picture again (any spelling of its query) runs no ffmpeg.
    let clock = std::time::Instant::now();
    let first = get(&pb, &format!("{base}/thumbnail.jpg?time=2&width=200")).await;
    let miss_ms = clock.elapsed().as_millis();
    assert_eq!((first.status, first.header("x-image-cache")), (200, "miss"));
    assert_eq!(first.header("cache-control"), "public, max-age=31536000, immutable");
    let renders = pb.st.images.renders.get();
    let clock = std::time::Instant::now();
    let again = get(&pb, &format!("{base}/thumbnail.jpeg?width=200&time=2.000")).await;
    let hit_ms = clock.elapsed().as_millis();
    assert_eq!((again.status, again.header("x-image-cache")), (200, "hit"));
    assert_eq!(pb.st.images.renders.get(), renders, "a cache hit ran ffmpeg");
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("etag"), first.header("etag"));
    let etag = first.header("etag").to_owned();
    let res = pb
        .app
        .http
        .get(pb.url(&format!("{base}/thumbnail.jpg?time=2&width=200")))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    println!(
        "cache: miss {miss_ms} ms, hit {hit_ms} ms; {} renders, {} hits",
        pb.st.images.renders.get(),
        pb.st.images.hits.get()
    );

    // Three requests at once for a new picture: one render, the two others read it.
    let before = pb.st.images.renders.get();
    let url = format!("{base}/thumbnail.png?time=3.5&width=160");
    let all = futures::future::join_all((0..3).map(|_| get(&pb, &url))).await;
    let mut seen: Vec<&str> = all.iter().map(|g| g.header("x-image-cache")).collect();
    seen.sort();
    assert_eq!(seen, ["hit", "hit", "miss"]);
    assert!(all.iter().all(|g| g.status == 200 && g.body == all[0].body));
    assert_eq!(pb.st.images.renders.get(), before + 1, "concurrent misses rendered twice");

    // Public once marked.
    let res = pb
        .app
        .http
        .put(pb.url("/v1/videos/wide/visibility"))
        .bearer_auth(&env.key_acme)
        .json(&serde_json::json!({"public": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let got = get(&pb, "/image/public/wide/thumbnail.jpg?time=2&width=200").await;
    assert_eq!((got.status, got.body == first.body), (200, true));

    // The poster time: a thumbnail without `time` follows it, and is not immutable.
    let put = |time: serde_json::Value, key: &str| {
        pb.app
            .http
            .put(pb.url("/v1/videos/wide/poster"))
            .bearer_auth(key)
            .json(&serde_json::json!({ "time": time }))
            .send()
    };
    assert_eq!(put(serde_json::json!(9.0), &env.key_acme).await.unwrap().status(), 400);
    assert_eq!(put(serde_json::json!(1.0), &env.key_globex).await.unwrap().status(), 404);
    let res = put(serde_json::json!(4.5), &env.key_acme).await.unwrap();
    assert_eq!(res.status(), 200);
    let default = get(&pb, &format!("{base}/thumbnail.png?width=320")).await;
    assert_eq!(default.status, 200);
    assert_eq!(default.header("cache-control"), "public, max-age=60");
    let at = get(&pb, &format!("{base}/thumbnail.png?width=320&time=4.5")).await;
    let (d, a) = (save(dir.path(), "d.png", &default.body), save(dir.path(), "a.png", &at.body));
    let s = ssim(&d, &a);
    println!("poster time 4.5: SSIM with time=4.5 {s:.4}");
    assert!(s > 0.99, "{s}");

    // JWTs minted by PyJWT: `t` opens thumbnails, `g` animations, nothing else.
    eventually("signing keys loaded", || async { pb.st.keys.is_ready() }).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/image_jwt.py");
    let (url, acme, globex) = (pb.url(""), env.key_acme.clone(), env.key_globex.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(workspace_root().join(".tools/venv/bin/python"))
            .arg(script)
            .env("PB", url.trim_end_matches('/'))
            .env("KEY_ACME", acme)
            .env("KEY_GLOBEX", globex)
            .env("VIDEO", "wide")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("image_jwt.py: {}", stdout.trim());
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ok 11 checks"), "{stdout}");

    // Busy: with the only render slot taken, a render waits 200 ms then answers 503.
    let slot = pb.st.images.slots.clone().acquire_owned().await.unwrap();
    let got = get(&pb, &format!("{base}/thumbnail.jpg?time=1.25")).await;
    assert_eq!((got.status, got.header("retry-after")), (503, "1"));
    assert_eq!(got.json()["error"]["code"], "busy");
    // A cached picture needs no slot.
    let got = get(&pb, &format!("{base}/thumbnail.jpg?time=2&width=200")).await;
    assert_eq!(got.status, 200);
    drop(slot);

    // Deleted: every image is 404, cached ones too.
    pb.st.tombstones.bury("acme", "wide").await.unwrap();
    let cached = format!("{base}/thumbnail.jpg?time=2&width=200");
    eventually("deleted video's images refused", || async {
        get(&pb, &cached).await.status == 404
    })
    .await;
    assert_eq!(get(&pb, &format!("{base}/animated.gif")).await.status, 404);
    eventually("the deleted video's poster time removed", || async {
        pb.st.images.posters.get("acme", "wide").await.unwrap().is_none()
    })
    .await;
}

#[tokio::test]
async fn thumbnails_of_a_rotated_portrait_phone_video_match_its_displayed_frames() {
    let mut env = Env::new().await;
    let dir = tempfile::tempdir().unwrap();
    let source = corpus::generate(Class::PhoneVfrRotated, dir.path());
    assert_eq!(source.display_size, Some((360, 640)));
    transcode(&env, "phone", &source.path).await;
    let pb = env.instance().await;
    thumbnails_match(&pb, &env, "phone", &source.path, [0.7, 3.0, 5.5], 180, dir.path()).await;
    let token = env.token("acme", "phone");
    let got = get(
        &pb,
        &format!("/image/{token}/phone/thumbnail.png?time=2&width=300&height=300&fit_mode=pad"),
    )
    .await;
    let pad = save(dir.path(), "pad.png", &got.body);
    assert_eq!((probe_image(&pad).0, probe_image(&pad).1), (300, 300));
    let (left, middle) = (mean_luma(&pad, (0, 0, 60, 300)), mean_luma(&pad, (100, 0, 100, 300)));
    println!("portrait pad: side bars luma {left:.1}, picture {middle:.1}");
    assert!(left < 20.0 && middle > 40.0, "{left} {middle}");
    let got =
        get(&pb, &format!("/image/{token}/phone/animated.gif?start=1&end=2&fps=15&width=120"))
            .await;
    let gif = save(dir.path(), "phone.gif", &got.body);
    let (w, h, _) = probe_image(&gif);
    println!("portrait gif: {w}x{h}");
    assert_eq!((animation(&gif).0, w), (15, 120));
    assert!((212..=214).contains(&h), "{h}");
}

#[tokio::test]
async fn with_the_object_store_images_are_cut_and_cached_through_the_store() {
    let mut env = Env::new().await;
    env.media = std::sync::Arc::new(
        framelog_core::media_nats::NatsMediaStore::open(&env.platform.js, 1).await.unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let src = generate_video(dir.path(), "obj.mp4", &VideoSpec::new(640, 360, 3.0));
    transcode(&env, "obj", &src).await;
    let pb = env.instance().await;
    let token = env.token("acme", "obj");
    let url =
        format!("/image/{token}/obj/thumbnail.jpg?time=1.5&width=256&height=256&fit_mode=crop");
    let first = get(&pb, &url).await;
    assert_eq!((first.status, first.header("x-image-cache")), (200, "miss"));
    let ours = save(dir.path(), "obj.jpg", &first.body);
    assert_eq!((probe_image(&ours).0, probe_image(&ours).1), (256, 256));
    let renders = pb.st.images.renders.get();
    // Another replica (its own state and NATS connection) reads the stored rendering.
    let other = env.instance_with(PlaybackSettings::default(), true, None).await;
    let again = get(&other, &url).await;
    assert_eq!((again.status, again.header("x-image-cache")), (200, "hit"));
    assert_eq!(again.body, first.body);
    assert_eq!((pb.st.images.renders.get(), other.st.images.renders.get()), (renders, 0));
}
