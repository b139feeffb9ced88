//! The JSON Schemas in `schemas/` are the published contract of every event type and version.
//! These tests keep the Rust types, the schemas and the golden fixtures in step:
//! - every Rust variant serialises to JSON its schema accepts, and the schema declares exactly
//!   the phases the Rust enum has;
//! - every fixture (old versions included) still validates and still parses;
//! - a schema is strict enough to catch a typo or a bad id;
//! - a version newer than this build is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use framelog_events::mp4::{Mp4Output, Mp4Setting};
use framelog_events::{
    AggregateId, AudioRendition, DecodeError, Event, EventData, Kind, LiveData, MediaServer, Probe,
    ReadyData, Rendition, SourceKind, TenantId, TranscodeData, UploadData, UploadProtocol,
    ViewData,
};
use serde_json::Value;
use time::macros::datetime;
use uuid::Uuid;

const SCHEMAS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas");

fn schema_path(event_type: &str, version: u32) -> PathBuf {
    Path::new(SCHEMAS_DIR).join(format!("{event_type}.v{version}.json"))
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load_schema(event_type: &str, version: u32) -> Value {
    let schema = read_json(&schema_path(event_type, version));
    assert!(
        jsonschema::meta::is_valid(&schema),
        "{event_type} v{version}: not a valid JSON Schema"
    );
    schema
}

/// A draft 2020-12 validator that also checks `format` (uuid, date-time).
fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .expect("schema compiles")
}

/// Panics with every schema error if `instance` is not valid. A `oneOf` failure only says "no
/// variant matched", so the errors against the variant of the instance's phase are added.
fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let errors = schema_errors(&validator(schema), instance);
    if errors.is_empty() {
        return;
    }
    let phase = &instance["data"]["phase"];
    let variant = schema["properties"]["data"]["oneOf"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| &v["properties"]["phase"]["const"] == phase));
    let detail = match variant {
        Some(variant) => {
            let mut narrowed = schema.clone();
            narrowed["properties"]["data"] = variant.clone();
            schema_errors(&validator(&narrowed), instance)
        }
        None => vec!["  the schema has no variant of this phase".to_owned()],
    };
    panic!(
        "{what} is rejected by its schema:\n{}\nagainst the {phase} variant:\n{}\ninstance: {instance:#}",
        errors.join("\n"),
        detail.join("\n")
    );
}

fn schema_errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator.iter_errors(instance).map(|e| format!("  at {}: {e}", e.instance_path())).collect()
}

/// The phases a schema's `data.oneOf` declares.
fn schema_phases(schema: &Value) -> BTreeSet<String> {
    let variants = schema["properties"]["data"]["oneOf"].as_array().expect("data is a oneOf");
    variants
        .iter()
        .map(|v| {
            v["properties"]["phase"]["const"]
                .as_str()
                .unwrap_or_else(|| panic!("a data variant without a phase const: {v}"))
                .to_owned()
        })
        .collect()
}

fn kind_of(event_type: &str) -> Kind {
    Kind::from_event_type(event_type).unwrap_or_else(|| panic!("unknown type {event_type}"))
}

/// Names every Rust variant with no wildcard: adding a variant fails to compile here, as a
/// reminder to add a sample of it to `samples()` (and a schema variant and a fixture).
fn phase_of(data: &EventData) -> &'static str {
    match data {
        EventData::Upload(d) => match d {
            UploadData::Initiated { .. } => "initiated",
            UploadData::Completed { .. } => "completed",
            UploadData::Rejected { .. } => "rejected",
            UploadData::Aborted { .. } => "aborted",
            UploadData::Expired { .. } => "expired",
            UploadData::Deleted {} => "deleted",
            // Read-only: what a newer writer's phase decodes to; never written, no schema.
            UploadData::Unknown => "unknown",
        },
        EventData::Transcode(d) => match d {
            TranscodeData::Requested { .. } => "requested",
            TranscodeData::Started { .. } => "started",
            TranscodeData::RenditionCompleted { .. } => "rendition_completed",
            TranscodeData::Playable { .. } => "playable",
            TranscodeData::Completed { .. } => "completed",
            TranscodeData::Failed { .. } => "failed",
            TranscodeData::DeadLettered { .. } => "dead_lettered",
            TranscodeData::Mp4Requested { .. } => "mp4_requested",
            TranscodeData::Mp4Ready { .. } => "mp4_ready",
            // Read-only: what a newer writer's phase decodes to; never written, no schema.
            TranscodeData::Unknown => "unknown",
        },
        EventData::Ready(d) => match d {
            ReadyData::Published { .. } => "published",
            ReadyData::MonthClosed(_) => "month_closed",
            // Read-only: what a newer writer's phase decodes to; never written, no schema.
            ReadyData::Unknown => "unknown",
        },
        EventData::Live(d) => match d {
            LiveData::StreamCreated { .. } => "stream_created",
            LiveData::KeyRotated { .. } => "key_rotated",
            LiveData::StreamDeleted {} => "stream_deleted",
            LiveData::PublishDenied { .. } => "publish_denied",
            LiveData::RecordingRefused { .. } => "recording_refused",
            LiveData::Started { .. } => "started",
            LiveData::Ended { .. } => "ended",
            LiveData::RecordingReady { .. } => "recording_ready",
            // Read-only: what a newer writer's phase decodes to; never written, no schema.
            LiveData::Unknown => "unknown",
        },
        EventData::View(d) => match d {
            ViewData::Counted { .. } => "counted",
            ViewData::Presence { .. } => "presence",
            ViewData::EgressMetered { .. } => "egress_metered",
            ViewData::Qoe(_) => "qoe",
            // Read-only: what a newer writer's phase decodes to; never written, no schema.
            ViewData::Unknown => "unknown",
        },
    }
}

fn probe(full: bool) -> Probe {
    Probe {
        duration_secs: 187.466,
        width: 1920,
        height: 1080,
        rotation: if full { 0 } else { 90 },
        fps: 29.97,
        video_codec: "h264".into(),
        audio_codec: full.then(|| "aac".into()),
        format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
        bit_rate: full.then_some(8_123_456),
    }
}

fn rendition(name: &str, width: u32, height: u32) -> Rendition {
    Rendition {
        name: name.into(),
        width,
        height,
        fps: 30.0,
        bandwidth: 3_350_000,
        average_bandwidth: 2_801_234,
        codecs: "avc1.4d401f,mp4a.40.2".into(),
        bytes: 65_632_256,
    }
}

/// One event per data variant at least, optional fields both present and absent, some caused by
/// an earlier one.
fn samples() -> Vec<Event> {
    let tenant = TenantId::new("acme").unwrap();
    let vid = AggregateId::new("vid_1").unwrap();
    let stream = AggregateId::new("live_1").unwrap();
    let mut n = 0u128;
    let mut ev = |subject: &AggregateId, data: EventData| {
        n += 1;
        Event::new(
            Uuid::from_u128(0x0195_7f3a_9c2e_7b41_a8d3_0000_0000_0000 + n),
            datetime!(2025-03-14 09:26:53.589 UTC) + time::Duration::seconds(n as i64),
            "framelog/test",
            tenant.clone(),
            subject.clone(),
            data,
        )
    };
    let upload = |d: UploadData| EventData::Upload(d);
    let transcode = |d: TranscodeData| EventData::Transcode(d);
    let live = |d: LiveData| EventData::Live(d);
    let view = |d: ViewData| EventData::View(d);

    let initiated = ev(
        &vid,
        upload(UploadData::Initiated {
            upload_id: "up_1".into(),
            filename: "Holiday in Lisbon.mp4".into(),
            size: 190_348_211,
            content_type: Some("video/mp4".into()),
            protocol: UploadProtocol::Tus,
            title: None,
            external_id: None,
            metadata: Default::default(),
        }),
    );
    let completed = ev(
        &vid,
        upload(UploadData::Completed {
            upload_id: "up_1".into(),
            source: SourceKind::Upload,
            filename: "Holiday in Lisbon.mp4".into(),
            size: 190_348_211,
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            source_key: "acme/vid_1/source".into(),
            probe: probe(true),
            stream_id: None,
        }),
    )
    .caused_by(&initiated);
    let requested = ev(
        &vid,
        transcode(TranscodeData::Requested {
            source_key: "acme/vid_1/source".into(),
            probe: probe(false),
        }),
    )
    .caused_by(&completed);
    let started = ev(
        &vid,
        transcode(TranscodeData::Started {
            worker: "transcoder-0".into(),
            encoder: "libx264".into(),
            attempt: 1,
            profiles: vec!["360p".into(), "720p".into()],
        }),
    )
    .caused_by(&requested);
    let transcoded = ev(
        &vid,
        transcode(TranscodeData::Completed {
            renditions: vec![rendition("360p", 640, 360), rendition("720p", 1280, 720)],
            audio: Some(AudioRendition {
                codecs: "mp4a.40.2".into(),
                bandwidth: 131_072,
                average_bandwidth: 129_001,
                bytes: 3_014_656,
                name: Some("audio".into()),
                language: Some("en".into()),
                channels: Some(2),
            }),
            more_audio: vec![AudioRendition {
                codecs: "mp4a.40.2".into(),
                bandwidth: 395_000,
                average_bandwidth: 388_000,
                bytes: 9_014_656,
                name: Some("audio_mc".into()),
                language: Some("en".into()),
                channels: Some(6),
            }],
            cpu_seconds: 1412.37,
            wall_secs: 290.25,
            source_duration_secs: 187.466,
            encoder: "libx264".into(),
        }),
    )
    .caused_by(&started);
    let session_started = ev(
        &stream,
        live(LiveData::Started {
            session_id: "ses_1".into(),
            server: MediaServer::NginxRtmp,
            connection_id: "conn-4812".into(),
            protocol: "rtmp".into(),
            remote_addr: Some("198.51.100.23:60112".into()),
        }),
    );
    let session_ended = ev(
        &stream,
        live(LiveData::Ended {
            session_id: "ses_1".into(),
            duration_secs: 3703.584,
            reason: "publisher_disconnected".into(),
        }),
    )
    .caused_by(&session_started);

    let mut all = vec![
        ev(
            &vid,
            upload(UploadData::Initiated {
                upload_id: "up_2".into(),
                filename: "clip.webm".into(),
                size: 0,
                content_type: None,
                protocol: UploadProtocol::Rest,
                title: None,
                external_id: None,
                metadata: Default::default(),
            }),
        ),
        ev(
            &vid,
            upload(UploadData::Completed {
                upload_id: "rec_1".into(),
                source: SourceKind::LiveRecording,
                filename: "recording.mkv".into(),
                size: u64::MAX,
                sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
                source_key: "acme/vid_2/source".into(),
                probe: probe(false),
                stream_id: Some(stream.clone()),
            }),
        ),
        ev(
            &vid,
            upload(UploadData::Rejected {
                upload_id: "up_3".into(),
                code: "not_a_video".into(),
                reason: "ffprobe found no video stream".into(),
            }),
        ),
        ev(&vid, upload(UploadData::Aborted { upload_id: "up_4".into() })),
        ev(&vid, upload(UploadData::Expired { upload_id: "up_5".into(), idle_secs: 86_400 })),
        ev(&vid, upload(UploadData::Deleted {})),
        ev(
            &vid,
            transcode(TranscodeData::RenditionCompleted { rendition: rendition("360p", 640, 360) }),
        )
        .caused_by(&started),
        ev(&vid, transcode(TranscodeData::Playable { renditions: vec!["360p".into()] }))
            .caused_by(&started),
        ev(
            &vid,
            transcode(TranscodeData::Failed {
                reason: "ffmpeg exited with status 1".into(),
                permanent: true,
                attempt: 2,
            }),
        ),
        ev(
            &vid,
            transcode(TranscodeData::DeadLettered {
                reason: "ffmpeg exited with status 1".into(),
                attempts: 5,
            }),
        ),
        ev(&vid, transcode(TranscodeData::Mp4Requested { mp4: Mp4Setting::All })),
        ev(
            &vid,
            transcode(TranscodeData::Mp4Ready {
                mp4: Mp4Setting::All,
                version: "0195f0a1b2c37d4e8f90a1b2c3d4e5f6".into(),
                files: vec![
                    Mp4Output {
                        name: "capped-1080p.mp4".into(),
                        bytes: 12_345_678,
                        rendition: Some("1080p".into()),
                    },
                    Mp4Output { name: "audio.m4a".into(), bytes: 321_000, rendition: None },
                ],
                cpu_seconds: 0.12,
            }),
        ),
        ev(
            &vid,
            transcode(TranscodeData::Mp4Ready {
                mp4: Mp4Setting::None,
                version: "0195f0a1b2c37d4e8f90a1b2c3d4e5f6".into(),
                files: vec![],
                cpu_seconds: 0.0,
            }),
        ),
        ev(
            &vid,
            EventData::Ready(ReadyData::Published {
                renditions: vec!["360p".into(), "720p".into()],
                duration_secs: 187.466,
                poster: "acme/vid_1/poster.jpg".into(),
                storyboard: "acme/vid_1/storyboard.vtt".into(),
                audio_only: false,
            }),
        )
        .caused_by(&transcoded),
        ev(
            &vid,
            EventData::Ready(ReadyData::Published {
                renditions: vec!["audio".into()],
                duration_secs: 1804.2,
                poster: "acme/vid_1/poster.jpg".into(),
                storyboard: "acme/vid_1/storyboard.vtt".into(),
                audio_only: true,
            }),
        ),
        ev(
            &AggregateId::new("usage-2026-10").unwrap(),
            EventData::Ready(ReadyData::MonthClosed(framelog_events::MonthTotals {
                month: "2026-10".into(),
                egress_bytes: 1 << 30,
                egress_requests: 900,
                views: 3,
                views_by_video: [("vid_1".to_string(), 3)].into_iter().collect(),
            })),
        ),
        ev(
            &stream,
            live(LiveData::StreamCreated {
                name: "Friday town hall".into(),
                record: true,
                public: false,
            }),
        ),
        ev(
            &stream,
            live(LiveData::StreamCreated {
                name: "Open stream".into(),
                record: false,
                public: true,
            }),
        ),
        ev(&stream, live(LiveData::KeyRotated { generation: 2 })),
        ev(&stream, live(LiveData::StreamDeleted {})),
        ev(
            &stream,
            live(LiveData::PublishDenied {
                reason: "stale_key".into(),
                server: MediaServer::Mediamtx,
                protocol: Some("srt".into()),
                remote_addr: Some("203.0.113.7:51234".into()),
                suppressed: Some(41),
            }),
        ),
        ev(
            &stream,
            live(LiveData::PublishDenied {
                reason: "unknown_stream".into(),
                server: MediaServer::NginxRtmp,
                protocol: None,
                remote_addr: None,
                suppressed: None,
            }),
        ),
        ev(
            &stream,
            live(LiveData::RecordingRefused {
                reason: "outside_recordings_dir".into(),
                server: MediaServer::NginxRtmp,
            }),
        ),
        ev(
            &stream,
            live(LiveData::Started {
                session_id: "ses_2".into(),
                server: MediaServer::Mediamtx,
                connection_id: "c2".into(),
                protocol: "webrtc".into(),
                remote_addr: None,
            }),
        ),
        ev(
            &stream,
            live(LiveData::RecordingReady {
                session_id: "ses_1".into(),
                video_id: AggregateId::new("vid_2").unwrap(),
                source_key: "acme/vid_2/source".into(),
            }),
        )
        .caused_by(&session_ended),
        ev(
            &vid,
            view(ViewData::Counted {
                viewer: "5d41402abc4b2a76b9719d911017c592".into(),
                window: 1_741_953_600,
                live: false,
            }),
        ),
        ev(
            &stream,
            view(ViewData::Counted {
                viewer: "7d793037a0760186574b0282f2f435e7".into(),
                window: -60,
                live: true,
            }),
        ),
        ev(
            &stream,
            view(ViewData::Presence {
                viewer: "7d793037a0760186574b0282f2f435e7".into(),
                window: 1_741_953_630,
                session_id: Some("ses_1".into()),
            }),
        ),
        ev(
            &stream,
            view(ViewData::Presence {
                viewer: "7d793037a0760186574b0282f2f435e7".into(),
                window: 1_741_953_660,
                session_id: None,
            }),
        ),
        ev(
            &AggregateId::new("playback-0").unwrap(),
            view(ViewData::EgressMetered {
                period_start: datetime!(2025-03-14 12:00 UTC),
                period_secs: 3600,
                bytes: 48_318_382_080,
                requests: 112_874,
            }),
        ),
        ev(
            &AggregateId::new("playback-1").unwrap(),
            view(ViewData::EgressMetered {
                period_start: datetime!(2025-03-14 13:00:00.5 +01:00),
                period_secs: 60,
                bytes: 0,
                requests: 0,
            }),
        ),
    ];
    all.push(ev(
        &stream,
        view(ViewData::Qoe(framelog_events::qoe::QoeSample {
            viewer: "7d793037a0760186".into(),
            window: 1_741_953_660,
            seq: 4,
            live: true,
            watch_ms: 29_000,
            startup_ms: Some(1_200),
            rebuffer_count: 1,
            rebuffer_ms: 800,
            switches: 2,
            errors: 1,
            error_code: Some("fragLoadError".into()),
            latency_ms: Some(6_500),
        })),
    ));
    all.push(ev(
        &stream,
        view(ViewData::Qoe(framelog_events::qoe::QoeSample {
            viewer: "7d793037a0760186".into(),
            window: 1_741_953_690,
            ..Default::default()
        })),
    ));
    all.extend([
        initiated,
        completed,
        requested,
        started,
        transcoded,
        session_started,
        session_ended,
    ]);
    all
}

#[test]
fn every_variant_serialises_to_json_its_schema_accepts() {
    let mut covered: BTreeMap<Kind, BTreeSet<String>> = BTreeMap::new();
    let schemas: BTreeMap<Kind, Value> = Kind::ALL
        .into_iter()
        .map(|k| (k, load_schema(k.event_type(), k.schema_version())))
        .collect();

    for event in samples() {
        let kind = event.kind();
        let phase = phase_of(&event.data);
        assert_eq!(phase, event.data.phase(), "the Phased impl and the test disagree");
        let json = event.to_json();
        let value: Value = serde_json::from_slice(&json).unwrap();
        assert_valid(&schemas[&kind], &value, &format!("{} {phase}", kind.event_type()));
        let back = Event::from_json(&json)
            .unwrap_or_else(|e| panic!("{} {phase} does not parse back: {e}", kind.event_type()));
        assert_eq!(back, event, "{} {phase} does not round-trip", kind.event_type());
        covered.entry(kind).or_default().insert(phase.to_owned());
    }

    for kind in Kind::ALL {
        let declared = schema_phases(&schemas[&kind]);
        let rust = covered.remove(&kind).unwrap_or_default();
        assert_eq!(
            rust,
            declared,
            "{}: the Rust variants (left) and the schema's data.oneOf (right) differ",
            kind.event_type()
        );
    }
}

/// Every `schemas/fixtures/<TYPE>/v<N>/<phase>.json`, as (type, version, phase, path).
fn fixtures() -> Vec<(String, u32, String, PathBuf)> {
    let mut out = Vec::new();
    let root = Path::new(SCHEMAS_DIR).join("fixtures");
    for type_dir in fs::read_dir(&root).expect("schemas/fixtures exists") {
        let type_dir = type_dir.unwrap().path();
        let event_type = type_dir.file_name().unwrap().to_str().unwrap().to_owned();
        for version_dir in fs::read_dir(&type_dir).unwrap() {
            let version_dir = version_dir.unwrap().path();
            let name = version_dir.file_name().unwrap().to_str().unwrap();
            let version: u32 = name
                .strip_prefix('v')
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{}: not a v<N> folder", version_dir.display()));
            for file in fs::read_dir(&version_dir).unwrap() {
                let file = file.unwrap().path();
                assert_eq!(
                    file.extension().and_then(|e| e.to_str()),
                    Some("json"),
                    "{}: fixtures are .json files",
                    file.display()
                );
                let phase = file.file_stem().unwrap().to_str().unwrap().to_owned();
                out.push((event_type.clone(), version, phase, file));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_fixture_still_parses_and_matches_its_schema() {
    let all = fixtures();
    assert!(!all.is_empty(), "no fixtures found");
    let mut phases_by_schema: BTreeMap<(String, u32), BTreeSet<String>> = BTreeMap::new();

    for (event_type, version, phase, path) in &all {
        let what = format!("fixture {event_type}/v{version}/{phase}");
        let schema = load_schema(event_type, *version);
        let value = read_json(path);
        assert_valid(&schema, &value, &what);
        assert_eq!(
            value["dataschema"],
            format!("framelog:{event_type}/{version}"),
            "{what}: dataschema does not match its folder"
        );

        let bytes = fs::read(path).unwrap();
        let event = Event::from_json(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(event.kind(), kind_of(event_type), "{what}: wrong type");
        assert_eq!(event.kind().event_type(), event_type, "{what}: wrong type");
        assert_eq!(event.data.phase(), phase, "{what}: wrong phase");

        let again = Event::from_json(&event.to_json())
            .unwrap_or_else(|e| panic!("{what}: re-serialised form does not parse: {e}"));
        assert_eq!(again, event, "{what}: does not round-trip");

        phases_by_schema.entry((event_type.clone(), *version)).or_default().insert(phase.clone());
    }

    // Every current schema has a fixture for each of its phases.
    for kind in Kind::ALL {
        let key = (kind.event_type().to_owned(), kind.schema_version());
        let declared = schema_phases(&load_schema(&key.0, key.1));
        let have = phases_by_schema.remove(&key).unwrap_or_default();
        assert_eq!(
            have, declared,
            "{} v{}: fixtures (left) and schema phases (right) differ",
            key.0, key.1
        );
    }
}

fn valid_upload_json() -> Value {
    let event = Event::new(
        Uuid::from_u128(0x0195_7f3a_9c2e_7b41_a8d3_c5e6_f7a8_b9d0),
        datetime!(2025-03-14 09:26:53.589 UTC),
        "framelog/test",
        TenantId::new("acme").unwrap(),
        AggregateId::new("vid_1").unwrap(),
        UploadData::Aborted { upload_id: "up_1".into() },
    );
    serde_json::from_slice(&event.to_json()).unwrap()
}

#[test]
fn a_schema_rejects_an_unknown_field_and_a_bad_tenant() {
    let schema = load_schema("VID_UPLOAD", 1);
    let validator = validator(&schema);
    let valid = valid_upload_json();
    assert_valid(&schema, &valid, "the unmutated event");

    let mut bogus_data = valid.clone();
    bogus_data["data"]["bogus"] = Value::from(1);
    assert!(!validator.is_valid(&bogus_data), "an unknown data field is accepted");

    let mut bad_tenant = valid.clone();
    bad_tenant["tenant"] = Value::from("a.b");
    assert!(!validator.is_valid(&bad_tenant), "tenant \"a.b\" is accepted");

    let mut bogus_envelope = valid.clone();
    bogus_envelope["bogus"] = Value::from(1);
    assert!(!validator.is_valid(&bogus_envelope), "an unknown envelope field is accepted");

    let mut other_type = valid;
    other_type["type"] = Value::from("VID_READY");
    assert!(!validator.is_valid(&other_type), "another type is accepted by the VID_UPLOAD schema");
}

#[test]
fn a_newer_schema_version_is_refused_with_a_clear_error() {
    let mut value = valid_upload_json();
    value["dataschema"] = Value::from("framelog:VID_UPLOAD/2");
    let err = Event::from_json(&serde_json::to_vec(&value).unwrap()).unwrap_err();
    match &err {
        DecodeError::TooNew { event_type, version } => {
            assert_eq!(*event_type, "VID_UPLOAD");
            assert_eq!(*version, 2);
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("VID_UPLOAD") && message.contains('2') && message.contains("newer"),
        "unclear error: {message}"
    );
}
