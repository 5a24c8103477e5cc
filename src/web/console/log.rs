//! Searching, paging and exporting the audit log.

use askama::Template;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::StreamExt;
use serde_json::json;
use time::{Date, Month};
use uuid::Uuid;

use super::{csv, entry_row, staff, EntryRow};
use crate::audit::event::KINDS;
use crate::domain::identity::IdentityNumber;
use crate::service::{LogQuery, OUTCOMES};
use crate::web::pages::{download, render, Chrome};
use crate::web::{query_param, Ctx, Form, PageError, WebState};

const PAGE: i64 = 50;
const DAY: i64 = 86_400_000;

/// The query in a console URL and the page asked for; a value that does not
/// parse is named.
fn query(uri: &Uri) -> Result<(LogQuery, i64), PageError> {
    let bad = |k: &str| PageError::bad_input(k, "/console/log");
    let q = |k: &str| query_param(uri, k).filter(|v| !v.is_empty());
    let uuid = |k: &str| {
        q(k).map(|v| Uuid::parse_str(&v).map_err(|_| bad(k)))
            .transpose()
    };
    let date = |k: &str| {
        q(k).map(|v| {
            let mut p = v.split('-').map(str::parse::<i32>);
            let ymd = match (p.next(), p.next(), p.next(), p.next()) {
                (Some(Ok(y)), Some(Ok(m)), Some(Ok(d)), None) => Some((y, m, d)),
                _ => None,
            };
            ymd.and_then(|(y, m, d)| {
                let m = Month::try_from(u8::try_from(m).ok()?).ok()?;
                Date::from_calendar_date(y, m, u8::try_from(d).ok()?).ok()
            })
            .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
            .ok_or_else(|| bad(k))
        })
        .transpose()
    };
    let word = |k: &str| {
        q(k).map(|v| {
            let ok = v.len() <= 80
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_:.-*".contains(c));
            if ok {
                Ok(v)
            } else {
                Err(bad(k))
            }
        })
        .transpose()
    };
    let page = q("page").map_or(Ok(1), |p| {
        p.parse::<i64>()
            .ok()
            .filter(|p| (1..=100_000).contains(p))
            .ok_or_else(|| bad("page"))
    })?;
    Ok((
        LogQuery {
            pupil: uuid("pupil")?,
            org: uuid("org")?,
            // One actor: a partner's client, or a tutor (by their console subject).
            actor: word("client")?.or(word("tutor")?),
            category: word("category")?,
            outcome: word("outcome")?,
            kind: word("kind")?,
            from: date("from")?,
            to: date("to")?.map(|t| t + DAY),
        },
        page,
    ))
}

/// The query as a query string (without the page).
fn query_string(uri: &Uri) -> String {
    let pairs = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, v)| k != "page" && !v.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect::<Vec<_>>();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub struct SelectView {
    pub name: &'static str,
    pub label: String,
    pub options: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "console_log.html")]
struct LogPage {
    c: Chrome,
    error: Option<String>,
    pupil: Option<Uuid>,
    selects: Vec<SelectView>,
    from: String,
    to: String,
    summary: String,
    query: String,
    rows: Vec<EntryRow>,
    page_line: String,
    prev: Option<String>,
    next: Option<String>,
}

/// `GET /console/log`
pub async fn log(State(state): State<WebState>, ctx: Ctx, uri: Uri) -> Result<Response, PageError> {
    log_page(&state, &ctx, &uri, None).await
}

async fn log_page(
    state: &WebState,
    ctx: &Ctx,
    uri: &Uri,
    error: Option<String>,
) -> Result<Response, PageError> {
    let by = staff(ctx, state, "audit")?;
    let tr = ctx.tr;
    let (f, page) = query(uri)?;
    let s = &state.services;
    let (found, total) = s.search_log(&by, &f, (page - 1) * PAGE, PAGE).await?;
    let orgs = s.orgs().await?;
    let clients = s.clients().await?;
    let tutors = s.tutors().await?;
    let sel = |v: &str, cur: &Option<String>| cur.as_deref() == Some(v);
    let catalogue = s.catalogue();
    let org_now = f.org.map(|o| o.to_string());
    let fixed =
        |name: &'static str, label: &str, values: &[&str], cur: &Option<String>| SelectView {
            name,
            label: tr.t(label).into(),
            options: values
                .iter()
                .map(|v| ((*v).to_owned(), (*v).to_owned(), sel(v, cur)))
                .collect(),
        };
    let selects = vec![
        SelectView {
            name: "org",
            label: tr.t("console_f_org").into(),
            options: orgs
                .iter()
                .map(|o| {
                    let v = o.id.to_string();
                    let on = sel(&v, &org_now);
                    (v, o.name.clone(), on)
                })
                .collect(),
        },
        SelectView {
            name: "client",
            label: tr.t("console_f_client").into(),
            options: clients
                .iter()
                .map(|c| {
                    let v = format!("client:{}", c.client_id);
                    let on = sel(&v, &f.actor);
                    (v, c.client_id.to_string(), on)
                })
                .collect(),
        },
        SelectView {
            name: "tutor",
            label: tr.t("console_f_tutor").into(),
            options: tutors
                .iter()
                .map(|(subject, networks)| {
                    let short = subject
                        .trim_start_matches("staff:")
                        .chars()
                        .take(8)
                        .collect::<String>();
                    let label = tr.f("console_tutor_at", &[("network", networks), ("id", &short)]);
                    (subject.clone(), label, sel(subject, &f.actor))
                })
                .collect(),
        },
        SelectView {
            name: "category",
            label: tr.t("console_f_category").into(),
            options: catalogue
                .categories
                .iter()
                .map(|c| {
                    let on = sel(c.key.as_str(), &f.category);
                    (c.key.to_string(), c.name.get(tr.lang).to_owned(), on)
                })
                .collect(),
        },
        fixed("outcome", "console_f_outcome", OUTCOMES, &f.outcome),
        fixed("kind", "console_f_kind", KINDS, &f.kind),
    ];
    let query = query_string(uri);
    let pages = ((total + PAGE - 1) / PAGE).max(1);
    let link = |p: i64| {
        format!(
            "/console/log?{query}{}page={p}",
            if query.is_empty() { "" } else { "&" }
        )
    };
    let page_view = LogPage {
        c: Chrome::new(ctx, state, tr.t("console_nav_log"), "/console/log"),
        error,
        pupil: f.pupil,
        selects,
        from: query_param(uri, "from").unwrap_or_default(),
        to: query_param(uri, "to").unwrap_or_default(),
        summary: tr.f("console_results", &[("total", &total.to_string())]),
        rows: found.iter().map(|x| entry_row(x, &orgs)).collect(),
        page_line: tr.f(
            "console_page",
            &[("page", &page.to_string()), ("pages", &pages.to_string())],
        ),
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
        query,
    };
    Ok(render(ctx, state, StatusCode::OK, &page_view))
}

/// `POST /console/log/pupil`: the identity number comes in a POST body, is hashed,
/// and only the pupil's pseudonym goes on into the URL.
pub async fn find_pupil(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
    req: Request,
) -> Result<Response, PageError> {
    let form = Form::read(req, state.max_body_bytes).await?;
    staff(&ctx, &state, "audit")?;
    ctx.csrf_checked(&form)?;
    let n = IdentityNumber::parse(form.get("pid").unwrap_or_default().trim())
        .map_err(|_| PageError::bad_input("pid", "/console/log"))?;
    match state.services.find_pupil(&n).await? {
        Some(id) => Ok(Redirect::to(&format!("/console/log?pupil={id}")).into_response()),
        None => {
            let none = Some(ctx.tr.t("console_no_pupil").to_owned());
            let mut page = log_page(&state, &ctx, &uri, none).await?;
            *page.status_mut() = StatusCode::NOT_FOUND;
            Ok(page)
        }
    }
}

/// `GET /console/log.csv`: streamed, a page of the log at a time.
pub async fn log_csv(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let by = staff(&ctx, &state, "audit")?;
    let (q, _) = query(&uri)?;
    let pages = state.services.export_log(&by, &q).await?;
    let head = futures_util::stream::once(async {
        Ok("seq,at,kind,actor,pupil,detail,request_id\r\n".to_owned())
    });
    let rows = pages.map(|page| {
        page.map(|items| {
            let mut out = String::new();
            for f in &items {
                let e = &f.entry;
                out.push_str(&format!(
                    "{},{},{},{},{},{},{}\r\n",
                    f.seq,
                    csv(&crate::clock::rfc3339(e.at)),
                    csv(&e.kind),
                    csv(&e.actor),
                    csv(&e.pupil.map(|p| p.to_string()).unwrap_or_default()),
                    csv(&e.detail.to_string()),
                    csv(e.request_id.as_deref().unwrap_or_default()),
                ));
            }
            out
        })
    });
    Ok(download(
        "text/csv; charset=utf-8",
        "samtykke-audit.csv",
        streamed(head.chain(rows)),
    ))
}

/// `GET /console/log.json`: `{"entries":[…]}`, streamed the same way.
pub async fn log_json(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let by = staff(&ctx, &state, "audit")?;
    let (q, _) = query(&uri)?;
    let pages = state.services.export_log(&by, &q).await?;
    let mut first = true;
    let items = pages.map(move |page| {
        page.map(|items| {
            let mut out = String::new();
            for f in &items {
                if !std::mem::take(&mut first) {
                    out.push(',');
                }
                out.push_str(&json!({ "seq": f.seq, "entry": f.entry }).to_string());
            }
            out
        })
    });
    let open = futures_util::stream::once(async { Ok("{\"entries\":[".to_owned()) });
    let close = futures_util::stream::once(async { Ok("]}".to_owned()) });
    Ok(download(
        "application/json",
        "samtykke-audit.json",
        streamed(open.chain(items).chain(close)),
    ))
}

/// A download body from pieces; a store error midway ends it cut short (the
/// status is sent by then), logged, so a truncated file never looks whole.
fn streamed(
    pieces: impl futures_util::Stream<Item = Result<String, crate::service::ServiceError>>
        + Send
        + 'static,
) -> Body {
    Body::from_stream(pieces.map(|piece| {
        piece.map_err(|e| {
            tracing::error!(error = %e, "export cut short");
            std::io::Error::other("export cut short")
        })
    }))
}
