//! `mp4` in a video's JSON: the static MP4 setting and, per file it asks for, its status,
//! size and signed URLs (`url` to play or seek, `download_url` with `?download=` for a
//! `Content-Disposition: attachment` named after the title or id).

use framelog_events::fold::VideoEntry;
use framelog_events::fold::catalog::Status;
use framelog_events::mp4::{Mp4File, safe_stem};
use serde_json::{Value, json};

/// The `mp4` object of `e` (`{"setting": "none", "files": []}` when nothing was asked for);
/// `token` signs the URLs.
pub(crate) fn mp4_json(e: &VideoEntry, token: &str) -> Value {
    let entry = e.mp4.clone().unwrap_or_default();
    let has_video = !e.audio_only && e.probe.as_ref().is_none_or(|p| p.width > 0);
    let vid = e.id.as_str();
    let stem = safe_stem(e.title.as_deref().unwrap_or(vid));
    let files: Vec<Value> = entry
        .setting
        .files(has_video)
        .into_iter()
        .map(|f: Mp4File| {
            let stored = entry.files.iter().find(|s| s.name == f.name());
            let ready = stored.is_some() && e.status == Status::Ready;
            let url = format!("/hls/{token}/{vid}/mp4/{}", f.name());
            json!({
                "name": f.name(),
                "status": if ready { "ready" } else { "preparing" },
                "size": stored.map(|s| s.bytes),
                "rendition": stored.and_then(|s| s.rendition.clone()),
                "url": ready.then(|| url.clone()),
                "download_url": ready.then(|| format!("{url}?download={stem}")),
            })
        })
        .collect();
    json!({ "setting": entry.setting, "files": files })
}

#[cfg(test)]
mod tests {
    use super::*;
    use framelog_events::fold::catalog;
    use framelog_events::mp4::{Mp4Output, Mp4Setting};
    use framelog_events::{AggregateId, Event, TenantId, TranscodeData, UploadData};

    fn entry(setting: Mp4Setting, stored: &[&str]) -> VideoEntry {
        let t = TenantId::new("acme").unwrap();
        let v = AggregateId::new("vid_1").unwrap();
        let now = time::OffsetDateTime::now_utc();
        let ev =
            |d: TranscodeData| Event::new(uuid::Uuid::now_v7(), now, "t", t.clone(), v.clone(), d);
        let init = Event::new(
            uuid::Uuid::now_v7(),
            now,
            "t",
            t.clone(),
            v.clone(),
            UploadData::Initiated {
                upload_id: "u".into(),
                filename: "a.mp4".into(),
                size: 1,
                content_type: None,
                protocol: framelog_events::UploadProtocol::Rest,
                title: Some("My \"Trip\"".into()),
                external_id: None,
                metadata: Default::default(),
            },
        );
        let mut e = catalog::apply(None, &init);
        e = catalog::apply(e, &ev(TranscodeData::Mp4Requested { mp4: setting }));
        let files = stored
            .iter()
            .map(|n| Mp4Output { name: (*n).into(), bytes: 7, rendition: None })
            .collect();
        let ready =
            TranscodeData::Mp4Ready { mp4: setting, version: "ab".into(), files, cpu_seconds: 0.0 };
        let mut e = catalog::apply(e, &ev(ready)).unwrap();
        e.status = Status::Ready;
        e
    }

    #[test]
    fn each_wanted_file_has_a_status_and_urls_once_stored() {
        let v = mp4_json(&entry(Mp4Setting::All, &["audio.m4a"]), "tok");
        assert_eq!(v["setting"], "all");
        assert_eq!(v["files"][0]["name"], "capped-1080p.mp4");
        assert_eq!(v["files"][0]["status"], "preparing");
        assert!(v["files"][0]["url"].is_null());
        assert_eq!(v["files"][1]["status"], "ready");
        assert_eq!(v["files"][1]["size"], 7);
        assert_eq!(v["files"][1]["url"], "/hls/tok/vid_1/mp4/audio.m4a");
        assert_eq!(v["files"][1]["download_url"], "/hls/tok/vid_1/mp4/audio.m4a?download=My_Trip");
    }

    #[test]
    fn none_lists_no_files() {
        let v = mp4_json(&entry(Mp4Setting::None, &[]), "tok");
        assert_eq!(v["setting"], "none");
        assert_eq!(v["files"].as_array().unwrap().len(), 0);
    }
}
