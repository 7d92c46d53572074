//! Pages and the JSON API of the review UI (the contract of `docs/review.md`).

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use snafu::Report;
use tracing::{info, warn};

use super::assets::{FILM_HTML, LOGIN_HTML, WORKLIST_HTML};
use super::audit::Entry;
use super::auth::{self, Session};
use super::{ApiError, App, Changer, PageUser, Viewer};
use crate::annotations::{AnnotatedImage, AnnotatedJoint};
use crate::review::annotation::{self, Submitted};
use crate::review::signoff::{self, Signer};
use crate::review::{AiStatus, FilmSummary, ReviewStatus, ReviewStore};

type AppState = Arc<App>;

fn internal(e: impl std::error::Error + 'static) -> ApiError {
    let msg = Report::from_error(e).to_string();
    warn!(error = %msg, "review request failed");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, msg)
}

fn store(app: &App) -> Result<&ReviewStore, ApiError> {
    app.node.review.as_ref().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "review is switched off (review.enabled)".into(),
        )
    })
}

/// Film lookups: an unknown or malformed id is a 404, anything else a 500.
fn film_error(e: crate::review::Error) -> ApiError {
    match e {
        crate::review::Error::NoFilm { .. } => {
            ApiError(StatusCode::NOT_FOUND, "no such film".into())
        }
        crate::review::Error::BadAnnotation { problem } => {
            ApiError(StatusCode::BAD_REQUEST, problem)
        }
        e => internal(e),
    }
}

fn now() -> (SystemTime, String) {
    let t = SystemTime::now();
    (
        t,
        crate::dicom::sr::Timestamp::from_system_time(t).rfc3339(),
    )
}

fn record(
    app: &App,
    user: &str,
    action: &str,
    film: Option<&str>,
    detail: Value,
) -> Result<(), ApiError> {
    app.web
        .audit
        .write(&Entry {
            time: now().1,
            user,
            action,
            film,
            detail,
        })
        .map_err(internal)
}

// ---------------------------------------------------------------------------------------
// Pages

pub async fn login_page() -> Html<&'static str> {
    Html(LOGIN_HTML)
}

pub async fn worklist_page(_: PageUser) -> Html<&'static str> {
    Html(WORKLIST_HTML)
}

pub async fn film_page(_: PageUser) -> Html<&'static str> {
    Html(FILM_HTML)
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// A login form posted from another site is refused: the browser names the page's
/// origin, and it must be this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true; // not a browser, or a browser that sends no Origin on same-origin POST
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, h)| !host.is_empty() && h == host)
}

pub async fn login(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        warn!(
            origin = ?headers.get(header::ORIGIN),
            host = ?headers.get(header::HOST),
            "cross-site login refused"
        );
        return (StatusCode::FORBIDDEN, "cross-site login refused\n").into_response();
    }
    let name = f.username.trim().to_string();
    if !app.web.sessions.may_try(&name) {
        let _ = record(&app, &name, "login_locked", None, Value::Null);
        return Redirect::to("/login?failed=1").into_response();
    }
    let app2 = app.clone();
    let (n2, pw) = (name.clone(), f.password);
    let user = tokio::task::spawn_blocking(move || app2.web.users.verify(&n2, &pw)).await;
    let user = match user {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => return internal(e).into_response(),
        Err(e) => return internal(e).into_response(),
    };
    let Some(user) = user else {
        app.web.sessions.failed(&name);
        let _ = record(&app, &name, "login_failed", None, Value::Null);
        info!(user = %name, "login failed");
        return Redirect::to("/login?failed=1").into_response();
    };
    app.web.sessions.succeeded(&name);
    let token = app.web.sessions.start(&user);
    if let Err(e) = record(&app, &user.name, "login", None, Value::Null) {
        return e.into_response();
    }
    info!(user = %user.name, "logged in");
    let secure = if app.web.secure() { "; Secure" } else { "" };
    let cookie = format!(
        "{}={token}; HttpOnly; SameSite=Strict; Path=/{secure}",
        auth::COOKIE
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

pub async fn logout(State(app): State<AppState>, c: Changer) -> Response {
    app.web.sessions.end(&c.token);
    let _ = record(&app, &c.session.user, "logout", None, Value::Null);
    let cookie = format!(
        "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        auth::COOKIE
    );
    (
        [(header::SET_COOKIE, cookie)],
        Json(json!({"logged_out": true})),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------
// API

pub async fn me(Viewer(s): Viewer) -> Json<Value> {
    Json(json!({"user": s.user, "role": s.role, "csrf": s.csrf}))
}

#[derive(Debug, Deserialize)]
pub struct FilmQuery {
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    per_page: Option<usize>,
    #[serde(default)]
    ai_status: Option<String>,
    #[serde(default)]
    review: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
}

/// Whether `f` passes the worklist filters for `user`.
fn selected(f: &FilmSummary, q: &FilmQuery, user: &str) -> bool {
    let nonempty = |o: &Option<String>| o.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(s) = nonempty(&q.ai_status) {
        let want = match s.as_str() {
            "analysed" => AiStatus::Analysed,
            "not_assessable" => AiStatus::NotAssessable,
            _ => return false,
        };
        if f.film.ai_status != want {
            return false;
        }
    }
    let mine = f.annotations.iter().any(|a| a.annotator == user);
    let ok = match nonempty(&q.review).as_deref() {
        None => true,
        Some("none") => f.annotations.is_empty(),
        Some("mine") => mine,
        Some("todo") => !mine,
        Some("signed") => f
            .annotations
            .iter()
            .any(|a| a.status == ReviewStatus::Signed),
        Some(_) => false,
    };
    if !ok {
        return false;
    }
    let date = f.film.study_date.as_deref().unwrap_or("");
    if let Some(s) = nonempty(&q.since)
        && date < s.as_str()
    {
        return false;
    }
    if let Some(u) = nonempty(&q.until)
        && (date.is_empty() || date > u.as_str())
    {
        return false;
    }
    true
}

/// What one user may see of the annotations on a film: annotators see only their own
/// work (each kept apart), reviewers and admins see who else annotated.
fn visible(f: &FilmSummary, s: &Session) -> FilmSummary {
    let mut f = f.clone();
    if !s.role.reviews() {
        f.annotations.retain(|a| a.annotator == s.user);
    }
    f
}

pub async fn films(
    State(app): State<AppState>,
    Viewer(s): Viewer,
    Query(q): Query<FilmQuery>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&app)?;
    let per_page = q.per_page.unwrap_or(25).clamp(1, 200);
    let all: Vec<FilmSummary> = store
        .films()
        .into_iter()
        .filter(|f| selected(f, &q, &s.user))
        .collect();
    let pages = all.len().div_ceil(per_page).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let shown: Vec<FilmSummary> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|f| visible(f, &s))
        .collect();
    Ok(Json(json!({
        "films": shown,
        "page": page,
        "per_page": per_page,
        "total": all.len(),
    })))
}

#[derive(Debug, Deserialize)]
pub struct FilmOpts {
    #[serde(default)]
    annotator: Option<String>,
}

/// An AI joint as the film page gets it: the annotation form plus the detector's score.
#[derive(Serialize)]
struct AiJoint {
    #[serde(flatten)]
    joint: AnnotatedJoint,
    score: f32,
}

fn annotation_json(a: &AnnotatedImage) -> Value {
    json!({
        "annotator": a.annotator,
        "status": annotation::status_of(a),
        "time": a.time,
        "assessable": a.assessable,
        "reason": a.reason,
        "joints": a.joints,
        "verified_sr": a.verified_sr,
    })
}

pub async fn film(
    State(app): State<AppState>,
    Viewer(s): Viewer,
    Path(id): Path<String>,
    Query(o): Query<FilmOpts>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&app)?;
    let f = store.film(&id).map_err(film_error)?;
    let ai = store.analysis(&id).map_err(film_error)?;
    let whose = match o.annotator.as_deref().filter(|a| !a.is_empty()) {
        Some(other) if other != s.user => {
            if !s.role.reviews() {
                return Err(ApiError(
                    StatusCode::FORBIDDEN,
                    "only reviewers see other annotators' work".into(),
                ));
            }
            other.to_string()
        }
        _ => s.user.clone(),
    };
    let annotation = store
        .annotation(&id, &whose)
        .ok()
        .map(|a| annotation_json(&a));
    // `ai_joints` keeps the named joints in order: zip them with their scores.
    let ai_joints: Vec<AiJoint> = ai
        .joints
        .iter()
        .filter(|j| j.id.is_some())
        .zip(annotation::ai_joints(&ai))
        .map(|(j, joint)| AiJoint {
            joint,
            score: j.score,
        })
        .collect();
    let v = visible(&f, &s);
    let others: Vec<_> = v
        .annotations
        .iter()
        .filter(|a| a.annotator != s.user)
        .collect();
    Ok(Json(json!({
        "id": f.film.id,
        "width": f.film.width,
        "height": f.film.height,
        "pixel_spacing_mm": f.film.pixel_spacing_mm.map(|(r, c)| [r, c]),
        "study_date": f.film.study_date,
        "study_description": f.film.study_description,
        "modality": f.film.modality,
        "ai": {
            "assessable": ai.assessment.assessable,
            "reason": ai.assessment.reason,
            "joints": ai_joints,
        },
        "annotation": annotation,
        "annotator": whose,
        "others": others,
    })))
}

/// A film's pixels for the browser: 16-bit display values, 0 black.
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    /// Shared with every answer: the cache and the responses hold the same buffer.
    pub bytes: axum::body::Bytes,
}

/// Films whose pixels are kept decoded.
const PIXEL_CACHE: usize = 4;

pub async fn pixels(
    State(app): State<AppState>,
    _: Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = store(&app)?;
    let cached = {
        let c = app.web.pixels.lock().unwrap_or_else(|p| p.into_inner());
        c.iter().find(|(k, _)| *k == id).map(|(_, p)| p.clone())
    };
    let px = match cached {
        Some(p) => p,
        None => {
            let path = store.image_path(&id).map_err(film_error)?;
            let max = app.node.config.pipeline.max_pixels;
            let p = tokio::task::spawn_blocking(move || {
                crate::input::read(&path, max).map(|i| {
                    let img = i.image;
                    let mut bytes = Vec::with_capacity(img.pixels.len() * 2);
                    for v in &img.pixels {
                        let q = (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
                        bytes.extend_from_slice(&q.to_le_bytes());
                    }
                    Pixels {
                        width: img.width,
                        height: img.height,
                        bytes: bytes.into(),
                    }
                })
            })
            .await
            .map_err(internal)?
            .map_err(internal)?;
            let p = Arc::new(p);
            let mut c = app.web.pixels.lock().unwrap_or_else(|p| p.into_inner());
            c.push_front((id.clone(), p.clone()));
            c.truncate(PIXEL_CACHE);
            p
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static("x-width"),
                px.width.to_string(),
            ),
            (
                header::HeaderName::from_static("x-height"),
                px.height.to_string(),
            ),
        ],
        px.bytes.clone(),
    )
        .into_response())
}

/// Saves `sub` as the user's draft; audits what changed against their previous save (or
/// the AI result, on a first save).
fn save_draft(
    app: &App,
    id: &str,
    user: &str,
    sub: &Submitted,
) -> Result<AnnotatedImage, ApiError> {
    let store = store(app)?;
    let f = store.film(id).map_err(film_error)?;
    let image = annotation::to_image(sub, &f.film, user, &now().1).map_err(film_error)?;
    // Changes against the previous save, or the AI result on a first save.
    let before = match store.save_annotation(id, &image).map_err(film_error)? {
        Some(b) => (b.joints, b.assessable),
        None => {
            let ai = store.analysis(id).map_err(film_error)?;
            (annotation::ai_joints(&ai), ai.assessment.assessable)
        }
    };
    let edits = annotation::edits(&before.0, before.1, &image.joints, image.assessable);
    record(
        app,
        user,
        "save",
        Some(id),
        json!({"joints": image.joints.len(), "assessable": image.assessable, "edits": edits}),
    )?;
    Ok(image)
}

pub async fn save(
    State(app): State<AppState>,
    c: Changer,
    Path(id): Path<String>,
    Json(sub): Json<Submitted>,
) -> Result<Json<Value>, ApiError> {
    let user = c.session.user.clone();
    let a2 = app.clone();
    let image = tokio::task::spawn_blocking(move || save_draft(&a2, &id, &user, &sub))
        .await
        .map_err(internal)??;
    Ok(Json(json!({
        "annotator": image.annotator,
        "status": ReviewStatus::Draft,
        "time": image.time,
    })))
}

/// Saves, then signs off: the VERIFIED SR goes to the outbox of every destination that
/// receives SRs (or the results folder), and only then is the annotation marked signed.
fn sign(app: &App, id: &str, s: &Session, sub: &Submitted) -> Result<Value, ApiError> {
    let mut image = save_draft(app, id, &s.user, sub)?;
    let store = store(app)?;
    let f = store.film(id).map_err(film_error)?;
    let producer = crate::dicom::sr::Producer::default();
    let signer = Signer {
        observer_name: s.full_name.as_deref().unwrap_or(&s.user),
        organization: &app.node.config.review.organization,
        producer: &producer,
    };
    let (at, time) = now();
    let report = signoff::verified_sr(store, &f.film, &image, &signer, at).map_err(internal)?;
    let name = format!(
        "{id}.verified-{}.sr.dcm",
        crate::node::instance_tag(&report.sop_instance_uid)
    );
    let sent_to = app
        .node
        .queue_result(crate::config::ResultObject::Sr, &name, &report.bytes, at)
        .map_err(internal)?;
    app.node.notify_senders();
    image.status = Some(ReviewStatus::Signed.as_str().to_string());
    image.verified_sr = Some(report.sop_instance_uid.clone());
    image.time = Some(time.clone());
    store.save_annotation(id, &image).map_err(film_error)?;
    record(
        app,
        &s.user,
        "sign_off",
        Some(id),
        json!({"sr_sop_instance_uid": report.sop_instance_uid, "destinations": sent_to}),
    )?;
    info!(user = %s.user, film = %id, "signed off");
    Ok(json!({
        "annotator": s.user,
        "status": ReviewStatus::Signed,
        "time": time,
        "sr_sop_instance_uid": report.sop_instance_uid,
        "destinations": sent_to,
    }))
}

pub async fn sign_off(
    State(app): State<AppState>,
    c: Changer,
    Path(id): Path<String>,
    Json(sub): Json<Submitted>,
) -> Result<Json<Value>, ApiError> {
    if !c.session.role.reviews() {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "only reviewers and admins sign off".into(),
        ));
    }
    let a2 = app.clone();
    let v = tokio::task::spawn_blocking(move || sign(&a2, &id, &c.session, &sub))
        .await
        .map_err(internal)??;
    Ok(Json(v))
}

/// The last 500 audit entries (admins only).
pub async fn audit_log(
    State(app): State<AppState>,
    Viewer(s): Viewer,
) -> Result<Json<Value>, ApiError> {
    if s.role != auth::Role::Admin {
        return Err(ApiError(StatusCode::FORBIDDEN, "admins only".into()));
    }
    Ok(Json(json!({"entries": app.web.audit.tail(500)})))
}
