//! [`PlaybackState`]: what every playback handler shares, and the background [`Workers`] that
//! go with it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRef;
use framelog_core::Platform;
use framelog_core::media::SharedMediaStore;
use framelog_core::tenants::TenantStore;
use framelog_core::tombstones::{KV_TOMBSTONES, Tombstones};
use framelog_events::AggregateId;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::batcher::{self, Outgoing, ViewStats};
use crate::cache::SegmentCache;
use crate::client::TrustedProxies;
use crate::egress::EgressMeter;
use crate::error::PlaybackError;
use crate::key_cache::KeyCache;
use crate::limiter::BeaconLimiter;
use crate::public::PublicVideos;
use crate::redirect::Redirects;
use crate::settings::PlaybackSettings;
use crate::signing_keys::{KV_SIGNING_KEYS, SigningKeys};
use crate::token::VerifiedTokens;
use crate::viewers::LiveViewers;

/// The time source (injected by tests to move between view windows).
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(OffsetDateTime::now_utc)
}

/// The playback service's shared state; cheap to clone.
#[derive(Clone)]
pub struct PlaybackState {
    pub platform: Platform,
    pub media: SharedMediaStore,
    pub settings: PlaybackSettings,
    /// nginx-rtmp's HLS directory.
    pub live_dir: PathBuf,
    /// Where objects of a store without local paths are copied to be served.
    pub fetch_dir: PathBuf,
    pub cache: SegmentCache,
    /// Rendered DASH manifests of complete versions.
    pub dash: crate::dash::MpdCache,
    /// Where immutable media is redirected (`--playback-redirect`).
    pub redirects: Redirects,
    pub meter: EgressMeter,
    pub public: PublicVideos,
    /// Deleted videos (a local set fed by a watch).
    pub tombstones: Tombstones,
    pub viewers: LiveViewers,
    /// Public keys of JWT playback (KV) and their in-memory verifiers (a watch).
    pub signing_keys: SigningKeys,
    pub keys: KeyCache,
    /// JWTs already verified, until they expire.
    pub verified: VerifiedTokens,
    pub proxies: Arc<TrustedProxies>,
    /// The view dedup window, seconds.
    pub window: i64,
    /// Queue of view events to the batch publisher.
    pub beacons: mpsc::Sender<Outgoing>,
    pub stats: ViewStats,
    /// Beacons per viewer address and sessions per address and window.
    pub limiter: Arc<BeaconLimiter>,
    /// The Image API: render slots, counters, poster times.
    pub images: crate::image::Images,
    /// The limiter's time origin (monotonic, unlike the injectable clock).
    started: Instant,
    clock: Clock,
}

impl std::fmt::Debug for PlaybackState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackState")
            .field("instance", self.meter.instance())
            .field("live_dir", &self.live_dir)
            .finish_non_exhaustive()
    }
}

impl FromRef<PlaybackState> for TenantStore {
    fn from_ref(st: &PlaybackState) -> TenantStore {
        st.platform.tenants.clone()
    }
}

/// The background work of one playback state, started with [`Workers::spawn`].
#[derive(Debug)]
pub struct Workers {
    beacons: mpsc::Receiver<Outgoing>,
}

impl PlaybackState {
    /// Builds the state: creates the public-video bucket and the directories, parses the
    /// settings. `clock` is [`system_clock`] outside tests.
    pub async fn new(
        platform: Platform,
        media: SharedMediaStore,
        settings: PlaybackSettings,
        clock: Clock,
    ) -> Result<(PlaybackState, Workers), PlaybackError> {
        let data = &platform.settings.data_dir;
        let live_dir = settings.live_dir.clone().unwrap_or_else(|| data.join("live/hls"));
        let fetch_dir = settings.fetch_dir.clone().unwrap_or_else(|| data.join("playback-cache"));
        for dir in [&live_dir, &fetch_dir] {
            std::fs::create_dir_all(dir)
                .map_err(|source| PlaybackError::Dir { path: dir.display().to_string(), source })?;
        }
        let instance = match &settings.instance_id {
            Some(id) => AggregateId::new(id.clone())
                .map_err(|source| PlaybackError::InstanceId { id: id.clone(), source })?,
            None => framelog_core::new_id("pb"),
        };
        let redirects = settings.redirects().map_err(PlaybackError::Redirect)?;
        let proxies = TrustedProxies::parse(&settings.trusted_proxies)
            .map_err(PlaybackError::TrustedProxy)?;
        let public = PublicVideos::open(&platform.js, platform.settings.replicas).await?;
        let tombstones = Tombstones::open(&platform.js)
            .await
            .map_err(|e| PlaybackError::Kv { bucket: KV_TOMBSTONES, source: Box::new(e) })?;
        let signing_keys = SigningKeys::open(&platform.js)
            .await
            .map_err(|e| PlaybackError::Kv { bucket: KV_SIGNING_KEYS, source: Box::new(e) })?;
        let images = crate::image::Images::new(&platform, &settings.images).await?;
        let (tx, rx) = mpsc::channel(settings.beacon_queue.max(1));
        let stats = ViewStats::default();
        stats.register(&platform.metrics);
        let state = PlaybackState {
            dash: crate::dash::MpdCache::default(),
            cache: SegmentCache::new(settings.cache_bytes(), settings.cache_revalidate()),
            redirects,
            meter: EgressMeter::new(instance, settings.egress_period_secs, clock()),
            viewers: LiveViewers::new(settings.view_window()),
            window: settings.view_window(),
            proxies: Arc::new(proxies),
            beacons: tx,
            stats,
            limiter: Arc::new(BeaconLimiter::new(settings.beacon_limits())),
            started: Instant::now(),
            images,
            public,
            tombstones,
            signing_keys,
            keys: KeyCache::default(),
            verified: VerifiedTokens::default(),
            live_dir,
            fetch_dir,
            platform,
            media,
            settings,
            clock,
        };
        Ok((state, Workers { beacons: rx }))
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// Seconds since the state was built (monotonic; the limiter's time).
    pub fn uptime_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

impl Workers {
    /// Starts the batch publisher, the egress flusher, the public-video and tombstone watches,
    /// the signing key watch and the live viewer feed; each returns after `shutdown` (the publisher and the flusher
    /// after sending what they hold).
    pub fn spawn(self, st: &PlaybackState, shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
        let js = st.platform.js.clone();
        vec![
            tokio::spawn(batcher::run(
                js.clone(),
                self.beacons,
                st.settings.batch_max,
                st.stats.clone(),
                shutdown.clone(),
            )),
            tokio::spawn(crate::flush::run(st.clone(), shutdown.clone())),
            tokio::spawn(st.public.clone().watch(shutdown.clone())),
            tokio::spawn(crate::deleted::follow(st.clone(), shutdown.clone())),
            tokio::spawn(st.keys.clone().follow(st.signing_keys.kv().clone(), shutdown.clone())),
            tokio::spawn(crate::viewers_metric::export(
                st.viewers.clone(),
                crate::viewers_metric::registered(&st.platform.metrics),
                shutdown.clone(),
            )),
            tokio::spawn(st.viewers.clone().follow(js, shutdown)),
        ]
    }
}
