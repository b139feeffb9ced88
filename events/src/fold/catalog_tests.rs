//! Given/when/then tests of the catalog fold.

use super::*;
use crate::fold::testkit::*;

fn fold(events: &[Event]) -> Option<VideoEntry> {
    events.iter().fold(None, apply)
}

fn status(events: &[Event]) -> Option<Status> {
    fold(events).map(|e| e.status)
}

/// The whole happy story of one video, in log order.
fn story() -> Vec<Event> {
    vec![
        ev("v1", secs(0), initiated()),
        ev("v1", secs(5), completed()),
        ev("v1", secs(6), requested()),
        ev("v1", secs(7), started(1)),
        ev("v1", secs(8), failed(1, false)),
        ev("v1", secs(9), started(2)),
        ev("v1", secs(10), rendition_completed("360p", 360)),
        ev("v1", secs(11), playable()),
        ev("v1", secs(12), rendition_completed("720p", 720)),
        ev("v1", secs(13), transcoded(40.0)),
        ev("v1", secs(14), published()),
    ]
}

#[test]
fn given_nothing_when_an_upload_is_initiated_then_the_video_is_uploading_with_its_filename() {
    let e = fold(&[ev("v1", secs(0), initiated())]).unwrap();
    assert_eq!(e.status, Status::Uploading);
    assert_eq!(e.filename.as_deref(), Some("cat.mp4"));
    assert_eq!(e.size, Some(1000));
    assert_eq!(e.created_at, secs(0));
}

#[test]
fn given_an_upload_when_it_completes_then_the_video_is_processing_with_probe_metadata() {
    let e = fold(&[ev("v1", secs(0), initiated()), ev("v1", secs(5), completed())]).unwrap();
    assert_eq!(e.status, Status::Processing);
    assert_eq!(e.sha256.as_deref(), Some("ab".repeat(32).as_str()));
    assert_eq!(e.probe.as_ref().map(|p| (p.width, p.height)), Some((1920, 1080)));
    assert_eq!(e.source, Some(crate::data::SourceKind::Upload));
    assert_eq!(e.updated_at, secs(5));
}

#[test]
fn given_the_whole_story_when_folded_then_the_video_is_ready_with_poster_and_renditions() {
    let e = fold(&story()).unwrap();
    assert_eq!(e.status, Status::Ready);
    assert_eq!(e.poster_key.as_deref(), Some("hls/acme/v1/poster.jpg"));
    assert_eq!(e.storyboard_key.as_deref(), Some("hls/acme/v1/storyboard.vtt"));
    assert_eq!(e.duration_secs, Some(12.5));
    assert_eq!(e.renditions.keys().collect::<Vec<_>>(), ["360p", "720p"]);
    assert_eq!(e.renditions["720p"].details.as_ref().map(|d| d.bytes), Some(400));
    assert_eq!(e.attempt, 2);
    assert_eq!(e.error.as_deref(), Some("boom 1"), "the failure is kept for the record");
}

#[test]
fn given_an_audio_only_asset_when_published_then_the_catalog_says_it_is_audio() {
    assert!(!fold(&story()).unwrap().audio_only, "a video is not audio-only");
    let mut events = story();
    events.pop();
    let audio = ReadyData::Published {
        renditions: vec!["audio".into()],
        duration_secs: 12.5,
        poster: "hls/acme/v1/poster.jpg".into(),
        storyboard: "hls/acme/v1/storyboard.vtt".into(),
        audio_only: true,
    };
    events.push(ev("v1", secs(14), audio));
    let e = fold(&events).unwrap();
    assert_eq!(e.status, Status::Ready);
    assert!(e.audio_only);
    assert!(e.renditions.contains_key("audio"));
}

#[test]
fn given_a_playable_video_when_transcoding_is_requested_again_then_it_stays_playable() {
    let mut evs = story()[..8].to_vec();
    evs.push(ev("v1", secs(20), requested()));
    evs.push(ev("v1", secs(21), started(3)));
    assert_eq!(status(&evs), Some(Status::Playable));
}

#[test]
fn given_processing_when_an_attempt_fails_temporarily_then_it_stays_processing_with_the_reason() {
    let e = fold(&story()[..5]).unwrap();
    assert_eq!(e.status, Status::Processing);
    assert_eq!((e.attempt, e.error.as_deref()), (1, Some("boom 1")));
}

#[test]
fn given_processing_when_a_permanent_failure_arrives_then_the_video_failed() {
    let mut evs = story()[..4].to_vec();
    evs.push(ev("v1", secs(8), failed(1, true)));
    let e = fold(&evs).unwrap();
    assert_eq!(e.status, Status::Failed);
    assert_eq!(e.error.as_deref(), Some("boom 1"));
}

#[test]
fn given_processing_when_the_job_is_dead_lettered_then_the_video_failed() {
    let mut evs = story()[..4].to_vec();
    evs.push(ev("v1", secs(30), dead_lettered(5)));
    assert_eq!(status(&evs), Some(Status::Failed));
}

#[test]
fn given_a_ready_video_when_a_permanent_failure_arrives_late_then_it_stays_ready() {
    let mut evs = story();
    evs.push(ev("v1", secs(30), failed(2, true)));
    evs.push(ev("v1", secs(31), dead_lettered(2)));
    assert_eq!(status(&evs), Some(Status::Ready));
}

#[test]
fn given_a_failed_video_when_a_retry_with_a_higher_attempt_starts_then_it_is_processing_again() {
    let mut evs = story()[..4].to_vec();
    evs.push(ev("v1", secs(8), failed(1, true)));
    evs.push(ev("v1", secs(9), started(1)));
    assert_eq!(status(&evs), Some(Status::Failed), "the same attempt is no retry");
    evs.push(ev("v1", secs(10), started(2)));
    assert_eq!(status(&evs), Some(Status::Processing));
}

#[test]
fn given_an_upload_when_it_is_rejected_then_the_video_failed_with_the_reason() {
    let e = fold(&[ev("v1", secs(0), initiated()), ev("v1", secs(1), rejected())]).unwrap();
    assert_eq!(e.status, Status::Failed);
    assert_eq!(e.error.as_deref(), Some("not_video: no video stream"));
}

#[test]
fn given_an_upload_when_it_is_aborted_then_the_entry_is_a_hidden_tombstone_that_stays_hidden() {
    let mut evs = vec![ev("v1", secs(0), initiated()), ev("v1", secs(1), aborted())];
    assert_eq!(status(&evs), Some(Status::Abandoned));
    assert!(!Status::Abandoned.is_visible());
    evs.push(ev("v1", secs(2), completed()));
    evs.push(ev("v1", secs(3), published()));
    assert_eq!(status(&evs), Some(Status::Abandoned));
}

#[test]
fn given_a_completed_upload_when_its_session_expires_late_then_the_video_is_kept() {
    let evs = [
        ev("v1", secs(0), initiated()),
        ev("v1", secs(1), completed()),
        ev("v1", secs(2), UploadData::Expired { upload_id: "up1".into(), idle_secs: 3600 }),
    ];
    assert_eq!(status(&evs), Some(Status::Processing));
}

#[test]
fn given_a_ready_video_when_it_is_deleted_then_it_is_hidden_and_nothing_brings_it_back() {
    let mut evs = story();
    evs.push(ev("v1", secs(30), deleted()));
    assert_eq!(status(&evs), Some(Status::Deleted));
    evs.push(ev("v1", secs(31), published()));
    evs.push(ev("v1", secs(32), started(9)));
    assert_eq!(status(&evs), Some(Status::Deleted));
}

#[test]
fn given_nothing_when_a_deletion_arrives_first_then_later_events_cannot_create_the_video() {
    let evs = [
        ev("v1", secs(9), deleted()),
        ev("v1", secs(1), initiated()),
        ev("v1", secs(2), completed()),
    ];
    assert_eq!(status(&evs), Some(Status::Deleted));
}

#[test]
fn given_nothing_when_transcode_events_arrive_before_the_upload_completes_then_the_video_is_processing()
 {
    let evs = [
        ev("v1", secs(7), started(1)),
        ev("v1", secs(5), completed()),
        ev("v1", secs(0), initiated()),
    ];
    let e = fold(&evs).unwrap();
    assert_eq!(e.status, Status::Processing);
    assert_eq!(e.created_at, secs(0), "created is the earliest event time");
    assert_eq!(e.updated_at, secs(7), "updated is the latest event time");
    assert_eq!(e.filename.as_deref(), Some("cat.mp4"));
}

#[test]
fn given_processing_when_published_arrives_before_playable_then_the_video_is_ready() {
    let evs = [
        ev("v1", secs(5), completed()),
        ev("v1", secs(14), published()),
        ev("v1", secs(11), playable()),
    ];
    assert_eq!(status(&evs), Some(Status::Ready));
}

#[test]
fn given_any_story_when_any_event_is_repeated_later_then_the_state_does_not_change() {
    let base = story();
    let want = fold(&base);
    for i in 0..base.len() {
        for j in i + 1..=base.len() {
            let mut evs = base.clone();
            evs.insert(j, base[i].clone());
            assert_eq!(fold(&evs), want, "repeating event {i} at {j}");
        }
    }
}

#[test]
fn given_a_failure_story_when_any_event_is_repeated_later_then_the_state_does_not_change() {
    let base = vec![
        ev("v1", secs(0), initiated()),
        ev("v1", secs(5), completed()),
        ev("v1", secs(7), started(1)),
        ev("v1", secs(8), failed(1, true)),
        ev("v1", secs(9), started(2)),
        ev("v1", secs(10), playable()),
        ev("v1", secs(11), dead_lettered(2)),
        ev("v1", secs(12), deleted()),
    ];
    let want = fold(&base);
    for i in 0..base.len() {
        for j in i + 1..=base.len() {
            let mut evs = base.clone();
            evs.insert(j, base[i].clone());
            assert_eq!(fold(&evs), want, "repeating event {i} at {j}");
        }
    }
}

#[test]
fn given_a_video_when_live_or_view_events_arrive_then_nothing_changes() {
    let e = fold(&story());
    let after = [ev("v1", secs(50), view("a")), ev("v1", secs(51), stream_created("x"))]
        .iter()
        .fold(e.clone(), apply);
    assert_eq!(after, e);
}

#[test]
fn every_status_accepts_only_the_documented_moves() {
    use Status::*;
    let all = [Uploading, Processing, Playable, Ready, Failed, Deleted, Abandoned];
    let allowed = [
        (Uploading, Processing),
        (Uploading, Playable),
        (Uploading, Ready),
        (Uploading, Failed),
        (Uploading, Deleted),
        (Uploading, Abandoned),
        (Processing, Playable),
        (Processing, Ready),
        (Processing, Failed),
        (Processing, Deleted),
        (Playable, Ready),
        (Playable, Failed),
        (Playable, Deleted),
        (Ready, Deleted),
        (Failed, Ready),
        (Failed, Deleted),
        (Abandoned, Deleted),
    ];
    for a in all {
        for b in all {
            assert_eq!(a.accepts(b), allowed.contains(&(a, b)), "{a} -> {b}");
        }
    }
}
