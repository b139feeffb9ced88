//! Shared set-up of the projection tests: a real nats-server, a platform, event builders and
//! helpers that drive the projectors' step until they are idle.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use framelog_core::Platform;
use framelog_core::media::FsMediaStore;
use framelog_core::service::ServiceContext;
use framelog_events::data::*;
pub use framelog_events::fold::testkit::{rendition, transcoded};
use framelog_events::{AggregateId, Event, EventData, TenantId};
use framelog_projection::{Outcome, Projection, ProjectionSettings, Projector, build};
use framelog_tests::{NatsServer, TestApp};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// A test world: the server, a platform (own sled db), and tenant keys.
pub struct World {
    pub nats: NatsServer,
    pub platform: Platform,
    pub ctx: ServiceContext,
    pub acme: String,
    pub globex: String,
    _dir: tempfile::TempDir,
}

pub async fn world() -> World {
    let nats = NatsServer::start();
    let (platform, dir) = framelog_tests::platform(&nats).await;
    let acme = platform.tenants.create(&tenant("acme")).await.unwrap();
    let globex = platform.tenants.create(&tenant("globex")).await.unwrap();
    let media = Arc::new(FsMediaStore::new(dir.path().join("media")).unwrap());
    let ctx =
        ServiceContext { platform: platform.clone(), media, shutdown: CancellationToken::new() };
    World { nats, platform, ctx, acme, globex, _dir: dir }
}

impl World {
    /// A projection over this world's platform (its sled db).
    pub async fn projection(&self) -> Projection {
        self.projection_with(ProjectionSettings::for_test()).await
    }

    pub async fn projection_with(&self, settings: ProjectionSettings) -> Projection {
        build(&self.ctx, settings).await.unwrap()
    }

    /// Another platform on the same server with a fresh data dir (another replica / a fresh
    /// store for a rebuild).
    pub async fn other_platform(&self) -> (Platform, tempfile::TempDir) {
        framelog_tests::platform(&self.nats).await
    }

    /// Publishes and returns the stream sequence.
    pub async fn publish(&self, e: &Event) -> u64 {
        self.platform.events.publish(e).await.unwrap().sequence().expect("stored")
    }
}

/// Serves the projection's routes.
pub async fn serve(p: &Projection) -> TestApp {
    TestApp::serve(framelog_projection::router(p.api.clone())).await
}

/// Steps until nothing arrives for 300 ms; returns the events applied. Panics if the projector
/// stops before an unreadable message (see [`drain_to_stop`]).
pub async fn drain(p: &mut Projector) -> usize {
    let mut n = 0;
    loop {
        match p.process_next(Duration::from_millis(300)).await.unwrap() {
            Outcome::Applied { events, .. } => n += events,
            Outcome::Idle => return n,
            Outcome::Stopped(stop) => panic!("the projector stopped: {stop:?}"),
        }
    }
}

/// Steps until idle or stopped; returns the stop, if any.
pub async fn drain_to_stop(p: &mut Projector) -> Option<framelog_projection::readiness::Stop> {
    loop {
        match p.process_next(Duration::from_millis(300)).await.unwrap() {
            Outcome::Applied { .. } => {}
            Outcome::Idle => return None,
            Outcome::Stopped(stop) => return Some(stop),
        }
    }
}

pub fn tenant(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

pub fn agg(s: &str) -> AggregateId {
    AggregateId::new(s).unwrap()
}

pub fn ev(t: &str, aggregate: &str, data: impl Into<EventData>) -> Event {
    Event::new(
        uuid::Uuid::now_v7(),
        OffsetDateTime::now_utc(),
        "framelog/test",
        tenant(t),
        agg(aggregate),
        data,
    )
}

pub fn ev_at(t: &str, aggregate: &str, time: OffsetDateTime, data: impl Into<EventData>) -> Event {
    Event::new(uuid::Uuid::now_v7(), time, "framelog/test", tenant(t), agg(aggregate), data)
}

pub fn probe() -> Probe {
    Probe {
        duration_secs: 12.5,
        width: 1920,
        height: 1080,
        rotation: 90,
        fps: 30.0,
        video_codec: "h264".into(),
        audio_codec: Some("aac".into()),
        format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
        bit_rate: None,
    }
}

pub fn initiated(name: &str) -> UploadData {
    UploadData::Initiated {
        upload_id: format!("up_{name}"),
        filename: format!("{name}.mp4"),
        size: 1000,
        content_type: None,
        protocol: UploadProtocol::Tus,
        title: None,
        external_id: None,
        metadata: Default::default(),
    }
}

pub fn completed(size: u64) -> UploadData {
    UploadData::Completed {
        upload_id: "up".into(),
        source: SourceKind::Upload,
        filename: "clip.mp4".into(),
        size,
        sha256: "cd".repeat(32),
        source_key: "sources/x/source".into(),
        probe: probe(),
        stream_id: None,
    }
}

pub fn published() -> ReadyData {
    ReadyData::Published {
        renditions: vec!["360p".into(), "720p".into()],
        duration_secs: 12.5,
        poster: "hls/x/poster.jpg".into(),
        storyboard: "hls/x/storyboard.vtt".into(),
        audio_only: false,
    }
}

pub fn view(viewer: &str) -> ViewData {
    ViewData::Counted { viewer: viewer.into(), window: 0, live: false }
}

/// The events of one video's whole life, ready at the end.
pub fn ready_story(t: &str, video: &str) -> Vec<Event> {
    vec![
        ev(t, video, initiated(video)),
        ev(t, video, completed(1000)),
        ev(t, video, TranscodeData::Requested { source_key: "k".into(), probe: probe() }),
        ev(
            t,
            video,
            TranscodeData::Started {
                worker: "w".into(),
                encoder: "x".into(),
                attempt: 1,
                profiles: vec![],
            },
        ),
        ev(t, video, TranscodeData::RenditionCompleted { rendition: rendition("360p", 360, 100) }),
        ev(t, video, TranscodeData::Playable { renditions: vec!["360p".into()] }),
        ev(t, video, transcoded(10.0)),
        ev(t, video, published()),
    ]
}

/// A GET with a key, answering (status, JSON body).
pub async fn get_json(app: &TestApp, path: &str, key: &str) -> (u16, serde_json::Value) {
    let res = app.get(path, Some(key)).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}
