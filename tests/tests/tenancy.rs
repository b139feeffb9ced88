//! Tenant auth: the extractor's 401/403 and the one JSON error shape.

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use framelog_core::tenants::{Tenant, TenantStore};
use framelog_events::TenantId;
use framelog_tests::{NatsServer, TestApp, platform};

#[derive(Clone)]
struct S {
    tenants: TenantStore,
}

impl FromRef<S> for TenantStore {
    fn from_ref(s: &S) -> TenantStore {
        s.tenants.clone()
    }
}

async fn whoami(Tenant(t): Tenant) -> String {
    t.to_string()
}

async fn app() -> (TestApp, String, String, NatsServer, tempfile::TempDir) {
    let nats = NatsServer::start();
    let (p, dir) = platform(&nats).await;
    let acme = p.tenants.create(&TenantId::new("acme").unwrap()).await.unwrap();
    let globex = p.tenants.create(&TenantId::new("globex").unwrap()).await.unwrap();
    let router =
        Router::new().route("/whoami", get(whoami)).with_state(S { tenants: p.tenants.clone() });
    (TestApp::serve(router).await, acme, globex, nats, dir)
}

async fn error_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.expect("a JSON error body");
    let code = body["error"]["code"].as_str().expect("error.code").to_owned();
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    (status, code)
}

#[tokio::test]
async fn a_valid_key_resolves_to_its_tenant() {
    let (app, acme, globex, _n, _d) = app().await;
    assert_eq!(app.get("/whoami", Some(&acme)).await.text().await.unwrap(), "acme");
    assert_eq!(app.get("/whoami", Some(&globex)).await.text().await.unwrap(), "globex");
}

#[tokio::test]
async fn a_missing_malformed_or_unknown_key_is_401_with_the_json_shape() {
    let (app, _acme, _g, _n, _d) = app().await;
    assert_eq!(error_code(app.get("/whoami", None).await).await, (401, "unauthorized".into()));
    let basic =
        app.http.get(app.url("/whoami")).header("authorization", "Basic abc").send().await.unwrap();
    assert_eq!(error_code(basic).await.0, 401);
    let unknown = app.get("/whoami", Some("flk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(error_code(unknown).await.0, 401);
    let junk = app.get("/whoami", Some("no-prefix")).await;
    assert_eq!(error_code(junk).await.0, 401);
}

#[tokio::test]
async fn an_x_tenant_id_that_does_not_match_the_key_is_403() {
    let (app, acme, _g, _n, _d) = app().await;
    let res = app
        .http
        .get(app.url("/whoami"))
        .bearer_auth(&acme)
        .header("x-tenant-id", "globex")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (403, "forbidden".into()));
    let ok = app
        .http
        .get(app.url("/whoami"))
        .bearer_auth(&acme)
        .header("x-tenant-id", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn the_full_app_answers_unknown_routes_with_the_json_error_shape() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let app = TestApp::serve(framelog::serve::app(&p)).await;
    assert_eq!(error_code(app.get("/v1/nope", None).await).await, (404, "route_not_found".into()));
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    assert_eq!(app.get("/readyz", None).await.status(), 200);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains("framelog_http_requests_total"), "{metrics}");
}

#[tokio::test]
async fn a_tenant_created_twice_is_refused_and_keys_are_stored_hashed() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let id = TenantId::new("initech").unwrap();
    let key = p.tenants.create(&id).await.unwrap();
    assert!(p.tenants.create(&id).await.is_err());
    // The clear key appears nowhere in the key bucket; its hash does.
    let kv = p.js.get_key_value(framelog_core::nats::KV_API_KEYS).await.unwrap();
    let mut keys = kv.keys().await.unwrap();
    use futures::StreamExt;
    let mut all = Vec::new();
    while let Some(k) = keys.next().await {
        all.push(k.unwrap());
    }
    assert_eq!(all, vec![framelog_core::tenants::hash_key(&key)]);
    assert!(!all.iter().any(|k| k.contains(&key)));
}
