//! Sources read over HTTP from a real S3 server (SeaweedFS): ffprobe through a URL
//! (`probe::inspect_url`) with the URL fence, its refusal of an HLS playlist behind a URL, and
//! range encodes reading the source by URL (`Source::Url`, seeking by HTTP range).
//!
//! SeaweedFS accepts anonymous requests while S3 auth is not configured, so the objects are put
//! and read at their plain path-style URLs, as a presigned URL would be.

use std::time::{Duration, Instant};

#[path = "ranges/support.rs"]
#[allow(dead_code)]
mod support;

use framelog_core::probe::{self, ProbeError};
use framelog_tests::SeaweedFs;
use framelog_tests::media::{VideoSpec, generate_ts, generate_video, unfenced_ffprobe_reads_video};
use framelog_transcoder::Encoder;
use framelog_transcoder::source::Source;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Creates `bucket` and puts `bytes` at `key`; returns the object's URL.
async fn put(s3: &SeaweedFs, bucket: &str, key: &str, bytes: Vec<u8>) -> String {
    let http = reqwest::Client::new();
    let b = format!("{}/{bucket}", s3.endpoint());
    let r = http.put(&b).send().await.unwrap();
    assert!(r.status().is_success() || r.status().as_u16() == 409, "bucket: {}", r.status());
    let url = format!("{b}/{key}");
    let r = http.put(&url).body(bytes).send().await.unwrap();
    assert!(r.status().is_success(), "put {key}: {}", r.status());
    url
}

#[tokio::test]
async fn a_source_in_s3_is_probed_over_its_url_and_a_playlist_behind_a_url_is_refused() {
    let s3 = SeaweedFs::start().await;
    let dir = tempfile::tempdir().unwrap();
    let src = generate_video(dir.path(), "src.mp4", &VideoSpec::new(320, 180, 3.0));
    let local = probe::inspect(&src, TIMEOUT).await.unwrap();
    let url = put(&s3, "media", "sources/acme/vid_1/source", std::fs::read(&src).unwrap()).await;
    let remote = probe::inspect_url(&url, TIMEOUT).await.unwrap();
    assert_eq!(remote.probe, local.probe, "the same verdict over HTTP as from the file");
    assert_eq!(remote.probe.width, 320);

    // A playlist naming a real segment, both in the bucket: plain ffprobe follows it.
    let seg = generate_ts(dir.path(), "seg.ts");
    let seg_url = put(&s3, "media", "elsewhere/seg.ts", std::fs::read(&seg).unwrap()).await;
    let playlist = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\n{seg_url}\n#EXT-X-ENDLIST\n"
    );
    let pl_url = put(&s3, "media", "sources/acme/vid_2/source", playlist.into_bytes()).await;
    assert!(
        unfenced_ffprobe_reads_video(std::path::Path::new(&pl_url), &[]),
        "without the fence ffprobe reads the segment the playlist names"
    );
    let err = probe::inspect_url(&pl_url, TIMEOUT).await.unwrap_err();
    assert!(matches!(&err, ProbeError::Unreadable(m) if m.contains("playlists")), "{err:?}");
    assert!(!err.to_string().contains(&s3.endpoint()), "no URL in the message: {err}");

    let missing = format!("{}/media/sources/acme/none/source", s3.endpoint());
    let err = probe::inspect_url(&missing, TIMEOUT).await.unwrap_err();
    assert!(!err.is_input_error(), "a missing object is the store's fault: {err:?}");
}

#[tokio::test]
async fn a_range_encode_from_an_s3_source_has_the_same_frames_as_from_the_local_file() {
    let s3 = SeaweedFs::start().await;
    let dir = tempfile::tempdir().unwrap();
    let src = support::source(dir.path(), "30", 8);
    let c = support::case(src.clone(), 2, 1).await;
    assert!(c.plan.ranges.len() >= 3, "ranges after the first seek: {:?}", c.plan.ranges.len());
    let url = put(&s3, "media", "sources/acme/vid_r/source", std::fs::read(&src).unwrap()).await;
    let url = Source::Url(url);
    assert_eq!(url.inspect(TIMEOUT).await.unwrap().probe, c_probe(&src).await);
    let enc = Encoder::libx264("ultrafast");
    let t = Instant::now();
    let local = support::encode_ranges(&c, &dir.path().join("local"), &enc).await;
    let local_wall = t.elapsed();
    let t = Instant::now();
    let remote = support::encode_ranges_from(&c, &url, &dir.path().join("remote"), &enc).await;
    let remote_wall = t.elapsed();
    println!("{} ranges: local {local_wall:?}, over S3 {remote_wall:?}", c.plan.ranges.len());
    for p in &c.profiles {
        let a =
            support::assemble(&dir.path().join("a"), &dir.path().join("local"), &local, &p.name);
        let b =
            support::assemble(&dir.path().join("b"), &dir.path().join("remote"), &remote, &p.name);
        let (pa, pb) = (support::packets(&a), support::packets(&b));
        assert!(!pa.is_empty());
        assert_eq!(pa.len(), pb.len(), "{}: the same frame count", p.name);
        assert_eq!(pa, pb, "{}: the same timestamps", p.name);
    }
}

async fn c_probe(p: &std::path::Path) -> framelog_events::Probe {
    probe::inspect(p, TIMEOUT).await.unwrap().probe
}
