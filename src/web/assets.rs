//! The UI's static files, embedded in the binary (no build step, nothing to install).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (name, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "worklist.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/worklist.js"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/login.js"),
    ),
    (
        "film.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/film.js"),
    ),
];

/// The pages: HTML shells that load their script.
pub const LOGIN_HTML: &str = include_str!("assets/login.html");
pub const WORKLIST_HTML: &str = include_str!("assets/worklist.html");
pub const FILM_HTML: &str = include_str!("assets/film.html");

pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ctype, body)) => ([(header::CONTENT_TYPE, *ctype)], *body).into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
