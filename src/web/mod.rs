//! The node's HTTP side: the review UI (worklist, film page, annotation API), `/healthz`
//! and `/metrics`, on axum.
//!
//! Everything but `/healthz`, `/metrics`, the login page and the static assets needs a
//! login ([`auth`]); every change also needs the session's CSRF token in `X-CSRF-Token`.
//! URLs name films by their key, never by patient data. Served over HTTPS when
//! `review.tls.enabled`, else plain HTTP (meant for loopback).

pub mod api;
pub mod assets;
pub mod audit;
pub mod auth;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use snafu::{ResultExt, Snafu};
use tokio::net::TcpListener;
use tracing::{debug, warn};

use crate::config::Config;
use crate::node::Node;
use audit::Audit;
use auth::{Session, Sessions, Users};

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not set up HTTPS (review.tls)"))]
    Tls { source: crate::node::tls::Error },
}

/// The review UI's own state: accounts, sessions, audit log and HTTPS set-up.
pub struct Web {
    pub users: Users,
    pub sessions: Sessions,
    pub audit: Audit,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Pixel buffers of the last films opened (decoding a film takes a while).
    pixels: std::sync::Mutex<std::collections::VecDeque<(String, Arc<api::Pixels>)>>,
}

impl Web {
    pub fn new(config: &Config, data_dir: &std::path::Path) -> Result<Web, Error> {
        let t = &config.review.tls;
        let tls = if t.enabled {
            Some(crate::node::tls::https_config(&t.certificate, &t.private_key).context(TlsSnafu)?)
        } else {
            None
        };
        Ok(Web {
            users: Users::new(data_dir),
            sessions: Sessions::new(Duration::from_secs(config.review.session_hours * 3600)),
            audit: Audit::new(data_dir),
            tls,
            pixels: std::sync::Mutex::new(std::collections::VecDeque::new()),
        })
    }

    /// Cookies get `Secure` over HTTPS.
    fn secure(&self) -> bool {
        self.tls.is_some()
    }
}

/// Router state.
pub struct App {
    pub node: Arc<Node>,
    pub web: Web,
}

type AppState = Arc<App>;

/// The router: pages, assets, API, health and metrics.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/login", get(api::login_page).post(api::login))
        .route("/logout", post(api::logout))
        .route("/", get(api::worklist_page))
        .route("/films/{id}", get(api::film_page))
        .route("/assets/{name}", get(assets::asset))
        .route("/api/me", get(api::me))
        .route("/api/films", get(api::films))
        .route("/api/films/{id}", get(api::film))
        .route("/api/films/{id}/pixels", get(api::pixels))
        .route("/api/films/{id}/annotation", put(api::save))
        .route("/api/films/{id}/sign-off", post(api::sign_off))
        .route("/api/audit", get(api::audit_log))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

/// Headers for every answer: nothing is cached (films are patient data), nothing is
/// framed, scripts come from this origin only.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(h, header::CACHE_CONTROL, "no-store");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    // same-origin, not no-referrer: with no-referrer the browser sends `Origin: null` on
    // the login form, which the same-origin check must refuse.
    set(h, header::REFERRER_POLICY, "same-origin");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; \
         connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
    );
    res
}

async fn healthz(State(app): State<AppState>) -> Response {
    if app.node.healthy() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response()
    }
}

async fn metrics(State(app): State<AppState>) -> Response {
    let (inbox, outbox) = app.node.spool.depth();
    (
        [(header::CONTENT_TYPE, crate::node::metrics::CONTENT_TYPE)],
        app.node.metrics.render(inbox, outbox),
    )
        .into_response()
}

/// An error answer of the API: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn session_of(app: &App, parts: &Parts) -> Option<(String, Session)> {
    let cookies = parts.headers.get(header::COOKIE)?.to_str().ok()?;
    let token = auth::cookie(cookies, auth::COOKIE)?;
    let s = app.web.sessions.get(token)?;
    // The accounts file is small; reading it per request lets `rajoints users passwd` or
    // `remove` on the command line end the running sessions of that account.
    if !app
        .web
        .users
        .load()
        .is_ok_and(|users| s.still_valid(&users))
    {
        app.web.sessions.end(token);
        return None;
    }
    Some((token.to_string(), s))
}

/// A logged-in user reading through the API (401 otherwise).
pub struct Viewer(pub Session);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        session_of(app, parts)
            .map(|(_, s)| Viewer(s))
            .ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "login required".into()))
    }
}

/// A logged-in user opening a page (redirected to the login page otherwise).
pub struct PageUser(pub Session);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Redirect;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Redirect> {
        session_of(app, parts)
            .map(|(_, s)| PageUser(s))
            .ok_or_else(|| Redirect::to("/login"))
    }
}

/// A logged-in user making a change: the request must carry the session's CSRF token in
/// `X-CSRF-Token` (403 otherwise). A page of another site can send the cookie (not with
/// SameSite=Strict in current browsers) but cannot read the token.
pub struct Changer {
    pub session: Session,
    pub token: String,
}

impl FromRequestParts<AppState> for Changer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let (token, session) = session_of(app, parts)
            .ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "login required".into()))?;
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !auth::same_token(sent, &session.csrf) {
            warn!(user = %session.user, "change refused: missing or wrong CSRF token");
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token".into(),
            ));
        }
        Ok(Changer { session, token })
    }
}

/// Serves until the node stops: plain HTTP, or HTTPS with `review.tls`.
pub async fn serve(node: Arc<Node>, web: Web, listener: TcpListener) {
    if node.review.is_some() && web.users.load().is_ok_and(|u| u.is_empty()) {
        warn!("review UI: no accounts yet; add one with `rajoints users add NAME --role reviewer`");
    }
    let tls = web.tls.clone();
    let app = Arc::new(App {
        node: node.clone(),
        web,
    });
    let router = router(app);
    match tls {
        None => {
            let stop = node.clone();
            let r = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.stopped().await })
                .await;
            if let Err(e) = r {
                warn!(error = %e, "HTTP server stopped");
            }
        }
        Some(tls) => serve_tls(node, router, listener, tls).await,
    }
}

async fn serve_tls(
    node: Arc<Node>,
    router: Router,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (sock, _) = tokio::select! {
            a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
            () = node.stopped() => return,
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(sock)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        debug!(error = %e, "HTTPS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
