//! The templates (in `templates/`) as types, and how a page becomes a response.

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::i18n::Tr;
use super::{finish, Ctx, WebState};

/// What the layout around every page needs.
pub struct Chrome {
    pub tr: Tr,
    pub title: String,
    pub logged_in: bool,
    pub csrf: String,
    /// The page the language links lead back to (a GET page).
    pub here: String,
    pub dev: bool,
    pub flash: Option<String>,
    /// A staff member of the console is logged in.
    pub staff: bool,
    /// A page of the tutor's workspace: its own menu instead of the console's.
    pub tutor: bool,
    /// A guardian is logged in: their own menu.
    pub guardian: bool,
}

impl Chrome {
    pub fn new(ctx: &Ctx, state: &WebState, title: &str, here: &str) -> Self {
        Self {
            tr: ctx.tr,
            title: title.to_owned(),
            logged_in: ctx.pupil().is_some(),
            csrf: ctx.csrf(),
            here: here.to_owned(),
            dev: state.web.dev.is_some(),
            flash: None,
            staff: ctx.session.as_ref().is_some_and(|s| s.data.staff.is_some()),
            tutor: false,
            guardian: false,
        }
    }
}

#[derive(Template)]
#[template(path = "start.html")]
pub struct StartPage {
    pub c: Chrome,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub text: String,
    pub link: Option<(String, String)>,
}

/// Renders a page with the common headers; a template that fails to render is
/// a bug, answered with a plain 500 rather than a half page.
pub fn render(ctx: &Ctx, state: &WebState, status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => finish(
            ctx,
            state,
            (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                html,
            )
                .into_response(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A page that says one thing, optionally with one way on.
pub fn message(
    ctx: &Ctx,
    state: &WebState,
    status: StatusCode,
    title_key: &str,
    text_key: &str,
    link: Option<(&str, &str)>,
) -> Response {
    message_text(
        ctx,
        state,
        status,
        title_key,
        ctx.tr.t(text_key).to_owned(),
        link,
    )
}

pub fn message_text(
    ctx: &Ctx,
    state: &WebState,
    status: StatusCode,
    title_key: &str,
    text: String,
    link: Option<(&str, &str)>,
) -> Response {
    let page = MessagePage {
        c: Chrome::new(ctx, state, ctx.tr.t(title_key), "/"),
        text,
        link: link.map(|(href, key)| (href.to_owned(), ctx.tr.t(key).to_owned())),
    };
    render(ctx, state, status, &page)
}

pub async fn start(State(state): State<WebState>, ctx: Ctx) -> Response {
    let page = StartPage {
        c: Chrome::new(&ctx, &state, ctx.tr.t("start_title"), "/"),
    };
    render(&ctx, &state, StatusCode::OK, &page)
}

/// A file to save: never cached, offered under `name`.
pub fn download(
    content_type: &'static str,
    name: &str,
    body: impl Into<axum::body::Body>,
) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body.into(),
    )
        .into_response()
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/app.css"),
    )
        .into_response()
}
