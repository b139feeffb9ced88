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
    // The key's record under its hash, and the tenant's key index (api_keys.rs).
    all.sort();
    assert_eq!(all, vec![framelog_core::tenants::hash_key(&key), "t.initech".to_owned()]);
    assert!(!all.iter().any(|k| k.contains(&key)));
    for k in &all {
        let v = kv.get(k).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&v).contains(&key), "{k} holds the clear key");
    }
}

#[tokio::test]
async fn a_key_stored_before_scopes_existed_still_resolves_as_admin() {
    let nats = NatsServer::start();
    let (p, _dir) = platform(&nats).await;
    let id = TenantId::new("legacy").unwrap();
    p.tenants.create(&id).await.unwrap();
    // The record shape of keys issued before scopes: tenant and created_at only.
    let old_key = "flk_an-old-key-from-before-scopes";
    let kv = p.js.get_key_value(framelog_core::nats::KV_API_KEYS).await.unwrap();
    let old = br#"{"tenant":"legacy","created_at":"2026-01-01T00:00:00Z"}"#;
    kv.put(framelog_core::tenants::hash_key(old_key), old.to_vec().into()).await.unwrap();
    let who = p.tenants.resolve_principal(old_key).await.unwrap().unwrap();
    assert_eq!(who.tenant, id);
    assert_eq!(who.key_id, None);
    assert_eq!(who.scopes, framelog_core::scopes::ScopeSet::admin());

    // The next start indexes it (once, however many replicas start): listed, then revocable.
    assert_eq!(p.tenants.index_legacy_keys().await.unwrap(), 1);
    assert_eq!(p.tenants.index_legacy_keys().await.unwrap(), 0);
    let listed = p.tenants.list_keys(&id).await.unwrap();
    let old_info = listed
        .iter()
        .find(|k| k.name == framelog_core::api_keys_legacy::LEGACY_KEY_NAME)
        .expect("the older key is listed");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(old_info.scopes, framelog_core::scopes::ScopeSet::admin());
    let who = p.tenants.resolve_principal(old_key).await.unwrap().unwrap();
    assert_eq!(who.key_id.as_deref(), Some(old_info.id.as_str()));
    assert!(p.tenants.revoke_key(&id, &old_info.id).await.unwrap());
    assert!(p.tenants.resolve_principal(old_key).await.unwrap().is_none());
}
