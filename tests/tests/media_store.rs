//! The MediaStore contract on both backends: the filesystem and the JetStream Object Store
//! (two store handles on one NATS server stand in for two machines sharing no disk).

use std::path::Path;

use framelog_core::media::{FsMediaStore, MediaError, MediaStore};
use framelog_core::media_nats::NatsMediaStore;
use framelog_tests::NatsServer;

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

#[tokio::test]
async fn the_filesystem_store_keeps_the_contract() {
    let work = tempfile::tempdir().unwrap();
    let store = FsMediaStore::new(work.path().join("media")).unwrap();
    contract(&store, &store, work.path()).await;
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
