//! The SeaweedFS test guard itself: it answers S3, keeps its data across a restart on the same
//! port, and refuses connections while stopped.

use framelog_tests::SeaweedFs;

#[tokio::test]
async fn seaweedfs_answers_s3_and_keeps_objects_across_a_restart() {
    let mut sw = SeaweedFs::start().await;
    let http = framelog_tests::app::http_client();
    let bucket = format!("{}/guard", sw.endpoint());
    let made = http.put(&bucket).send().await.expect("create bucket");
    assert!(made.status().is_success(), "create bucket: {}", made.status());
    let put = http.put(format!("{bucket}/k")).body("hello").send().await.expect("put");
    assert!(put.status().is_success(), "put: {}", put.status());

    let port = sw.s3_port();
    sw.stop();
    assert!(sw.pid().is_none());
    assert!(
        http.get(format!("{bucket}/k")).send().await.is_err(),
        "a stopped server must refuse connections"
    );

    sw.restart().await;
    assert_eq!(sw.s3_port(), port, "restart keeps the port");
    let got = http.get(format!("{bucket}/k")).send().await.expect("get after restart");
    assert!(got.status().is_success(), "get: {}", got.status());
    assert_eq!(got.text().await.unwrap(), "hello");

    let args = sw.args("b");
    assert!(args.windows(2).any(|w| w == ["--s3-endpoint", &sw.endpoint()]), "{args:?}");
    assert_eq!(sw.settings("b").bucket.as_deref(), Some("b"));
}
