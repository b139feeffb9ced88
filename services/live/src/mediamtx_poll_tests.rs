use super::*;

/// A page as MediaMTX 1.19.3+ writes it (`available` and the deprecated `ready`), trimmed of
/// fields the poller ignores but keeping a few to show they are ignored.
const NEW: &str = r#"{
  "pageCount": 1,
  "itemCount": 3,
  "items": [
    {"name": "live/st_on", "confName": "all_others", "available": true,
     "availableTime": "2026-12-02T03:00:00Z", "online": true, "ready": true,
     "readyTime": "2026-12-02T03:00:00Z",
     "source": {"type": "rtmpConn", "id": "9b7e0c3a-1d2f-4e5a-8b6c-0d1e2f3a4b5c"},
     "tracks": ["H264", "MPEG-4 Audio"], "tracks2": [{"codec": "H264", "codecProps": null}],
     "inboundBytes": 1234, "outboundBytes": 0, "readers": []},
    {"name": "live/st_gone", "confName": "all_others", "available": false, "ready": false,
     "availableTime": null, "source": null, "readers": []},
    {"name": "live/st_anon", "available": true, "source": {"type": "rtspSession"}}
  ]
}"#;

/// A page as MediaMTX before 1.19.3 writes it (`ready` only).
const OLD: &str = r#"{
  "pageCount": 1,
  "itemCount": 2,
  "items": [
    {"name": "live/st_on", "confName": "all_others", "ready": true,
     "readyTime": "2024-01-01T00:00:00Z",
     "source": {"type": "rtmpConn", "id": "c1"}, "tracks": ["H264"],
     "bytesReceived": 10, "bytesSent": 0, "readers": [{"type": "hlsMuxer", "id": ""}]},
    {"name": "live/st_off", "ready": false, "source": null}
  ]
}"#;

#[test]
fn a_path_list_of_a_recent_mediamtx_gives_the_streams_published_and_their_connections() {
    let page = parse_page(NEW.as_bytes()).unwrap();
    assert_eq!(page.page_count, 1);
    assert_eq!(page.items.len(), 3);
    let live = publishing(&page.items);
    assert_eq!(live.len(), 2, "{live:?}");
    assert_eq!(live["st_on"].as_deref(), Some("9b7e0c3a-1d2f-4e5a-8b6c-0d1e2f3a4b5c"));
    assert_eq!(live["st_anon"], None);
    assert!(!live.contains_key("st_gone"));
}

#[test]
fn a_path_list_of_an_older_mediamtx_with_ready_only_is_read_the_same_way() {
    let live = publishing(&parse_page(OLD.as_bytes()).unwrap().items);
    assert_eq!(live.len(), 1);
    assert_eq!(live["st_on"].as_deref(), Some("c1"));
}

#[test]
fn available_wins_over_the_deprecated_ready_when_they_disagree() {
    let p = |available, ready| ApiPath { name: "live/s".into(), available, ready, source: None };
    assert!(p(Some(true), Some(false)).is_publishing());
    assert!(!p(Some(false), Some(true)).is_publishing());
    assert!(p(None, Some(true)).is_publishing());
    assert!(!p(None, None).is_publishing());
}

#[test]
fn a_session_is_sighted_only_on_a_published_path_from_its_own_connection() {
    let live = publishing(&parse_page(NEW.as_bytes()).unwrap().items);
    assert!(sighted(&live, "st_on", "9b7e0c3a-1d2f-4e5a-8b6c-0d1e2f3a4b5c"));
    assert!(!sighted(&live, "st_on", "another-connection"), "someone else publishes it");
    assert!(sighted(&live, "st_anon", "whatever"), "no publisher id given: the path counts");
    assert!(!sighted(&live, "st_gone", "x"), "listed but not publishing");
    assert!(!sighted(&live, "st_never", "x"), "not listed");
}

#[test]
fn an_empty_list_and_unknown_fields_parse_and_a_non_list_does_not() {
    let empty = parse_page(br#"{"pageCount":0,"itemCount":0,"items":[]}"#).unwrap();
    assert_eq!(empty, PathList::default());
    assert_eq!(parse_page(br#"{"items":[{"name":"a","x":{"y":1}}]}"#).unwrap().items.len(), 1);
    assert!(parse_page(b"<html>502 Bad Gateway</html>").is_err());
    assert!(parse_page(br#"{"items":{"name":"a"}}"#).is_err());
}

#[test]
fn health_is_down_until_a_poll_succeeds_and_down_again_when_one_fails() {
    let h = PollHealth::default();
    assert!(!h.is_up(), "never polled: MediaMTX sessions are not reaped");
    h.succeeded();
    assert!(h.is_up());
    let e = PollError::Status(reqwest::StatusCode::BAD_GATEWAY);
    h.failed(&e);
    h.failed(&e);
    assert!(!h.is_up());
    assert_eq!(h.failures(), 2);
    h.succeeded();
    assert!(h.is_up());
}
