//! Shared helpers of the transcoder's integration tests: a platform on a real nats-server, a
//! filesystem media store, generated sources, requests, reading the log, ffprobe.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use framelog_core::media::{FsMediaStore, SharedMediaStore, source_key};
use framelog_core::nats::STREAM_VID;
use framelog_core::service::ServiceContext;
use framelog_events::{AggregateId, Event, Kind, Probe, TenantId, TranscodeData};
use framelog_tests::NatsServer;
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_transcoder::{Encoder, Outcome, TranscoderSettings, Worker};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Everything a test needs; dropping it stops the server and removes the files.
pub struct Env {
    pub ctx: ServiceContext,
    pub media_root: PathBuf,
    pub sources: tempfile::TempDir,
    _data: tempfile::TempDir,
    pub nats: NatsServer,
}

pub fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

pub fn video(id: &str) -> AggregateId {
    AggregateId::new(id).unwrap()
}

pub async fn env() -> Env {
    let nats = NatsServer::start();
    let (platform, data) = framelog_tests::platform(&nats).await;
    let media_root = data.path().join("media");
    let media: SharedMediaStore = Arc::new(FsMediaStore::new(&media_root).unwrap());
    let ctx = ServiceContext { platform, media, shutdown: CancellationToken::new() };
    let sources = tempfile::Builder::new().prefix("framelog-src-").tempdir().unwrap();
    Env { ctx, media_root, sources, _data: data, nats }
}

impl Env {
    /// This environment with `media` as its store instead of the filesystem one.
    pub fn with_media(mut self, media: SharedMediaStore) -> Env {
        self.ctx.media = media;
        self
    }

    /// A context sharing this one's platform and media but with its own shutdown token.
    pub fn another_process(&self) -> ServiceContext {
        ServiceContext { shutdown: CancellationToken::new(), ..self.ctx.clone() }
    }

    /// Generates `spec`, stores it as the video's source and publishes a transcode request.
    pub async fn request(&self, id: &str, spec: &VideoSpec) -> Event {
        let path = generate_video(self.sources.path(), &format!("{id}.mp4"), spec);
        self.request_file(id, &path).await
    }

    /// Stores `path` as the video's source and publishes a transcode request whose probe is
    /// ffprobe's (or made up, for files ffprobe refuses).
    pub async fn request_file(&self, id: &str, path: &Path) -> Event {
        self.request_file_as("acme", id, path).await
    }

    /// [`Env::request_file`] for `tenant`'s video `id`.
    pub async fn request_file_as(&self, tenant: &str, id: &str, path: &Path) -> Event {
        let probe =
            framelog_core::probe::probe(path, Duration::from_secs(30)).await.unwrap_or(Probe {
                duration_secs: 3.0,
                width: 640,
                height: 360,
                rotation: 0,
                fps: 30.0,
                video_codec: "h264".into(),
                audio_codec: Some("aac".into()),
                format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
                bit_rate: None,
            });
        let key = source_key(tenant, id);
        self.store_source(&key, path).await;
        self.publish_request(tenant, id, &key, probe).await
    }

    /// Copies `path` into the media store at `key`.
    pub async fn store_source(&self, key: &str, path: &Path) {
        let copy = self.sources.path().join(format!("{}.stored", key.replace('/', "_")));
        std::fs::copy(path, &copy).unwrap();
        self.ctx.media.put_file(key, &copy).await.unwrap();
    }

    /// Publishes a transcode request of `tenant`'s video `id` naming `key`, as any process
    /// with publish rights on the log could (no check of the key here).
    pub async fn publish_request(&self, tenant: &str, id: &str, key: &str, probe: Probe) -> Event {
        let event = Event::new(
            Uuid::now_v7(),
            OffsetDateTime::now_utc(),
            "framelog/test",
            TenantId::new(tenant).unwrap(),
            video(id),
            TranscodeData::Requested { source_key: key.to_owned(), probe },
        );
        self.ctx.platform.events.publish(&event).await.unwrap();
        event
    }

    /// A second transcode request of a video that already has one (an operator's re-transcode):
    /// `requested` is one-shot, so it is said again with [`EventLog::publish_again`].
    ///
    /// [`EventLog::publish_again`]: framelog_core::eventlog::EventLog::publish_again
    pub async fn request_again(&self, id: &str, spec: &VideoSpec) -> Event {
        let path = generate_video(self.sources.path(), &format!("{id}.mp4"), spec);
        let probe = framelog_core::probe::probe(&path, Duration::from_secs(30)).await.unwrap();
        let key = source_key("acme", id);
        self.store_source(&key, &path).await;
        let event = Event::new(
            Uuid::now_v7(),
            OffsetDateTime::now_utc(),
            "framelog/test",
            TenantId::new("acme").unwrap(),
            video(id),
            TranscodeData::Requested { source_key: key, probe },
        );
        self.ctx.platform.events.publish_again(&event).await.unwrap();
        event
    }

    /// A worker with libx264 on `ctx`.
    pub async fn worker_on(
        &self,
        ctx: &ServiceContext,
        settings: TranscoderSettings,
        name: &str,
    ) -> Worker {
        let encoder = Encoder::libx264(&settings.x264_preset);
        Worker::new(ctx, settings, encoder, name)
            .await
            .unwrap()
            .with_poll(Duration::from_millis(500))
    }

    pub async fn worker(&self, settings: TranscoderSettings, name: &str) -> Worker {
        self.worker_on(&self.ctx, settings, name).await
    }

    /// Every message of the `VID` stream whose subject starts with `prefix`: (subject, JSON).
    pub async fn log(&self, prefix: &str) -> Vec<(String, Value)> {
        let mut stream = self.ctx.platform.js.get_stream(STREAM_VID).await.unwrap();
        let last = stream.info().await.unwrap().state.last_sequence;
        let mut out = Vec::new();
        for seq in 1..=last {
            let Ok(m) = stream.get_raw_message(seq).await else { continue };
            if m.subject.starts_with(prefix) {
                out.push((m.subject.to_string(), serde_json::from_slice(&m.payload).unwrap()));
            }
        }
        out
    }

    /// The `data.phase` of every transcode and ready event of a video, in log order.
    pub async fn phases(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (subject, v) in self.log("vid.acme.").await {
            if subject.ends_with(&format!(".{id}"))
                && (subject.contains(".transcode.") || subject.contains(".ready."))
            {
                let kind = if subject.contains(".ready.") { "ready" } else { "transcode" };
                out.push(format!("{kind}.{}", v["data"]["phase"].as_str().unwrap()));
            }
        }
        out
    }

    /// Events of `id` with `kind` and `phase`.
    pub async fn events(&self, id: &str, kind: Kind, phase: &str) -> Vec<Value> {
        self.events_of("acme", id, kind, phase).await
    }

    /// Events of `tenant`'s video `id` with `kind` and `phase`.
    pub async fn events_of(&self, tenant: &str, id: &str, kind: Kind, phase: &str) -> Vec<Value> {
        let subject = format!("vid.{tenant}.{kind}.{phase}.{id}");
        self.log(&subject)
            .await
            .into_iter()
            .filter(|(s, _)| *s == subject)
            .map(|(_, v)| v)
            .collect()
    }

    /// The local path of a media key.
    pub fn media(&self, key: &str) -> PathBuf {
        self.media_root.join(key)
    }

    /// The directory of a video's live version (named by the filesystem store's pointer).
    pub fn live_dir(&self, id: &str) -> PathBuf {
        let root = self.media(&format!("hls/acme/{id}"));
        let text = std::fs::read_to_string(root.join(framelog_core::media::POINTER_FILE))
            .unwrap_or_else(|e| panic!("no live version of {id}: {e}"));
        let pointer: Value = serde_json::from_str(&text).unwrap();
        root.join("v").join(pointer["version"].as_str().unwrap())
    }

    /// The last progress message of a video.
    pub async fn last_progress(&self, id: &str) -> Value {
        let stream = self.ctx.platform.js.get_stream("VID_PROGRESS").await.unwrap();
        let m = stream
            .get_last_raw_message_by_subject(&format!("vidp.acme.transcode.{id}"))
            .await
            .unwrap();
        serde_json::from_slice(&m.payload).unwrap()
    }
}

/// Drives `worker` until a job ends (at most 3 minutes).
pub async fn run_to_end(worker: &mut Worker) -> Outcome {
    let step = async {
        loop {
            let o = worker.process_next().await;
            if o.is_job_end() {
                return o;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(180), step).await.expect("a job ended in time")
}

/// Remuxes `src` with a display rotation (without re-encoding, so ffmpeg 5.1 keeps it).
pub fn rotate(src: &Path, degrees: i32) -> PathBuf {
    let out = src.with_extension("rotated.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(src)
        .args(["-c", "copy", "-metadata:s:v:0", &format!("rotate={degrees}")])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

/// ffprobe's JSON for `path` (streams and format).
pub fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_streams", "-show_format"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The first video stream of ffprobe's JSON.
pub fn video_stream(probe: &Value) -> &Value {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream")
}

/// (pts seconds, is keyframe) of the video packets of an fMP4 segment (with its init segment).
pub fn segment_packets(init: &Path, segment: &Path, scratch: &Path) -> Vec<(f64, bool)> {
    let joined = scratch.join(format!(
        "{}-{}.mp4",
        segment.parent().unwrap().file_name().unwrap().to_string_lossy(),
        segment.file_stem().unwrap().to_string_lossy()
    ));
    let mut bytes = std::fs::read(init).unwrap();
    bytes.extend(std::fs::read(segment).unwrap());
    std::fs::write(&joined, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"])
        .args(["-of", "csv=p=0"])
        .arg(&joined)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (pts, flags) = l.split_once(',').unwrap();
            (pts.parse().unwrap(), flags.contains('K'))
        })
        .collect()
}

fn validator(event_type: &str) -> jsonschema::Validator {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../schemas/{event_type}.v1.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

/// Checks every transcoder event in the log against its JSON Schema and returns how many.
pub async fn assert_events_match_schemas(env: &Env) -> usize {
    let (transcode, ready) = (validator("VID_TRANSCODE"), validator("VID_READY"));
    let mut n = 0;
    for (subject, v) in env.log("vid.").await {
        if v["source"] != "framelog/transcoder" {
            continue;
        }
        let validator = if subject.contains(".ready.") { &ready } else { &transcode };
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{subject}: {errors:?}\n{v:#}");
        n += 1;
    }
    n
}

/// Total bytes of the files directly in `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Pids of live ffmpeg processes whose command line mentions `needle` (a job's work dir or
/// its source).
pub fn ffmpeg_pids(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.starts_with("ffmpeg") && cmd.contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// A made-up probe (for requests whose source ffprobe refuses or that are never read).
pub fn any_probe() -> Probe {
    Probe {
        duration_secs: 3.0,
        width: 640,
        height: 360,
        rotation: 0,
        fps: 30.0,
        video_codec: "h264".into(),
        audio_codec: None,
        format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
        bit_rate: None,
    }
}
