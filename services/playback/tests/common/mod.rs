//! Shared setup of the playback tests: a real nats-server, platforms sharing one secret, a media
//! store in a temp dir, playback instances on random ports with a settable clock.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use framelog_core::Platform;
use framelog_core::media::{FsMediaStore, SharedMediaStore};
use framelog_core::nats::STREAM_VIEW;
use framelog_core::signing::playback_token;
use framelog_events::{Event, TenantId};
use framelog_playback::{Clock, PlaybackSettings, PlaybackState};
use framelog_tests::{NatsServer, TestApp, platform};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A clock the test sets (unix seconds).
#[derive(Clone)]
pub struct TestClock(pub Arc<AtomicI64>);

impl TestClock {
    /// Now, moved to one second into its view window of `window` seconds.
    pub fn new(window: i64) -> TestClock {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        TestClock(Arc::new(AtomicI64::new(now.div_euclid(window) * window + 1)))
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
    pub fn clock(&self) -> Clock {
        let c = self.0.clone();
        Arc::new(move || {
            time::OffsetDateTime::from_unix_timestamp(c.load(Ordering::SeqCst)).unwrap()
        })
    }
}

/// One playback instance served on its own port.
pub struct Instance {
    pub st: PlaybackState,
    pub app: TestApp,
    pub shutdown: CancellationToken,
    pub tasks: Vec<JoinHandle<()>>,
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        self.app.url(path)
    }

    /// Stops the background tasks (flushing what they hold) and waits for them.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        for t in self.tasks.drain(..) {
            t.await.unwrap();
        }
    }
}

pub struct Env {
    pub nats: NatsServer,
    pub platform: Platform,
    pub media: SharedMediaStore,
    pub media_root: PathBuf,
    pub clock: TestClock,
    pub key_acme: String,
    pub key_globex: String,
    dirs: Vec<tempfile::TempDir>,
}

impl Env {
    pub async fn new() -> Env {
        let nats = NatsServer::start();
        let (p, dir) = platform(&nats).await;
        let key_acme = p.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
        let key_globex = p.tenants.create(&TenantId::new("globex").unwrap()).await.unwrap();
        let media_root = dir.path().join("media");
        let media: SharedMediaStore = Arc::new(FsMediaStore::new(&media_root).unwrap());
        Env {
            nats,
            platform: p,
            media,
            media_root,
            clock: TestClock::new(30),
            key_acme,
            key_globex,
            dirs: vec![dir],
        }
    }

    /// Starts a playback instance with its own NATS connection (another platform sharing the
    /// first one's secret, as replicas share the secret file) when `own_platform`.
    pub async fn instance_with(
        &mut self,
        settings: PlaybackSettings,
        own_platform: bool,
        media: Option<SharedMediaStore>,
    ) -> Instance {
        let p = if own_platform {
            let (mut p, dir) = platform(&self.nats).await;
            p.secret = self.platform.secret.clone();
            self.dirs.push(dir);
            p
        } else {
            self.platform.clone()
        };
        let media = media.unwrap_or_else(|| self.media.clone());
        let (st, workers) = PlaybackState::new(p, media, settings, self.clock.clock())
            .await
            .expect("playback state");
        let shutdown = CancellationToken::new();
        let tasks = workers.spawn(&st, shutdown.clone());
        let router = framelog_playback::router(st.clone()).fallback(framelog_core::error::fallback);
        let app = TestApp::serve_with(move |listener| async move {
            let svc = router.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, svc).await;
        })
        .await;
        Instance { st, app, shutdown, tasks }
    }

    pub async fn instance(&mut self) -> Instance {
        self.instance_with(PlaybackSettings::default(), false, None).await
    }

    /// A token for `video` of `tenant`, valid for an hour of the test clock.
    pub fn token(&self, tenant: &str, video: &str) -> String {
        playback_token(&self.platform.secret, tenant, video, self.clock.get() + 3600)
    }

    /// Writes `bytes` at `hls/<tenant>/<video>/<rel>` in the media store.
    pub fn put(&self, tenant: &str, video: &str, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.media_root.join("hls").join(tenant).join(video).join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// A small synthetic HLS set (TS segments) for `video`.
    pub fn small_video(&self, tenant: &str, video: &str) {
        self.put(tenant, video, "master.m3u8", MASTER.as_bytes());
        self.put(tenant, video, "360p/index.m3u8", VARIANT.as_bytes());
        self.put(tenant, video, "360p/seg_000.ts", &pattern(188 * 100, 1));
        self.put(tenant, video, "360p/seg_001.ts", &pattern(188 * 50, 2));
        self.put(tenant, video, "poster.jpg", b"\xff\xd8\xff\xe0 poster");
    }
}

pub const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:3\n\
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n";
pub const VARIANT: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n\
#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:6.0,\nseg_000.ts\n#EXTINF:3.0,\nseg_001.ts\n#EXT-X-ENDLIST\n";

/// Deterministic bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Sends `GET <raw path>` exactly as written (no client-side normalisation of `..` or
/// percent-escapes) and returns the status and body.
pub async fn raw_get(addr: SocketAddr, raw_path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {raw_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

/// Every event in `VID_VIEW`, in order.
pub async fn view_events(js: &async_nats::jetstream::Context) -> Vec<Event> {
    let mut stream = js.get_stream(STREAM_VIEW).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            out.push(Event::from_json(&m.payload).unwrap());
        }
    }
    out
}

/// Waits until `cond` holds (checked every 20 ms, for up to 10 s).
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Runs a real ffmpeg HLS ladder (one 360p rendition, fMP4 segments, poster) of a 4 s test
/// video into `hls/<tenant>/<video>/` and returns its directory.
pub fn ffmpeg_hls(env: &Env, tenant: &str, video: &str) -> PathBuf {
    let work = tempfile::tempdir().unwrap();
    let src = framelog_tests::media::generate_video(
        work.path(),
        "src.mp4",
        &framelog_tests::media::VideoSpec::new(320, 180, 4.0),
    );
    let out = env.media_root.join("hls").join(tenant).join(video);
    std::fs::create_dir_all(&out).unwrap();
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&src)
        .args(["-map", "0:v", "-map", "0:a", "-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-g", "30", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k"])
        .args(["-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"])
        .args(["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4"])
        .args(["-master_pl_name", "master.m3u8", "-var_stream_map", "v:0,a:0,name:360p"])
        .args(["-hls_segment_filename"])
        .arg(out.join("%v/seg_%03d.m4s"))
        .arg(out.join("%v/index.m3u8"))
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg HLS");
    out
}

/// The URIs of a playlist (non-comment lines and `URI="..."` attributes).
pub fn playlist_uris(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.split("URI=\"").nth(1) {
            out.push(rest.split('"').next().unwrap().to_owned());
        } else if !line.starts_with('#') {
            out.push(line.to_owned());
        }
    }
    out
}

/// The directory part of a URL path, with its trailing `/`.
pub fn dir_of(path: &str) -> &str {
    &path[..=path.rfind('/').unwrap()]
}

/// Whether `p` exists.
pub fn exists(p: &Path) -> bool {
    p.exists()
}
