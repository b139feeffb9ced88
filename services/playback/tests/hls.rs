//! HLS serving against real files: signed URLs, refusals, headers, ranges, caching, live.

mod common;

use common::*;
use framelog_core::signing::playback_token;
use framelog_playback::PlaybackSettings;

#[tokio::test]
async fn a_master_fetched_through_a_signed_url_has_variant_and_segment_uris_that_resolve() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    ffmpeg_hls(&env, "acme", "vid_1");
    let master = framelog_core::signing::master_path(
        &env.platform.secret,
        "acme",
        "vid_1",
        env.clock.get() + 3600,
    );
    let res = pb.app.http.get(pb.url(&master)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let variants = playlist_uris(&text);
    assert_eq!(variants, ["360p/index.m3u8"], "served as written: {text}");
    let mut segments = 0;
    for v in variants {
        let vpath = format!("{}{v}", dir_of(&master));
        let res = pb.app.http.get(pb.url(&vpath)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{vpath}");
        assert_eq!(res.headers()["content-type"], "application/vnd.apple.mpegurl");
        let text = res.text().await.unwrap();
        let uris = playlist_uris(&text);
        assert!(uris.contains(&"init.mp4".to_owned()), "{text}");
        for u in uris {
            let upath = format!("{}{u}", dir_of(&vpath));
            let res = pb.app.http.get(pb.url(&upath)).send().await.unwrap();
            assert_eq!(res.status(), 200, "{upath}");
            assert_eq!(res.headers()["content-type"], "video/mp4", "{upath}");
            assert_eq!(res.headers()["cache-control"], "public, max-age=31536000, immutable");
            let body = res.bytes().await.unwrap();
            let on_disk = std::fs::read(
                env.media_root.join("hls/acme/vid_1").join(upath.split("/vid_1/").nth(1).unwrap()),
            )
            .unwrap();
            assert_eq!(body.as_ref(), on_disk.as_slice(), "{upath}");
            segments += 1;
        }
    }
    assert!(segments >= 4, "init + segments fetched: {segments}");
}

#[tokio::test]
async fn tampered_expired_and_other_video_tokens_are_forbidden() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    env.small_video("acme", "vid_1");
    env.small_video("acme", "vid_2");
    let good = env.token("acme", "vid_1");
    let get = |path: String| {
        let (http, url) = (pb.app.http.clone(), pb.url(&path));
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(format!("/hls/{good}/vid_1/master.m3u8")).await, 200);
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(get(format!("/hls/{tampered}/vid_1/master.m3u8")).await, 403);
    let other_tenant = good.replacen("acme", "globex", 1);
    assert_eq!(get(format!("/hls/{other_tenant}/vid_1/master.m3u8")).await, 403);
    let expired = playback_token(&env.platform.secret, "acme", "vid_1", env.clock.get() - 1);
    assert_eq!(get(format!("/hls/{expired}/vid_1/master.m3u8")).await, 403);
    assert_eq!(get(format!("/hls/{good}/vid_2/master.m3u8")).await, 403, "other video");
    assert_eq!(get(format!("/hls/{good}/vid_2/360p/seg_000.ts")).await, 403);
    assert_eq!(get("/hls/garbage/vid_1/master.m3u8".into()).await, 403);
    let res = pb.app.http.get(pb.url("/hls/garbage/vid_1/master.m3u8")).send().await.unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_token");
}

#[tokio::test]
async fn traversal_and_encoded_traversal_never_leave_the_videos_directory() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    env.small_video("acme", "vid_1");
    env.put("acme", "vid_2", "master.m3u8", b"#EXTM3U other video");
    env.put("globex", "vid_1", "master.m3u8", b"#EXTM3U other tenant");
    std::fs::write(env.media_root.join("secret.m3u8"), b"#EXTM3U root secret").unwrap();
    let t = env.token("acme", "vid_1");
    let paths = [
        format!("/hls/{t}/vid_1/../vid_2/master.m3u8"),
        format!("/hls/{t}/vid_1/360p/../../vid_2/master.m3u8"),
        format!("/hls/{t}/vid_1/%2e%2e/vid_2/master.m3u8"),
        format!("/hls/{t}/vid_1/%2E%2E%2Fvid_2%2Fmaster.m3u8"),
        format!("/hls/{t}/vid_1/..%2f..%2f..%2fglobex%2fvid_1%2fmaster.m3u8"),
        format!("/hls/{t}/vid_1/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.m3u8"),
        format!("/hls/{t}/vid_1/%252e%252e/vid_2/master.m3u8"),
        format!("/hls/{t}/vid_1//etc/passwd"),
        format!("/hls/{t}/vid_1/%2Fetc%2Fpasswd"),
        format!("/hls/{t}/vid_1/360p%5c..%5c..%5cvid_2%5cmaster.m3u8"),
        format!("/hls/{t}/vid_1/./master.m3u8"),
        "/hls/public/vid_1/../../../secret.m3u8".to_owned(),
    ];
    for p in paths {
        let (status, text) = raw_get(pb.app.addr, &p).await;
        assert!(status == 404 || status == 400, "{p}: {status}");
        assert!(!text.contains("other") && !text.contains("root secret"), "{p}: {text}");
    }
    let (status, text) = raw_get(pb.app.addr, &format!("/hls/{t}/vid_1/master.m3u8")).await;
    assert_eq!(status, 200, "{text}");
    let (status, _) = raw_get(pb.app.addr, &format!("/hls/{t}/vid_1/nope.ts")).await;
    assert_eq!(status, 404, "a missing file");
    let (status, _) = raw_get(pb.app.addr, &format!("/hls/{t}/vid_1/360p")).await;
    assert_eq!(status, 404, "a directory");
}

#[tokio::test]
async fn content_types_cache_policies_and_cors_follow_the_media_layout() {
    let mut env = Env::new().await;
    let pb = env.instance().await;
    env.small_video("acme", "vid_1");
    env.put("acme", "vid_1", "sprites.jpg", b"\xff\xd8 sprites");
    env.put("acme", "vid_1", "storyboard.vtt", b"WEBVTT\n");
    env.put("acme", "vid_1", "720p/init.mp4", b"init");
    env.put("acme", "vid_1", "720p/seg_000.m4s", b"moof");
    let t = env.token("acme", "vid_1");
    let immutable = "public, max-age=31536000, immutable";
    let cases = [
        ("master.m3u8", "application/vnd.apple.mpegurl", "no-cache"),
        ("360p/index.m3u8", "application/vnd.apple.mpegurl", "no-cache"),
        ("360p/seg_000.ts", "video/mp2t", immutable),
        ("720p/init.mp4", "video/mp4", immutable),
        ("720p/seg_000.m4s", "video/mp4", immutable),
        ("poster.jpg", "image/jpeg", "public, max-age=3600"),
        ("sprites.jpg", "image/jpeg", "public, max-age=3600"),
        ("storyboard.vtt", "text/vtt; charset=utf-8", "public, max-age=3600"),
    ];
    for (file, ctype, cache) in cases {
        let res = pb
            .app
            .http
            .get(pb.url(&format!("/hls/{t}/vid_1/{file}")))
            .header("origin", "https://player.example")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{file}");
        let h = res.headers();
        assert_eq!(h["content-type"], ctype, "{file}");
        assert_eq!(h["cache-control"], cache, "{file}");
        assert_eq!(h["access-control-allow-origin"], "*", "{file}");
        let exposed = h["access-control-expose-headers"].to_str().unwrap().to_lowercase();
        assert!(exposed.contains("content-length") && exposed.contains("content-range"));
        assert!(h.contains_key("etag") && h.contains_key("last-modified"), "{file}");
    }
    let pre = pb
        .app
        .http
        .request(reqwest::Method::OPTIONS, pb.url(&format!("/hls/{t}/vid_1/360p/seg_000.ts")))
        .header("origin", "https://player.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "range")
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success(), "{}", pre.status());
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    let allowed = pre.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(allowed.contains("range"), "{allowed}");
    let res = pb.app.http.get(pb.url(&format!("/hls/{t}/vid_1/source"))).send().await.unwrap();
    assert_eq!(res.status(), 404, "files of unknown kinds are never served");
}

#[tokio::test]
async fn a_range_request_returns_206_with_the_right_bytes_and_416_past_the_end() {
    let mut env = Env::new().await;
    for cache_mb in [256, 0] {
        let pb = env
            .instance_with(PlaybackSettings { cache_mb, ..Default::default() }, false, None)
            .await;
        let data = pattern(3 * 1024 * 1024 + 17, 9);
        env.put("acme", "vid_r", "360p/big.ts", &data);
        let url = pb.url(&format!("/hls/{}/vid_r/360p/big.ts", env.token("acme", "vid_r")));
        let http = &pb.app.http;
        let res = http.get(&url).header("range", "bytes=1000-1999").send().await.unwrap();
        assert_eq!(res.status(), 206, "cache {cache_mb}");
        let total = data.len();
        assert_eq!(res.headers()["content-range"], format!("bytes 1000-1999/{total}"));
        assert_eq!(res.headers()["content-length"], "1000");
        assert_eq!(res.bytes().await.unwrap().as_ref(), &data[1000..2000]);
        let res = http.get(&url).header("range", "bytes=-100").send().await.unwrap();
        assert_eq!(res.status(), 206);
        assert_eq!(res.bytes().await.unwrap().as_ref(), &data[total - 100..]);
        let res = http.get(&url).header("range", "bytes=600000-").send().await.unwrap();
        assert_eq!(res.bytes().await.unwrap().as_ref(), &data[600_000..], "spans several chunks");
        let res = http.get(&url).header("range", format!("bytes={total}-")).send().await.unwrap();
        assert_eq!(res.status(), 416);
        assert_eq!(res.headers()["content-range"], format!("bytes */{total}"));
        let res = http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["accept-ranges"], "bytes");
        let etag = res.headers()["etag"].clone();
        assert_eq!(res.bytes().await.unwrap().as_ref(), data.as_slice());
        let res = http.head(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-length"], total.to_string());
        assert_eq!(res.bytes().await.unwrap().len(), 0);
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
    }
}

#[tokio::test]
async fn a_cached_segment_stops_being_served_once_its_file_is_deleted() {
    let mut env = Env::new().await;
    let settings = PlaybackSettings { cache_revalidate_ms: 0, ..Default::default() };
    let pb = env.instance_with(settings, false, None).await;
    let path = env.put("acme", "vid_c", "360p/seg_000.ts", &pattern(5000, 3));
    let url = pb.url(&format!("/hls/{}/vid_c/360p/seg_000.ts", env.token("acme", "vid_c")));
    assert_eq!(pb.app.http.get(&url).send().await.unwrap().status(), 200);
    assert!(pb.st.cache.size() >= 5000, "the segment is held in memory");
    std::fs::write(&path, pattern(4000, 4)).unwrap();
    let body = pb.app.http.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(body.as_ref(), pattern(4000, 4).as_slice(), "a replaced file is re-read");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(pb.app.http.get(&url).send().await.unwrap().status(), 404);
}

/// A media store with no local paths (like an object store): playback must fetch copies.
#[derive(Debug)]
struct RemoteLike(framelog_core::media::FsMediaStore);

#[async_trait::async_trait]
impl framelog_core::media::MediaStore for RemoteLike {
    async fn put_file(
        &self,
        k: &str,
        s: &std::path::Path,
    ) -> Result<u64, framelog_core::media::MediaError> {
        self.0.put_file(k, s).await
    }
    async fn put_dir(
        &self,
        k: &str,
        s: &std::path::Path,
    ) -> Result<(), framelog_core::media::MediaError> {
        self.0.put_dir(k, s).await
    }
    fn local_path(&self, _: &str) -> Option<std::path::PathBuf> {
        None
    }
    async fn fetch_to(
        &self,
        k: &str,
        d: &std::path::Path,
    ) -> Result<(), framelog_core::media::MediaError> {
        self.0.fetch_to(k, d).await
    }
    async fn exists(&self, k: &str) -> Result<bool, framelog_core::media::MediaError> {
        self.0.exists(k).await
    }
    async fn delete_prefix(&self, k: &str) -> Result<(), framelog_core::media::MediaError> {
        self.0.delete_prefix(k).await
    }
}

#[tokio::test]
async fn a_store_without_local_paths_is_served_through_fetched_copies() {
    let mut env = Env::new().await;
    let remote = RemoteLike(framelog_core::media::FsMediaStore::new(&env.media_root).unwrap());
    let pb = env
        .instance_with(PlaybackSettings::default(), false, Some(std::sync::Arc::new(remote)))
        .await;
    env.small_video("acme", "vid_o");
    let t = env.token("acme", "vid_o");
    let res =
        pb.app.http.get(pb.url(&format!("/hls/{t}/vid_o/360p/seg_001.ts"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), pattern(188 * 50, 2).as_slice());
    assert!(pb.st.fetch_dir.join("hls/acme/vid_o/360p/seg_001.ts").exists());
    env.put("acme", "vid_o", "master.m3u8", b"#EXTM3U\n# changed\n");
    let text =
        pb.app.http.get(pb.url(&format!("/hls/{t}/vid_o/master.m3u8"))).send().await.unwrap();
    assert!(text.text().await.unwrap().contains("changed"), "playlists are fetched again");
    let res =
        pb.app.http.get(pb.url(&format!("/hls/{t}/vid_o/360p/none.ts"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn live_hls_is_served_by_stream_id_with_a_stream_token() {
    let mut env = Env::new().await;
    let live = tempfile::tempdir().unwrap();
    let settings =
        PlaybackSettings { live_dir: Some(live.path().to_path_buf()), ..Default::default() };
    let pb = env.instance_with(settings, false, None).await;
    let dir = live.path().join("str_1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.m3u8"), "#EXTM3U\n#EXTINF:2.0,\nindex-0.ts\n").unwrap();
    std::fs::write(dir.join("index-0.ts"), pattern(188 * 10, 5)).unwrap();
    let t = env.token("acme", "str_1");
    let res = pb.app.http.get(pb.url(&format!("/live/{t}/str_1/index.m3u8"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.headers()["content-type"], "application/vnd.apple.mpegurl");
    let seg = playlist_uris(&res.text().await.unwrap()).remove(0);
    let res = pb.app.http.get(pb.url(&format!("/live/{t}/str_1/{seg}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "video/mp2t");
    assert_eq!(res.headers()["cache-control"], "public, max-age=30");
    assert_eq!(res.bytes().await.unwrap().len(), 1880);
    let other = env.token("acme", "str_2");
    let res =
        pb.app.http.get(pb.url(&format!("/live/{other}/str_1/index.m3u8"))).send().await.unwrap();
    assert_eq!(res.status(), 403, "a token of another stream");
    let (status, _) =
        raw_get(pb.app.addr, &format!("/live/{t}/str_1/%2e%2e/str_2/index.m3u8")).await;
    assert_eq!(status, 404);
    let res = pb.app.http.get(pb.url(&format!("/live/{t}/str_1/index-9.ts"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
}
