//! Playback from stores without local paths (ranged reads, no copies), a store that is down,
//! and redirects of immutable media (`--playback-redirect`).

mod common;

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use common::{Env, eventually, pattern};
use framelog_core::media::{FsMediaStore, MediaError, MediaStore, SharedMediaStore};
use framelog_core::tombstones::Tombstones;
use framelog_playback::{PlaybackSettings, RedirectMode};

/// A filesystem store that hides its paths (like S3): size and ranged reads only. Counts the
/// bytes read by range; `down` makes every call fail as unavailable.
#[derive(Debug)]
struct Ranged {
    fs: FsMediaStore,
    read: AtomicU64,
    down: AtomicBool,
}

impl Ranged {
    fn new(root: &Path) -> Arc<Ranged> {
        Arc::new(Ranged {
            fs: FsMediaStore::new(root).unwrap(),
            read: AtomicU64::new(0),
            down: AtomicBool::new(false),
        })
    }
    fn check(&self, key: &str) -> Result<(), MediaError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(MediaError::Unavailable { key: key.into(), reason: "test: down".into() });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl MediaStore for Ranged {
    async fn put_file(&self, k: &str, s: &Path) -> Result<u64, MediaError> {
        self.fs.put_file(k, s).await
    }
    async fn put_dir(&self, k: &str, s: &Path) -> Result<(), MediaError> {
        self.fs.put_dir(k, s).await
    }
    fn local_path(&self, _: &str) -> Option<std::path::PathBuf> {
        None
    }
    async fn fetch_to(&self, _: &str, _: &Path) -> Result<(), MediaError> {
        panic!("playback must not copy objects of a store with ranged reads")
    }
    async fn exists(&self, k: &str) -> Result<bool, MediaError> {
        self.check(k)?;
        self.fs.exists(k).await
    }
    async fn delete_prefix(&self, k: &str) -> Result<(), MediaError> {
        self.fs.delete_prefix(k).await
    }
    async fn get_bytes(&self, k: &str) -> Result<Bytes, MediaError> {
        self.check(k)?;
        self.fs.get_bytes(k).await
    }
    async fn size(&self, k: &str) -> Result<Option<u64>, MediaError> {
        self.check(k)?;
        self.fs.size(k).await
    }
    async fn get_range(&self, k: &str, r: Range<u64>) -> Result<Bytes, MediaError> {
        self.check(k)?;
        let b = self.fs.get_range(k, r).await?;
        self.read.fetch_add(b.len() as u64, Ordering::SeqCst);
        Ok(b)
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn a_store_without_local_paths_serves_ranges_by_ranged_reads_without_copies() {
    let mut env = Env::new().await;
    let store = Ranged::new(&env.media_root);
    let data = pattern(3 * 1024 * 1024 + 17, 5);
    env.put("acme", "vid_s", "360p/big.ts", &data);
    let total = data.len();
    for cache_mb in [256, 0] {
        let settings = PlaybackSettings { cache_mb, ..Default::default() };
        let pb = env.instance_with(settings, false, Some(store.clone())).await;
        let url = pb.url(&format!("/hls/{}/vid_s/360p/big.ts", env.token("acme", "vid_s")));
        let http = &pb.app.http;
        store.read.store(0, Ordering::SeqCst);
        let res = http.get(&url).header("range", "bytes=1000-1999").send().await.unwrap();
        assert_eq!(res.status(), 206, "cache {cache_mb}");
        assert_eq!(res.headers()["content-range"], format!("bytes 1000-1999/{total}"));
        assert_eq!(res.headers()["content-length"], "1000");
        assert_eq!(res.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        assert_eq!(res.bytes().await.unwrap().as_ref(), &data[1000..2000]);
        if cache_mb == 0 {
            assert_eq!(store.read.load(Ordering::SeqCst), 1000, "only the range is read");
        }
        let res = http.get(&url).header("range", "bytes=-100").send().await.unwrap();
        assert_eq!(res.status(), 206);
        assert_eq!(res.bytes().await.unwrap().as_ref(), &data[total - 100..]);
        let res = http.get(&url).header("range", "bytes=600000-").send().await.unwrap();
        assert_eq!(res.bytes().await.unwrap().as_ref(), &data[600_000..], "several reads");
        let res = http.get(&url).header("range", format!("bytes={total}-")).send().await.unwrap();
        assert_eq!(res.status(), 416);
        assert_eq!(res.headers()["content-range"], format!("bytes */{total}"));
        let res = http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["accept-ranges"], "bytes");
        let etag = res.headers()["etag"].clone();
        assert_eq!(res.bytes().await.unwrap().as_ref(), data.as_slice());
        store.read.store(0, Ordering::SeqCst);
        let res = http.head(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-length"], total.to_string());
        assert_eq!(res.headers()["etag"], etag);
        assert_eq!(res.bytes().await.unwrap().len(), 0);
        if cache_mb == 0 {
            assert_eq!(store.read.load(Ordering::SeqCst), 0, "HEAD reads no bytes");
        }
        let res = http.get(&url).header("if-none-match", etag.clone()).send().await.unwrap();
        assert_eq!(res.status(), 304);
        let res = http
            .get(&url)
            .header("range", "bytes=0-9")
            .header("if-range", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "If-Range of another version: whole file");
        drop(res);
        let missing = url.replace("big.ts", "none.ts");
        assert_eq!(http.get(&missing).send().await.unwrap().status(), 404);
        assert!(!pb.st.fetch_dir.join("hls").exists(), "no local copies");
    }
}

#[tokio::test]
async fn segments_of_a_store_without_local_paths_are_cached_and_playlists_reread() {
    let mut env = Env::new().await;
    let store = Ranged::new(&env.media_root);
    env.small_video("acme", "vid_p");
    let pb = env.instance_with(PlaybackSettings::default(), false, Some(store.clone())).await;
    let t = env.token("acme", "vid_p");
    let seg = pb.url(&format!("/hls/{t}/vid_p/360p/seg_001.ts"));
    let res = pb.app.http.get(&seg).send().await.unwrap();
    assert_eq!(res.bytes().await.unwrap().as_ref(), pattern(188 * 50, 2).as_slice());
    assert!(pb.st.cache.size() >= 188 * 50, "the segment is held in memory");
    store.read.store(0, Ordering::SeqCst);
    let res = pb.app.http.get(&seg).send().await.unwrap();
    assert_eq!(res.bytes().await.unwrap().len(), 188 * 50);
    assert_eq!(store.read.load(Ordering::SeqCst), 0, "the second request is served from memory");

    let master = pb.url(&format!("/hls/{t}/vid_p/master.m3u8"));
    let res = pb.app.http.get(&master).send().await.unwrap();
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let etag = res.headers()["etag"].clone();
    assert_eq!(res.text().await.unwrap(), common::MASTER);
    let res = pb.app.http.get(&master).header("if-none-match", etag.clone()).send().await.unwrap();
    assert_eq!(res.status(), 304, "an unchanged playlist");
    env.put("acme", "vid_p", "master.m3u8", b"#EXTM3U\n# changed\n");
    let res = pb.app.http.get(&master).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(res.status(), 200, "a rewritten playlist has a new tag");
    assert!(res.text().await.unwrap().contains("changed"));
}

#[tokio::test]
async fn a_store_that_is_down_answers_503_store_unavailable() {
    let mut env = Env::new().await;
    let store = Ranged::new(&env.media_root);
    env.small_video("acme", "vid_d");
    let settings = PlaybackSettings { cache_mb: 0, ..Default::default() };
    let pb = env.instance_with(settings, false, Some(store.clone())).await;
    store.down.store(true, Ordering::SeqCst);
    let t = env.token("acme", "vid_d");
    for path in ["360p/seg_000.ts", "master.m3u8", "360p/index.m3u8"] {
        let res = pb.app.http.get(pb.url(&format!("/hls/{t}/vid_d/{path}"))).send().await.unwrap();
        assert_eq!(res.status(), 503, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "store_unavailable", "{path}");
        assert!(body["error"]["message"].is_string());
    }
    store.down.store(false, Ordering::SeqCst);
    let res =
        pb.app.http.get(pb.url(&format!("/hls/{t}/vid_d/360p/seg_000.ts"))).send().await.unwrap();
    assert_eq!(res.status(), 200, "served again once the store is back");
}

#[tokio::test]
async fn cdn_mode_redirects_segments_but_serves_playlists_and_refuses_deleted_videos() {
    let mut env = Env::new().await;
    env.small_video("acme", "vid_c");
    env.put("acme", "vid_c", "storyboard.vtt", b"WEBVTT\n");
    let settings = PlaybackSettings {
        redirect: RedirectMode::Cdn,
        cdn_url: Some("https://cdn.example.com/m/".into()),
        ..Default::default()
    };
    let pb = env.instance_with(settings, false, None).await;
    let http = no_redirects();
    let t = env.token("acme", "vid_c");
    let res = http.get(pb.url(&format!("/hls/{t}/vid_c/360p/seg_000.ts"))).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        res.headers()["location"],
        "https://cdn.example.com/m/hls/acme/vid_c/360p/seg_000.ts"
    );
    assert_eq!(res.headers()["cache-control"], "private, max-age=60");
    let res = http.get(pb.url(&format!("/hls/{t}/vid_c/poster.jpg"))).send().await.unwrap();
    assert_eq!(res.status(), 302, "a poster names no other file");
    for path in ["master.m3u8", "360p/index.m3u8", "storyboard.vtt"] {
        let res = http.get(pb.url(&format!("/hls/{t}/vid_c/{path}"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path} is served, never redirected");
    }
    let forged = pb.url("/hls/bogus/vid_c/360p/seg_000.ts");
    assert_eq!(http.get(&forged).send().await.unwrap().status(), 403, "token first");

    Tombstones::open(&env.platform.js).await.unwrap().bury("acme", "vid_c").await.unwrap();
    let seg = pb.url(&format!("/hls/{t}/vid_c/360p/seg_000.ts"));
    eventually("the deleted video's segment answers 404", || async {
        http.get(&seg).send().await.unwrap().status() == 404
    })
    .await;
}

#[tokio::test]
async fn presigned_mode_on_a_store_that_cannot_presign_serves_the_bytes() {
    let mut env = Env::new().await;
    env.small_video("acme", "vid_n");
    let settings = PlaybackSettings { redirect: RedirectMode::Presigned, ..Default::default() };
    let pb = env.instance_with(settings, false, None).await;
    let t = env.token("acme", "vid_n");
    let res = no_redirects()
        .get(pb.url(&format!("/hls/{t}/vid_n/360p/seg_000.ts")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), pattern(188 * 100, 1).as_slice());
}

#[tokio::test]
async fn cdn_mode_without_a_cdn_url_is_refused_at_start() {
    let env = Env::new().await;
    let settings = PlaybackSettings { redirect: RedirectMode::Cdn, ..Default::default() };
    let media: SharedMediaStore = env.media.clone();
    let err = framelog_playback::PlaybackState::new(
        env.platform.clone(),
        media,
        settings,
        env.clock.clock(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("--playback-cdn-url"), "{err}");
}
