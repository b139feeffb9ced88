//! The web UI: static files from the built app (`web/dist`), with the single-page-app rule that
//! any other GET outside the API answers `index.html`. API paths (`/v1/...`, `/hls/...`,
//! `/live/...`) never fall back to the UI: an unknown one answers the JSON 404.

use std::path::PathBuf;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use framelog_core::ApiError;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// Where the built UI is, if anywhere.
#[derive(Clone, Debug)]
pub struct WebDir(pub Option<PathBuf>);

const API_PREFIXES: [&str; 6] = ["/v1/", "/hls/", "/live/", "/healthz", "/readyz", "/metrics"];

/// The router fallback: the UI for GET/HEAD outside the API, JSON errors otherwise.
pub async fn fallback(web: WebDir, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if path == "/v1" || API_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return ApiError::route_not_found().into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return framelog_core::error::method_not_allowed().await.into_response();
    }
    let Some(dir) = web.0 else {
        if path == "/" {
            return axum::Json(serde_json::json!({
                "name": "framelog",
                "ui": "not built: run `npm --prefix web ci && npm --prefix web run build` (or set FRAMELOG_WEB_DIR)",
                "api": "/v1/",
            }))
            .into_response();
        }
        return ApiError::route_not_found().into_response();
    };
    let index = dir.join("index.html");
    let svc = ServeDir::new(&dir).fallback(ServeFile::new(index));
    let mut res = match svc.oneshot(req).await {
        Ok(r) => r.into_response(),
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    // Vite puts content-hashed files under /assets/: cache them forever; everything else
    // (index.html) must be revalidated so a new release is picked up.
    let cache = if path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

/// The web dir from the setting, if it holds a built app.
pub fn resolve(setting: &std::path::Path) -> WebDir {
    WebDir(setting.join("index.html").is_file().then(|| setting.to_path_buf()))
}
