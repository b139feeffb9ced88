//! The OpenAPI document against the real `framelog serve`: a third-party validator accepts it,
//! every operation it lists is served (a request to it is answered by a handler, not by the
//! router's `route_not_found` fallback nor a 405), no route is registered outside the
//! `routes!` lists the document comes from, and every operation documents its errors in the
//! one error shape (a 401 wherever it takes an API key).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use framelog_tests::NatsServer;
use framelog_tests::tools::workspace_root;
use serde_json::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// `.route(`-like calls allowed outside `routes!`, with the reason.
const ALLOWED: [(&str, &str); 2] = [
    (
        "services/core/src/metrics.rs",
        "a unit test of the metrics layer's route label on a bare axum router; serves nothing",
    ),
    (
        "services/ingest/src/direct_gate.rs",
        "the direct-upload gate: one `any` route handing requests to the tus/REST handlers; its \
         operations are documented by `direct_gate::openapi()`",
    ),
];

async fn document(base: &str) -> Value {
    let res = reqwest::get(format!("{base}/v1/openapi.json")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    res.json().await.unwrap()
}

/// Every (method, path) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                ops.push((m.to_owned(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

/// The path with every `{param}` filled with a dummy value.
fn filled(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("closed template") + start;
        out.push_str(&rest[..start]);
        out.push_str(if &rest[start + 1..end] == "path" {
            "master.m3u8"
        } else {
            "zz_openapi_probe"
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn validate_with_openapi_spec_validator(doc: &Value, dir: &Path) {
    let file = dir.join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    let python = workspace_root().join(".tools/venv/bin/python");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate\n\
             validate(json.load(open(sys.argv[1])))\nprint('valid')",
        ])
        .arg(&file)
        .output()
        .expect("run deploy/bootstrap.sh (openapi-spec-validator in .tools/venv)");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("valid"),
        "openapi-spec-validator refused the document: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether an answer is the router's own: the `route_not_found` fallback or a 405.
async fn router_answer(res: reqwest::Response, head: bool) -> Option<String> {
    let status = res.status().as_u16();
    if status == 405 {
        return Some("405".into());
    }
    if head {
        // No body to read a code from: the caller asks the same path with GET.
        return (status == 404).then(|| "404 to HEAD".into());
    }
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status == 404 && body["error"]["code"] == "route_not_found").then(|| "route_not_found".into())
}

#[tokio::test]
async fn every_operation_of_the_document_is_served_validated_and_documents_its_errors() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &[]);
    let doc = document(&served.base).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Framelog");
    assert_eq!(doc["info"]["license"]["name"], "Apache-2.0");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    // a) A third-party validator accepts it.
    let work = tempfile::tempdir().unwrap();
    validate_with_openapi_spec_validator(&doc, work.path());

    // b) Every operation is answered by a handler.
    let ops = operations(&doc);
    assert!(ops.len() >= 35, "{} operations", ops.len());
    let http = reqwest::Client::new();
    let mut unserved = Vec::new();
    for (method, path, _) in &ops {
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let url = format!("{}{}", served.base, filled(path));
        let res = http.request(m, &url).send().await.unwrap();
        let mut answer = router_answer(res, method == "head").await;
        if answer.is_some() && method == "head" {
            // A 404 to HEAD has no body: the router's own 404 is `route_not_found` to GET too
            // (a path served for HEAD only answers GET with 405 or a handler's answer).
            answer = router_answer(http.get(&url).send().await.unwrap(), false)
                .await
                .filter(|why| why == "route_not_found");
        }
        if let Some(why) = answer {
            unserved.push(format!("{} {path}: {why}", method.to_uppercase()));
        }
    }
    assert!(unserved.is_empty(), "listed but not served: {unserved:#?}");
    // The check can fail: a path the document lacks gets the router's answer.
    let res = http.get(format!("{}/v1/openapi-probe-nothing-here", served.base)).send().await;
    assert_eq!(router_answer(res.unwrap(), false).await.as_deref(), Some("route_not_found"));
    let res = http.patch(format!("{}/v1/openapi.json", served.base)).send().await.unwrap();
    assert_eq!(router_answer(res, false).await.as_deref(), Some("405"));

    // d) Errors are documented in the one shape; API-key routes list their 401.
    let error_ref = "#/components/schemas/ErrorBody";
    let mut missing = Vec::new();
    for (method, path, op) in &ops {
        let responses = op["responses"].as_object().expect("responses");
        let op_name = format!("{} {path}", method.to_uppercase());
        if op.get("security").is_some() && !responses.contains_key("401") {
            missing.push(format!("{op_name}: secured without a 401"));
        }
        let typed_error = responses.iter().any(|(status, r)| {
            status.as_str() >= "400"
                && r["content"]["application/json"]["schema"]["$ref"] == error_ref
        });
        if !typed_error {
            missing.push(format!("{op_name}: no error response with {error_ref}"));
        }
        let tags: Vec<&str> =
            op["tags"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        assert_eq!(tags.len(), 1, "{op_name}: one tag, the service area");
    }
    assert!(missing.is_empty(), "{missing:#?}");
    // What takes an API key says so; what must not, does not.
    let secured = |m: &str, p: &str| {
        ops.iter()
            .find(|(om, op, _)| om == m && op == p)
            .map(|(_, _, o)| o.get("security").is_some())
    };
    assert_eq!(secured("post", "/v1/videos/upload"), Some(true));
    assert_eq!(secured("get", "/v1/videos"), Some(true));
    assert_eq!(secured("post", "/v1/videos"), Some(true));
    assert_eq!(secured("delete", "/v1/api-keys/{id}"), Some(true));
    assert_eq!(secured("post", "/v1/webhooks/{id}/secret/rotate"), Some(true));
    for (m, p) in [
        ("get", "/healthz"),
        ("post", "/v1/views"),
        ("post", "/v1/hooks/mediamtx/auth"),
        ("get", "/hls/{token}/{video_id}/{path}"),
        ("get", "/v1/openapi.json"),
    ] {
        assert_eq!(secured(m, p), Some(false), "{m} {p}");
    }
}

#[tokio::test]
async fn serve_only_documents_the_services_it_runs() {
    let nats = NatsServer::start();
    let served = serve(&nats.url(), &["--only", "playback"]);
    let doc = document(&served.base).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v1/views") && paths.contains_key("/healthz"), "{paths:?}");
    assert!(!paths.contains_key("/v1/videos/upload"), "ingest is not running here");
    assert!(!paths.contains_key("/v1/streams"), "live is not running here");
}

/// Every `*.rs` under `services/*/src`.
fn service_sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for svc in std::fs::read_dir(workspace_root().join("services")).unwrap().map(Result::unwrap) {
        let src = svc.path().join("src");
        if src.is_dir() {
            walk(&src, &mut out);
        }
    }
    out
}

#[test]
fn no_route_is_registered_outside_the_lists_the_document_comes_from() {
    let root = workspace_root();
    let sources = service_sources();
    assert!(sources.len() > 50, "found {} sources", sources.len());
    let mut found = Vec::new();
    for file in sources {
        let rel = file.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        if ALLOWED.iter().any(|(p, _)| *p == rel) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            if [".route(", ".route_service(", ".nest_service("].iter().any(|c| line.contains(c)) {
                found.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "register routes with utoipa_axum `routes!` so the OpenAPI document lists them \
         (or allow-list with a reason): {found:#?}"
    );
    // The allow-list names files that still need it.
    for (p, why) in ALLOWED {
        let text = std::fs::read_to_string(root.join(p)).unwrap();
        assert!(text.contains(".route("), "{p} no longer needs its exception ({why})");
    }
}

#[test]
fn dummy_ids_fill_every_template() {
    assert_eq!(filled("/v1/videos/{id}"), "/v1/videos/zz_openapi_probe");
    assert_eq!(
        filled("/hls/{token}/{video_id}/{path}"),
        "/hls/zz_openapi_probe/zz_openapi_probe/master.m3u8"
    );
}
