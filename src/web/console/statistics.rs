//! Statistics per school and year, with small cells hidden (`domain::statistics`).

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::{csv, staff};
use crate::domain::statistics::Published;
use crate::web::pages::{download, render, Chrome};
use crate::web::view;
use crate::web::{query_param, Ctx, PageError, WebState};

pub struct TableView {
    pub title: String,
    pub corner: String,
    pub cols: Vec<String>,
    pub rows: Vec<(String, Vec<String>, String)>,
    pub col_totals: Vec<String>,
    pub total: String,
}

fn table(
    title: String,
    corner: String,
    rows: &[String],
    cols: Vec<String>,
    p: &Published,
) -> TableView {
    TableView {
        title,
        corner,
        cols,
        rows: rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    r.clone(),
                    p.cells[i].iter().map(|c| c.text()).collect(),
                    p.row_totals[i].text(),
                )
            })
            .collect(),
        col_totals: p.col_totals.iter().map(|c| c.text()).collect(),
        total: p.total.text(),
    }
}

#[derive(Template)]
#[template(path = "console_stats.html")]
struct StatsPage {
    c: Chrome,
    title: String,
    year: i32,
    tables: Vec<TableView>,
}

async fn stats_tables(
    state: &WebState,
    ctx: &Ctx,
    uri: &Uri,
) -> Result<(i32, Vec<TableView>), PageError> {
    staff(ctx, state, "statistics")?;
    let s = &state.services;
    let this_year = crate::clock::date_of(s.now()).year();
    let year = match query_param(uri, "year") {
        None => this_year,
        Some(y) => y
            .parse::<i32>()
            .ok()
            .filter(|y| (2000..=2100).contains(y))
            .ok_or_else(|| PageError::bad_input("year", "/console/statistics"))?,
    };
    let st = s.statistics(year).await?;
    let tr = ctx.tr;
    let catalogue = s.catalogue();
    let type_name = |k: &str| {
        catalogue
            .org_types
            .iter()
            .find(|t| t.key.as_str() == k)
            .map_or(k.to_owned(), |t| t.name.get(tr.lang).to_owned())
    };
    let mut tables = vec![table(
        format!("{} {year}", tr.t("console_stats")),
        tr.t("console_stats_school").into(),
        &st.schools,
        vec![
            tr.t("console_stats_active").into(),
            tr.t("console_stats_withdrew").into(),
        ],
        &st.overview,
    )];
    tables.push(table(
        tr.f(
            "console_stats_follow_up",
            &[("year", &format!("{year}/{:02}", (year + 1) % 100))],
        ),
        tr.t("console_stats_school").into(),
        &st.schools,
        [
            "console_fu_followed",
            "console_fu_given",
            "console_fu_refused",
            "console_fu_narrowed",
            "console_fu_withdrawn",
        ]
        .iter()
        .map(|k| tr.t(k).to_owned())
        .collect(),
        &st.follow_up,
    ));
    for sc in &st.per_school {
        if sc.org_types.is_empty() {
            continue;
        }
        let rows: Vec<String> = sc.org_types.iter().map(|t| type_name(t)).collect();
        let cols = sc
            .categories
            .iter()
            .map(|c| view::category_name(&catalogue, c, tr.lang))
            .collect();
        tables.push(table(
            format!("{}: {}", sc.school, tr.t("console_stats_grants")),
            tr.t("console_f_org").into(),
            &rows,
            cols,
            &sc.grants,
        ));
    }
    Ok((year, tables))
}

/// `GET /console/statistics`
pub async fn statistics(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let (year, tables) = stats_tables(&state, &ctx, &uri).await?;
    let page = StatsPage {
        c: Chrome::new(
            &ctx,
            &state,
            ctx.tr.t("console_stats"),
            "/console/statistics",
        ),
        title: format!("{} {year}", ctx.tr.t("console_stats")),
        year,
        tables,
    };
    Ok(render(&ctx, &state, StatusCode::OK, &page))
}

/// `GET /console/statistics.csv`: every published cell, one line each.
pub async fn statistics_csv(
    State(state): State<WebState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Response, PageError> {
    let (year, tables) = stats_tables(&state, &ctx, &uri).await?;
    let mut out = String::from("table,row,column,value\r\n");
    let mut line = |t: &str, r: &str, c: &str, v: &str| {
        out.push_str(&format!("{},{},{},{}\r\n", csv(t), csv(r), csv(c), csv(v)));
    };
    for t in &tables {
        for (row, cells, total) in &t.rows {
            for (col, v) in t.cols.iter().zip(cells) {
                line(&t.title, row, col, v);
            }
            line(&t.title, row, "total", total);
        }
        for (col, v) in t.cols.iter().zip(&t.col_totals) {
            line(&t.title, "total", col, v);
        }
        line(&t.title, "total", "total", &t.total);
    }
    Ok(download(
        "text/csv; charset=utf-8",
        &format!("samtykke-statistics-{year}.csv"),
        out,
    ))
}
