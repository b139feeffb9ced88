//! W3C trace context carried in NATS headers: a consumer's span continues the publisher's trace.

use std::time::Duration;

use framelog_core::consumer::{ConsumerSpec, EventConsumer};
use framelog_core::nats::STREAM_VID;
use framelog_core::telemetry;
use framelog_events::{AggregateId, Event, TenantId, UploadData};
use framelog_tests::{NatsServer, platform};
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(flavor = "current_thread")]
async fn a_consumer_span_has_the_publisher_trace_id_after_a_real_nats_hop() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;

    let publish_span = tracing::info_span!("upload_request");
    let publisher_trace = telemetry::trace_id(&publish_span).expect("the publisher is traced");
    let event = Event::new(
        uuid::Uuid::now_v7(),
        time::OffsetDateTime::now_utc(),
        "framelog/test",
        TenantId::new("acme").unwrap(),
        AggregateId::new("vid_t").unwrap(),
        UploadData::Aborted { upload_id: "up_1".into() },
    );
    {
        use tracing::Instrument;
        p.events.publish(&event).instrument(publish_span.clone()).await.unwrap();
    }

    // A different, unrelated span is current while consuming.
    let other = tracing::info_span!("worker_loop");
    let _e = other.enter();
    let other_trace = telemetry::trace_id(&other).unwrap();
    assert_ne!(other_trace, publisher_trace);

    let spec = ConsumerSpec::new(STREAM_VID, "trace-test", vec!["vid.>".into()]);
    let mut c = EventConsumer::bind(&p.js, spec).await.unwrap();
    let d = c.next(Duration::from_secs(5)).await.unwrap().expect("delivery");
    assert_eq!(telemetry::trace_id(&d.span).as_deref(), Some(publisher_trace.as_str()));
}
