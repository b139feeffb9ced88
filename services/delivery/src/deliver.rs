//! One HTTP attempt of a delivery: signed per Standard Webhooks, through the outbound fence
//! (`framelog_core::outbound`: address policy after DNS, no redirects, no proxy), 15 s for
//! the whole request, the response body read to at most 64 KiB. 2xx is success, 410 disables
//! the endpoint, anything else (3xx included: redirects are not followed) is a failure.

use std::time::{Duration, Instant};

use framelog_core::outbound::{self, OutboundPolicy, OutboundTimeouts};
use time::OffsetDateTime;

use crate::queue::DeliveryJob;
use crate::sign;

/// Whole-request timeout of an attempt.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// Most response bytes read.
pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// The client attempts use.
pub fn client(policy: OutboundPolicy) -> reqwest::Client {
    outbound::client(
        policy,
        OutboundTimeouts { connect: Duration::from_secs(5), total: Some(TIMEOUT), read: TIMEOUT },
    )
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    Gone,
    Failure,
}

/// What an attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub response_status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
}

/// The verdict of an HTTP status (pure).
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        410 => Verdict::Gone,
        _ => Verdict::Failure,
    }
}

/// The three Standard Webhooks headers of `job` sent at `now`, signed by every secret.
pub fn headers(
    job: &DeliveryJob,
    secrets: &[&str],
    now: OffsetDateTime,
) -> [(&'static str, String); 3] {
    let ts = now.unix_timestamp();
    [
        ("webhook-id", job.webhook_id.clone()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sign::header(secrets, &job.webhook_id, ts, job.body.as_bytes())),
    ]
}

/// Sends `job` to `url` once.
pub async fn attempt(
    client: &reqwest::Client,
    policy: OutboundPolicy,
    url: &str,
    job: &DeliveryJob,
    secrets: &[&str],
) -> Outcome {
    let started = Instant::now();
    let fail = |error: String, status: Option<u16>| Outcome {
        verdict: Verdict::Failure,
        response_status: status,
        latency: started.elapsed(),
        error: Some(error),
    };
    let url = match outbound::check_url(url, policy) {
        Ok(u) => u,
        Err(e) => return fail(e.to_string(), None),
    };
    let mut req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(job.body.clone());
    for (k, v) in headers(job, secrets, OffsetDateTime::now_utc()) {
        req = req.header(k, v);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return fail(outbound::transport(&e).to_string(), None),
    };
    let status = resp.status().as_u16();
    // Drain (bounded) so the connection can be reused; the body is not kept.
    let body_err = outbound::read_limited(resp, MAX_RESPONSE_BYTES).await.err();
    let v = verdict(status);
    Outcome {
        verdict: v,
        response_status: Some(status),
        latency: started.elapsed(),
        error: match (v, body_err) {
            (Verdict::Failure, _) => Some(format!("the endpoint answered {status}")),
            (_, Some(e)) => Some(format!("response body: {e}")),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_hundreds_succeed_410_disables_and_the_rest_fail() {
        assert_eq!(verdict(200), Verdict::Success);
        assert_eq!(verdict(204), Verdict::Success);
        assert_eq!(verdict(410), Verdict::Gone);
        for s in [301, 302, 400, 404, 429, 500, 503] {
            assert_eq!(verdict(s), Verdict::Failure, "{s}");
        }
    }
}
