//! The JetStream collector against a real server: a durable's backlog shows as
//! `framelog_consumer_pending`, a stream's limit and use as bytes gauges, ephemeral consumers
//! are left out, and a deleted durable's series disappear on the next pass (so a removed
//! consumer cannot keep a lag alert firing).

use async_nats::jetstream::{self, consumer::pull, stream};
use framelog_core::jetstream_metrics::JetStreamGauges;
use framelog_core::metrics::Metrics;
use framelog_tests::NatsServer;

#[tokio::test]
async fn a_durables_backlog_is_exported_and_its_series_go_when_it_is_deleted() {
    let nats = NatsServer::start();
    let js = jetstream::new(nats.client().await);
    let s = js
        .create_stream(stream::Config {
            name: "LAG".into(),
            subjects: vec!["lag.>".into()],
            max_bytes: 1 << 20,
            ..Default::default()
        })
        .await
        .unwrap();
    s.create_consumer(pull::Config { durable_name: Some("slow".into()), ..Default::default() })
        .await
        .unwrap();
    s.create_consumer(pull::Config::default()).await.unwrap(); // ephemeral
    for i in 0..7 {
        js.publish(format!("lag.{i}"), "x".into()).await.unwrap().await.unwrap();
    }
    let metrics = Metrics::new();
    let gauges = JetStreamGauges::registered(&metrics);
    gauges.collect(&js).await.unwrap();
    let text = metrics.render();
    assert!(
        text.contains(r#"framelog_consumer_pending{stream="LAG",consumer="slow"} 7"#),
        "{text}"
    );
    assert!(text.contains(r#"framelog_jetstream_stream_max_bytes{stream="LAG"} 1048576"#));
    assert!(text.contains(r#"framelog_jetstream_stream_messages{stream="LAG"} 7"#));
    let pending = text.lines().filter(|l| l.starts_with("framelog_consumer_pending{")).count();
    assert_eq!(pending, 1, "only the durable is exported: {text}");

    s.delete_consumer("slow").await.unwrap();
    gauges.collect(&js).await.unwrap();
    let text = metrics.render();
    assert!(!text.contains(r#"consumer="slow""#), "{text}");
    assert!(text.contains(r#"framelog_jetstream_stream_bytes{stream="LAG"}"#));
}
