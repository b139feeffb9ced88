//! S3-only behaviour of `S3MediaStore` on a real SeaweedFS: multipart uploads (out of order,
//! aborted), ranged reads and sizes, presigned URLs fetched by a plain HTTP client (their lifetime signed in), a big
//! `put_file`, a missing bucket refused at start, and an outage reported as
//! `MediaError::Unavailable` in seconds. The shared contract: `tests/media_store.rs`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use framelog_core::S3Settings;
use framelog_core::media::multipart::S3_MIN_PART;
use framelog_core::media::{MediaError, MediaStore};
use framelog_core::media_s3::S3MediaStore;
use framelog_tests::{NatsServer, SeaweedFs};

async fn open(nats: &NatsServer, settings: &S3Settings) -> Result<S3MediaStore, MediaError> {
    S3MediaStore::open(settings, &async_nats::jetstream::new(nats.client().await), 1).await
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i % 253) as u8).wrapping_add(seed)).collect()
}

#[tokio::test]
async fn multipart_parts_sent_out_of_order_assemble_in_order_and_abort_frees_an_upload() {
    let (nats, sw) = (NatsServer::start(), SeaweedFs::start().await);
    let store = open(&nats, &sw.settings("parts")).await.unwrap();
    let mp = store.multipart().expect("S3 has multipart uploads");
    let part = S3_MIN_PART as usize;
    let parts = [pattern(part, 1), pattern(part, 2), pattern(1000, 3)];
    let key = "sources/acme/mp/source";
    let upload = mp.create_multipart(key).await.unwrap();
    let mut etags = vec![String::new(); 3];
    for i in [2usize, 0, 1] {
        etags[i] = mp.put_part(key, &upload, i, Bytes::from(parts[i].clone())).await.unwrap();
    }
    mp.complete_multipart(key, &upload, etags).await.unwrap();
    let got = store.get_bytes(key).await.unwrap();
    assert_eq!(got.len(), 2 * part + 1000);
    assert_eq!(&got[..], &parts.concat()[..], "the bytes in part order");
    assert_eq!(store.size(key).await.unwrap(), Some((2 * part + 1000) as u64));

    let aborted = "sources/acme/ab/source";
    let up2 = mp.create_multipart(aborted).await.unwrap();
    mp.put_part(aborted, &up2, 0, Bytes::from(pattern(part, 4))).await.unwrap();
    mp.abort_multipart(aborted, &up2).await.unwrap();
    assert!(!store.exists(aborted).await.unwrap(), "an aborted upload leaves no object");
    assert!(
        mp.complete_multipart(aborted, &up2, vec!["x".into()]).await.is_err(),
        "an aborted upload cannot be completed"
    );
}

#[tokio::test]
async fn ranges_sizes_small_objects_and_a_big_file_round_trip() {
    let (nats, sw) = (NatsServer::start(), SeaweedFs::start().await);
    let store = open(&nats, &sw.settings("ranges")).await.unwrap();
    let data = pattern(10_000, 7);
    store.put_bytes("hls/acme/r/seg.m4s", Bytes::from(data.clone())).await.unwrap();
    assert_eq!(store.size("hls/acme/r/seg.m4s").await.unwrap(), Some(10_000));
    assert_eq!(store.size("hls/acme/r/none").await.unwrap(), None);
    let r = store.get_range("hls/acme/r/seg.m4s", 100..300).await.unwrap();
    assert_eq!(&r[..], &data[100..300]);
    let tail = store.get_range("hls/acme/r/seg.m4s", 9_990..20_000).await.unwrap();
    assert_eq!(&tail[..], &data[9_990..], "clamped to the end");
    let past = store.get_range("hls/acme/r/seg.m4s", 20_000..20_010).await.unwrap();
    assert!(past.is_empty(), "a range past the end is empty");
    assert!(matches!(
        store.get_range("hls/acme/r/none", 0..10).await,
        Err(MediaError::NotFound(_))
    ));

    // Bigger than one PUT: a multipart upload with parallel parts.
    let work = tempfile::tempdir().unwrap();
    let big = pattern(17 * 1024 * 1024 + 123, 9);
    let src = work.path().join("big");
    std::fs::write(&src, &big).unwrap();
    assert_eq!(store.put_file("sources/acme/big/source", &src).await.unwrap(), big.len() as u64);
    assert!(!src.exists(), "put_file moves the file");
    let out = work.path().join("back");
    store.fetch_to("sources/acme/big/source", &out).await.unwrap();
    assert!(std::fs::read(&out).unwrap() == big, "the big file comes back byte for byte");
}

#[tokio::test]
async fn a_presigned_url_serves_the_bytes_to_a_plain_client_and_carries_its_lifetime() {
    let (nats, sw) = (NatsServer::start(), SeaweedFs::start().await);
    let store = open(&nats, &sw.settings("presign")).await.unwrap();
    let data = pattern(4096, 5);
    store.put_bytes("hls/acme/p/seg.ts", Bytes::from(data.clone())).await.unwrap();
    let url = store.presigned_get("hls/acme/p/seg.ts", Duration::from_secs(600)).await;
    let url = url.unwrap().expect("S3 presigns");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let http = framelog_tests::app::http_client();
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(&res.bytes().await.unwrap()[..], &data[..]);

    // The lifetime is signed into the URL. SeaweedFS without S3 auth configured accepts any
    // signature, expired ones too, so the refusal itself is not checked here.
    assert!(url.contains("X-Amz-Expires=600"), "{url}");
    let short = store.presigned_get("hls/acme/p/seg.ts", Duration::from_secs(1)).await;
    assert!(short.unwrap().unwrap().contains("X-Amz-Expires=1&"), "the ttl is the one asked for");
}

#[tokio::test]
async fn a_missing_bucket_is_refused_at_start_unless_it_may_be_created() {
    let (nats, sw) = (NatsServer::start(), SeaweedFs::start().await);
    let mut settings = sw.settings("absent");
    settings.create_bucket = false;
    let err = open(&nats, &settings).await.unwrap_err().to_string();
    assert!(err.contains("does not exist") && err.contains("--s3-create-bucket"), "{err}");
    settings.create_bucket = true;
    let store = open(&nats, &settings).await.unwrap();
    store.put_bytes("a/b", Bytes::from_static(b"x")).await.unwrap();
    settings.create_bucket = false;
    open(&nats, &settings).await.expect("the bucket exists now");
}

#[tokio::test]
async fn a_stopped_store_is_unavailable_within_seconds_and_works_again_after_restart() {
    let (nats, mut sw) = (NatsServer::start(), SeaweedFs::start().await);
    let store = open(&nats, &sw.settings("outage")).await.unwrap();
    store.put_bytes("hls/acme/o/a", Bytes::from_static(b"before")).await.unwrap();
    sw.stop();
    let t = Instant::now();
    let err = store.get_bytes("hls/acme/o/a").await.unwrap_err();
    let took = t.elapsed();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(took < Duration::from_secs(8), "reported in {took:?}");
    let err = store.put_bytes("hls/acme/o/b", Bytes::from_static(b"x")).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");

    sw.restart().await;
    assert_eq!(&store.get_bytes("hls/acme/o/a").await.unwrap()[..], b"before");
    store.put_bytes("hls/acme/o/b", Bytes::from_static(b"after")).await.unwrap();
}

/// With S3 authentication on, SeaweedFS checks every SigV4 signature object_store makes (so
/// the region, path style and credentials are really right), refuses unsigned and wrongly
/// signed requests, and refuses a presigned URL once it has expired.
#[tokio::test]
async fn with_s3_auth_signatures_are_checked_and_presigned_urls_expire() {
    let (nats, sw) = (NatsServer::start(), SeaweedFs::start_with_auth().await);
    let store = open(&nats, &sw.settings("signed")).await.expect("signed bucket creation");
    let data = pattern(S3_MIN_PART as usize + 10, 9);
    let mp = store.multipart().unwrap();
    let up = mp.create_multipart("sources/acme/s/source").await.unwrap();
    let e0 = mp
        .put_part(
            "sources/acme/s/source",
            &up,
            0,
            Bytes::from(data[..S3_MIN_PART as usize].to_vec()),
        )
        .await
        .unwrap();
    let e1 = mp
        .put_part(
            "sources/acme/s/source",
            &up,
            1,
            Bytes::from(data[S3_MIN_PART as usize..].to_vec()),
        )
        .await
        .unwrap();
    mp.complete_multipart("sources/acme/s/source", &up, vec![e0, e1]).await.unwrap();
    assert_eq!(&store.get_bytes("sources/acme/s/source").await.unwrap()[..], &data[..]);
    assert_eq!(store.get_range("sources/acme/s/source", 5..9).await.unwrap(), &data[5..9]);

    let http = framelog_tests::app::http_client();
    let plain = format!("{}/signed/sources/acme/s/source", sw.endpoint());
    assert_eq!(http.get(&plain).send().await.unwrap().status(), 403, "unsigned is refused");

    let url = store.presigned_get("sources/acme/s/source", Duration::from_secs(2)).await;
    let url = url.unwrap().unwrap();
    let res = http.get(&url).header("range", "bytes=0-99").send().await.unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(&res.bytes().await.unwrap()[..], &data[..100]);
    let tampered = url.replace("sources/acme/s/source", "sources/acme/s/other");
    assert_eq!(http.get(&tampered).send().await.unwrap().status(), 403, "signed for one key");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 403, "an expired URL is refused");

    let mut wrong = sw.settings("signed");
    wrong.secret_access_key = Some("not-the-secret".into());
    let bad = open(&nats, &wrong).await;
    let refused = match bad {
        Err(e) => !e.is_unavailable(),
        Ok(s) => {
            s.put_bytes("a/b", Bytes::from_static(b"x")).await.is_err_and(|e| !e.is_unavailable())
        }
    };
    assert!(refused, "wrong credentials are refused, and not reported as an outage");
}
