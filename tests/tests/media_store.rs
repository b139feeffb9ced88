//! The MediaStore contract on every backend: the filesystem, the JetStream Object Store and S3
//! (SeaweedFS) (two store handles on one NATS server, and one SeaweedFS, stand in for two
//! machines sharing no disk). S3-only behaviour: `tests/media_s3.rs`.

use std::path::Path;

use framelog_core::media::versions::{self, Published};
use framelog_core::media::{FsMediaStore, MediaError, MediaStore, Pointer};
use framelog_core::media_nats::NatsMediaStore;
use framelog_core::media_s3::S3MediaStore;
use framelog_tests::{NatsServer, SeaweedFs};
use futures::StreamExt;

async fn contract(writer: &dyn MediaStore, reader: &dyn MediaStore, work: &Path) {
    let src = work.join("src.bin");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &bytes).unwrap();
    assert_eq!(writer.put_file("sources/acme/v1/source", &src).await.unwrap(), bytes.len() as u64);
    assert!(reader.exists("sources/acme/v1/source").await.unwrap());
    let out = work.join("out.bin");
    reader.fetch_to("sources/acme/v1/source", &out).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes, "the exact bytes come back");

    // A directory replaces the previous one under the same prefix.
    let d1 = work.join("d1");
    std::fs::create_dir_all(d1.join("360p")).unwrap();
    std::fs::write(d1.join("master.m3u8"), "#EXTM3U\n").unwrap();
    std::fs::write(d1.join("360p/seg_0.m4s"), b"old").unwrap();
    writer.put_dir("hls/acme/v1", &d1).await.unwrap();
    let d2 = work.join("d2");
    std::fs::create_dir_all(d2.join("360p")).unwrap();
    std::fs::write(d2.join("master.m3u8"), "#EXTM3U\n#v2\n").unwrap();
    std::fs::write(d2.join("360p/seg_1.m4s"), b"new").unwrap();
    writer.put_dir("hls/acme/v1", &d2).await.unwrap();
    assert!(!reader.exists("hls/acme/v1/360p/seg_0.m4s").await.unwrap(), "old files are gone");
    assert!(reader.exists("hls/acme/v1/360p/seg_1.m4s").await.unwrap());
    let m = work.join("m.m3u8");
    reader.fetch_to("hls/acme/v1/master.m3u8", &m).await.unwrap();
    assert_eq!(std::fs::read_to_string(&m).unwrap(), "#EXTM3U\n#v2\n");

    // Deleting a prefix removes everything under it and nothing beside it.
    writer.delete_prefix("hls/acme/v1").await.unwrap();
    assert!(!reader.exists("hls/acme/v1/master.m3u8").await.unwrap());
    assert!(reader.exists("sources/acme/v1/source").await.unwrap());
    assert!(matches!(
        reader.fetch_to("hls/acme/v1/master.m3u8", &work.join("x")).await,
        Err(MediaError::NotFound(_))
    ));
    assert!(matches!(writer.exists("../etc/passwd").await, Err(MediaError::InvalidKey(_))));
}

fn pointer(version: &str, complete: bool) -> Pointer {
    Pointer { version: version.into(), complete, retired: Vec::new() }
}

/// The version pointer: compare-and-set seen by another handle, one winner among racers,
/// the publication rules and the removal of retired versions, and deletion with the prefix.
async fn pointer_contract(a: &dyn MediaStore, b: &dyn MediaStore, work: &Path) {
    let prefix = "hls/acme/vp";
    assert_eq!(b.current(prefix).await.unwrap(), None, "no pointer yet");
    let r1 = a.set_current(prefix, &pointer("v1", false), None).await.unwrap();
    assert!(matches!(
        b.set_current(prefix, &pointer("v9", false), None).await,
        Err(MediaError::Conflict(_))
    ));
    let cur = b.current(prefix).await.unwrap().unwrap();
    assert_eq!((cur.pointer, cur.revision), (pointer("v1", false), r1));
    let r2 = b.set_current(prefix, &pointer("v2", true), Some(r1)).await.unwrap();
    assert_ne!(r1, r2);
    assert!(
        matches!(
            a.set_current(prefix, &pointer("v1", true), Some(r1)).await,
            Err(MediaError::Conflict(_))
        ),
        "a stale revision loses"
    );
    let (p3, p4) = (pointer("v3", true), pointer("v4", true));
    let (x, y) =
        tokio::join!(a.set_current(prefix, &p3, Some(r2)), b.set_current(prefix, &p4, Some(r2)));
    assert_eq!(u8::from(x.is_ok()) + u8::from(y.is_ok()), 1, "one racer wins: {x:?} {y:?}");
    let winner = if x.is_ok() { "v3" } else { "v4" };
    assert_eq!(a.current(prefix).await.unwrap().unwrap().pointer.version, winner);
    a.delete_prefix(prefix).await.unwrap();
    assert_eq!(b.current(prefix).await.unwrap(), None, "deleting the prefix drops its pointer");

    // The rules through the store: a complete version is never replaced by an early one;
    // the version it replaces is removed once due, the live one stays.
    let put = |name: &str, bytes: &'static [u8]| {
        let d = work.join(name);
        std::fs::create_dir_all(d.join("360p")).unwrap();
        std::fs::write(d.join("360p/seg_0.m4s"), bytes).unwrap();
        d
    };
    let (old, new) = (versions::new_version_id(), versions::new_version_id());
    a.put_dir(&versions::version_prefix(prefix, &old), &put("old", b"1")).await.unwrap();
    assert!(matches!(
        versions::publish(a, prefix, &old, true, 100).await.unwrap(),
        Published::Moved(_)
    ));
    a.put_dir(&versions::version_prefix(prefix, &new), &put("new", b"2")).await.unwrap();
    assert!(
        matches!(versions::publish(b, prefix, &new, false, 110).await.unwrap(),
        Published::Kept(Some(p)) if p.version == old),
        "the early rung stays hidden"
    );
    assert!(matches!(
        versions::publish(b, prefix, &new, true, 120).await.unwrap(),
        Published::Moved(_)
    ));
    let old_seg = format!("{}/360p/seg_0.m4s", versions::version_prefix(prefix, &old));
    let new_seg = format!("{}/360p/seg_0.m4s", versions::version_prefix(prefix, &new));
    assert!(versions::collect(a, prefix, 130, 60).await.unwrap().is_empty(), "in its grace");
    assert!(b.exists(&old_seg).await.unwrap());
    assert_eq!(versions::collect(a, prefix, 180, 60).await.unwrap(), std::slice::from_ref(&old));
    assert!(!b.exists(&old_seg).await.unwrap(), "removed after its grace period");
    assert!(b.exists(&new_seg).await.unwrap(), "the live version stays");
    let cur = b.current(prefix).await.unwrap().unwrap().pointer;
    assert_eq!((cur.version.as_str(), cur.retired.len()), (new.as_str(), 0));
    a.delete_prefix(prefix).await.unwrap();
    assert!(!b.exists(&new_seg).await.unwrap());
}

#[tokio::test]
async fn the_filesystem_store_keeps_the_contract() {
    let work = tempfile::tempdir().unwrap();
    let store = FsMediaStore::new(work.path().join("media")).unwrap();
    contract(&store, &store, work.path()).await;
}

#[tokio::test]
async fn the_filesystem_store_keeps_the_pointer_contract_across_two_handles() {
    let work = tempfile::tempdir().unwrap();
    let a = FsMediaStore::new(work.path().join("media")).unwrap();
    let b = FsMediaStore::new(work.path().join("media")).unwrap();
    pointer_contract(&a, &b, work.path()).await;
}

#[tokio::test]
async fn the_object_store_keeps_the_pointer_contract_across_two_handles() {
    let nats = NatsServer::start();
    let a =
        NatsMediaStore::open(&async_nats::jetstream::new(nats.client().await), 1).await.unwrap();
    let b =
        NatsMediaStore::open(&async_nats::jetstream::new(nats.client().await), 1).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    pointer_contract(&a, &b, work.path()).await;
}

/// Two S3 store handles on one SeaweedFS bucket and one NATS server.
async fn s3_pair(nats: &NatsServer, sw: &SeaweedFs) -> (S3MediaStore, S3MediaStore) {
    let settings = sw.settings("contract");
    let (js_a, js_b) = (nats.client().await, nats.client().await);
    let (js_a, js_b) = (async_nats::jetstream::new(js_a), async_nats::jetstream::new(js_b));
    let a = S3MediaStore::open(&settings, &js_a, 1).await.unwrap();
    (a, S3MediaStore::open(&settings, &js_b, 1).await.unwrap())
}

#[tokio::test]
async fn the_s3_store_keeps_the_contract_and_the_pointer_contract_across_two_handles() {
    let (nats, sw) = (NatsServer::start(), SeaweedFs::start().await);
    let (writer, reader) = s3_pair(&nats, &sw).await;
    let work = tempfile::tempdir().unwrap();
    contract(&writer, &reader, work.path()).await;
    assert!(reader.local_path("sources/acme/v1/source").is_none());
    pointer_contract(&writer, &reader, work.path()).await;
}

/// Consumer-create requests on the media bucket that read its metadata subject (a listing of
/// every object), seen since the last call.
async fn listings(sub: &mut async_nats::Subscriber, client: &async_nats::Client) -> usize {
    client.flush().await.unwrap();
    let mut n = 0;
    while let Ok(Some(m)) =
        tokio::time::timeout(std::time::Duration::from_millis(300), sub.next()).await
    {
        let body = String::from_utf8_lossy(&m.payload);
        if body.contains("$O.framelog_media.M.>") || m.subject.contains("$O.framelog_media.M.>") {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn put_dir_on_the_object_store_touches_only_its_own_prefix() {
    let nats = NatsServer::start();
    let store =
        NatsMediaStore::open(&async_nats::jetstream::new(nats.client().await), 1).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    // Another video with many objects.
    let other = work.path().join("other");
    for i in 0..150 {
        std::fs::create_dir_all(other.join("360p")).unwrap();
        std::fs::write(other.join(format!("360p/seg_{i}.m4s")), format!("seg {i}")).unwrap();
    }
    store.put_dir("hls/acme/other", &other).await.unwrap();
    let watcher = nats.client().await;
    let mut sub = watcher.subscribe("$JS.API.CONSUMER.>").await.unwrap();
    watcher.flush().await.unwrap();

    for (name, seg) in [("d1", "seg_a.m4s"), ("d2", "seg_b.m4s")] {
        let d = work.path().join(name);
        std::fs::create_dir_all(d.join("360p")).unwrap();
        std::fs::write(d.join("master.m3u8"), name).unwrap();
        std::fs::write(d.join("360p").join(seg), name).unwrap();
        store.put_dir("hls/acme/mine", &d).await.unwrap();
    }
    assert_eq!(listings(&mut sub, &watcher).await, 0, "put_dir never lists the bucket");
    assert!(!store.exists("hls/acme/mine/360p/seg_a.m4s").await.unwrap(), "replaced");
    assert!(store.exists("hls/acme/mine/360p/seg_b.m4s").await.unwrap());
    // The same tree and one more file (the whole ladder after the early rung): the objects
    // already stored with these bytes are not rewritten.
    let raw = async_nats::jetstream::new(nats.client().await)
        .get_object_store("framelog_media")
        .await
        .unwrap();
    let nuid = |name: &'static str| {
        let raw = raw.clone();
        async move { raw.info(name).await.unwrap().nuid }
    };
    let before = nuid("hls/acme/mine/360p/seg_b.m4s").await;
    let d3 = work.path().join("d3");
    std::fs::create_dir_all(d3.join("360p")).unwrap();
    std::fs::write(d3.join("master.m3u8"), "d3").unwrap();
    std::fs::write(d3.join("360p/seg_b.m4s"), "d2").unwrap();
    std::fs::write(d3.join("360p/seg_c.m4s"), "d3").unwrap();
    store.put_dir("hls/acme/mine", &d3).await.unwrap();
    assert_eq!(nuid("hls/acme/mine/360p/seg_b.m4s").await, before, "same bytes: not rewritten");
    assert!(store.exists("hls/acme/mine/360p/seg_c.m4s").await.unwrap());
    let m = work.path().join("m3");
    store.fetch_to("hls/acme/mine/master.m3u8", &m).await.unwrap();
    assert_eq!(std::fs::read_to_string(&m).unwrap(), "d3", "changed bytes: rewritten");
    for i in [0, 77, 149] {
        assert!(store.exists(&format!("hls/acme/other/360p/seg_{i}.m4s")).await.unwrap());
    }
    store.delete_prefix("hls/acme/mine").await.unwrap();
    assert_eq!(listings(&mut sub, &watcher).await, 0, "a version is deleted by its manifest");
    assert!(!store.exists("hls/acme/mine/master.m3u8").await.unwrap());
    // The probe can see a listing: deleting a whole video (no manifest) lists.
    store.delete_prefix("hls/acme").await.unwrap();
    assert!(listings(&mut sub, &watcher).await > 0, "the probe sees a listing");
    assert!(!store.exists("hls/acme/other/360p/seg_0.m4s").await.unwrap());
}

#[tokio::test]
async fn the_object_store_keeps_the_contract_across_two_handles() {
    let nats = NatsServer::start();
    let js = async_nats::jetstream::new(nats.client().await);
    let writer = NatsMediaStore::open(&js, 1).await.unwrap();
    let js2 = async_nats::jetstream::new(nats.client().await);
    let reader = NatsMediaStore::open(&js2, 1).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    contract(&writer, &reader, work.path()).await;
    assert!(reader.local_path("sources/acme/v1/source").is_none());
}

#[tokio::test]
async fn a_rotated_test_video_really_carries_its_rotation() {
    let work = tempfile::tempdir().unwrap();
    let spec = framelog_tests::media::VideoSpec::new(320, 240, 1.0).rotated(90);
    let file = framelog_tests::media::generate_video(work.path(), "phone.mp4", &spec);
    let p = framelog_core::probe::probe(&file, std::time::Duration::from_secs(10)).await.unwrap();
    assert_eq!(p.rotation % 180, 90, "{p:?}");
    assert_eq!(framelog_core::probe::display_size(&p), (240, 320));
}

#[tokio::test]
async fn a_tree_from_another_filesystem_is_copied_in() {
    // /dev/shm is a tmpfs: a different filesystem from the media root on disk.
    let shm = std::path::Path::new("/dev/shm");
    if !shm.is_dir() {
        return;
    }
    let src = tempfile::tempdir_in(shm).unwrap();
    std::fs::create_dir_all(src.path().join("out/360p")).unwrap();
    std::fs::write(src.path().join("out/360p/a.m4s"), b"segment").unwrap();
    let work = tempfile::tempdir().unwrap();
    let store = FsMediaStore::new(work.path().join("media")).unwrap();
    store.put_dir("hls/acme/v9", &src.path().join("out")).await.unwrap();
    assert!(store.exists("hls/acme/v9/360p/a.m4s").await.unwrap());
    assert!(!src.path().join("out").exists(), "the source tree is moved, not left behind");
}
