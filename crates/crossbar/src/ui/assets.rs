//! The dashboard's own script and stylesheet, embedded in the binary and served under a
//! content-hashed name with a year-long cache (a new build changes the name).

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const JS: &str = include_str!("assets/dash.js");
const CSS: &str = include_str!("assets/dash.css");

fn named(stem: &str, ext: &str, body: &str) -> String {
    let h = hex::encode(Sha256::digest(body.as_bytes()));
    format!("{stem}-{}.{ext}", &h[..12])
}

static JS_NAME: LazyLock<String> = LazyLock::new(|| named("dash", "js", JS));
static CSS_NAME: LazyLock<String> = LazyLock::new(|| named("dash", "css", CSS));

pub fn js_path() -> String {
    format!("/ui/assets/{}", *JS_NAME)
}

pub fn css_path() -> String {
    format!("/ui/assets/{}", *CSS_NAME)
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, kind) = if file == *JS_NAME {
        (JS, "text/javascript; charset=utf-8")
    } else if file == *CSS_NAME {
        (CSS, "text/css; charset=utf-8")
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    r
}
