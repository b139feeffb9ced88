//! Reading what a newer writer wrote (rolling upgrades): unknown phases and types are read past,
//! what no build could read is an error. Pure: no IO.

use serde_json::{Value, json};

use super::*;
use crate::fold::testkit::{self, ev, secs};
use crate::fold::{billing, catalog, live};

fn envelope(event_type: &str, dataschema: Option<&str>, data: Value) -> Vec<u8> {
    let mut v = json!({
        "specversion": "1.0",
        "id": "0192f5d0-0000-7000-8000-000000000001",
        "source": "framelog/v2",
        "type": event_type,
        "subject": "vid_1",
        "time": "2026-11-23T10:00:00Z",
        "datacontenttype": "application/json",
        "tenant": "acme",
        "correlationid": "vid_1",
        "data": data,
    });
    if let Some(s) = dataschema {
        v["dataschema"] = json!(s);
    }
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn an_unknown_phase_of_a_known_type_decodes_to_that_types_unknown() {
    let cases = [
        ("VID_UPLOAD", EventData::Upload(UploadData::Unknown)),
        ("VID_TRANSCODE", EventData::Transcode(TranscodeData::Unknown)),
        ("VID_READY", EventData::Ready(ReadyData::Unknown)),
        ("VID_LIVE", EventData::Live(LiveData::Unknown)),
        ("VID_VIEW", EventData::View(ViewData::Unknown)),
    ];
    for (t, want) in cases {
        let bytes = envelope(
            t,
            Some(&format!("framelog:{t}/1")),
            json!({"phase": "teleported", "to": "mars"}),
        );
        let e = Event::from_json(&bytes).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(e.data, want, "{t}");
        assert!(e.is_unknown(), "{t}");
    }
}

#[test]
fn an_unknown_field_in_a_known_phase_is_ignored() {
    let bytes = envelope(
        "VID_UPLOAD",
        None,
        json!({"phase": "aborted", "upload_id": "up1", "reason_v2": "the client went away"}),
    );
    let e = Event::from_json(&bytes).unwrap();
    assert_eq!(e.data, EventData::Upload(UploadData::Aborted { upload_id: "up1".into() }));
    assert!(!e.is_unknown());
}

#[test]
fn an_unknown_type_decodes_to_unknown_keeping_its_data() {
    let bytes = envelope(
        "VID_CAPTIONS",
        Some("framelog:VID_CAPTIONS/1"),
        json!({"phase": "added", "lang": "fr"}),
    );
    match Event::decode(&bytes).unwrap() {
        Decoded::Unknown(u) => {
            assert_eq!(u.event_type, "VID_CAPTIONS");
            assert_eq!(u.tenant.as_str(), "acme");
            let data: Value = serde_json::from_str(&u.data).unwrap();
            assert_eq!(data["lang"], "fr");
        }
        other => panic!("expected an unknown event, got {other:?}"),
    }
    assert!(
        matches!(Event::from_json(&bytes), Err(DecodeError::UnknownType(t)) if t == "VID_CAPTIONS")
    );
}

#[test]
fn what_no_build_could_read_stays_an_error() {
    let corrupt = b"{\"specversion\":\"1.0\",\"id\":".to_vec();
    assert!(matches!(Event::decode(&corrupt), Err(DecodeError::Json(_))));
    let newer_version = envelope(
        "VID_UPLOAD",
        Some("framelog:VID_UPLOAD/2"),
        json!({"phase": "aborted", "upload_id": "u"}),
    );
    assert!(matches!(Event::decode(&newer_version), Err(DecodeError::TooNew { version: 2, .. })));
    let bad_data = envelope("VID_UPLOAD", None, json!({"phase": "aborted", "upload_id": 7}));
    assert!(matches!(Event::decode(&bad_data), Err(DecodeError::Data { .. })));
    let no_tenant =
        br#"{"specversion":"1.0","type":"VID_X","id":"0192f5d0-0000-7000-8000-000000000001"}"#;
    assert!(Event::decode(no_tenant).is_err(), "an envelope it cannot read is an error");
}

#[test]
fn folds_leave_every_state_unchanged_for_an_unknown_phase() {
    let video = catalog::apply(None, &ev("vid_1", secs(0), testkit::initiated()));
    let later = |d: EventData| ev("vid_1", secs(5), d);
    for d in [
        EventData::Upload(UploadData::Unknown),
        EventData::Transcode(TranscodeData::Unknown),
        EventData::Ready(ReadyData::Unknown),
    ] {
        assert_eq!(catalog::apply(video.clone(), &later(d.clone())), video, "{d:?}");
        assert_eq!(catalog::apply(None, &later(d.clone())), None, "no entry from {d:?}");
        assert_eq!(billing::apply_video(None, &later(d.clone())), None);
    }
    let stream = live::apply(
        None,
        &ev(
            "st_1",
            secs(0),
            LiveData::StreamCreated { name: "s".into(), record: false, public: false },
        ),
    );
    let unknown = ev("st_1", secs(9), LiveData::Unknown);
    assert_eq!(live::apply(stream.clone(), &unknown), stream, "updated_at is not moved either");
    assert_eq!(live::apply(None, &unknown), None);
    assert!(billing::session_of(&unknown).is_none());
    assert_eq!(billing::apply_session(None, &unknown), None);
}
