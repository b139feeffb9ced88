//! The scope table against the real routers: for every row of
//! `framelog_core::scopes::ROUTE_SCOPES`, the full `framelog serve` app, asked with a key that
//! lacks the row's scope, answers 403 `insufficient_scope`. A mistyped pattern (or method)
//! would reach no route (404/405) or fall to `admin`, and fail here.

mod common;

use common::*;
use framelog_core::scopes::{ANY_METHOD, ROUTE_SCOPES, Scope};
use framelog_tests::NatsServer;
use reqwest::Method;
use serde_json::{Value, json};

/// Rows of the table whose routes are not served yet (a route landing in steps). Empty now; a
/// row listed here that the app already serves fails the test, so the list cannot go stale.
const PENDING_ROUTES: &[(&str, &str)] = &[];

/// A concrete path for a pattern: every `{param}` becomes a valid id (`0` for chunk numbers).
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| match seg {
            "{n}" => "0".to_owned(),
            s if s.starts_with('{') => "abc".to_owned(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_row_of_the_scope_table_is_a_real_route_refused_without_its_scope() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &[]);
    let admin = tenant(&nats.url(), "acme");
    let http = reqwest::Client::new();
    let mut keys = std::collections::HashMap::new();
    for scope in ["billing:read", "videos:read"] {
        let v: Value = http
            .post(format!("{}/v1/api-keys", served.base))
            .bearer_auth(&admin)
            .json(&json!({"name": scope, "scopes": [scope]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        keys.insert(scope, v["key"].as_str().unwrap().to_owned());
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, pattern, scope) in ROUTE_SCOPES {
        let pending = PENDING_ROUTES.contains(&(*method, *pattern));
        let key =
            if *scope == Scope::BillingRead { &keys["videos:read"] } else { &keys["billing:read"] };
        let m = match *method {
            ANY_METHOD if pattern.ends_with('}') => Method::PATCH,
            ANY_METHOD => Method::POST,
            m => Method::from_bytes(m.as_bytes()).unwrap(),
        };
        let r = http
            .request(m.clone(), format!("{}{}", served.base, concrete(pattern)))
            .bearer_auth(key)
            .header("tus-resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let refused = status == 403 && body["error"]["code"] == "insufficient_scope";
        match (pending, refused) {
            (false, false) => failures.push(format!("{m} {pattern} ({scope}): {status} {body}")),
            (true, true) => {
                failures.push(format!("{m} {pattern} is served now: leave PENDING_ROUTES"))
            }
            (true, false) => {}
            (false, true) => checked += 1,
        }
    }
    assert!(failures.is_empty(), "scope table rows not enforced:\n{}", failures.join("\n"));
    println!("{checked} rows enforced, {} pending", PENDING_ROUTES.len());
    assert_eq!(checked + PENDING_ROUTES.len(), ROUTE_SCOPES.len());
}
