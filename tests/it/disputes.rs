//! "This looks wrong": a pupil disputes a line of their access page; a compliance
//! officer sees it with the entry attached and closes it; the pupil sees the answer.

use reqwest::StatusCode;
use serde_json::json;

use crate::browser::{fields, Page};
use crate::console::staff_login;
use crate::helpers::{count, log_records, pupil, spawn_pages};
use crate::pages::{logged_in, pupil_id};

fn hidden(page: &Page, action: &str, name: &str) -> String {
    page.hidden(action)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("{name} in {action}: {}", page.body))
}

#[tokio::test]
async fn a_pupil_disputes_a_line_and_a_compliance_officer_answers() {
    let app = spawn_pages(|_| {}).await;
    let (pid, other_pid) = (pupil(2009, 2, 3, 11), pupil(2009, 2, 4, 12));
    let mut b = logged_in(&app, &pid).await;
    let mut other = logged_in(&app, &other_pid).await;
    let orgs = app.get("/api/v1/organisations").await;
    let org = orgs[0]["id"].as_str().unwrap();
    for p in [pupil_id(&app, &pid).await, pupil_id(&app, &other_pid).await] {
        let ask = json!({ "org_id": org, "pupil_id": p, "category": "attendance" });
        let (status, _) = app.post("/api/v1/policy/explain", ask).await;
        assert_eq!(status, StatusCode::OK);
    }
    let action = "/me/access-log/dispute";
    let log = b.get("/me/access-log").await;
    assert!(log.has("Dette ser feil ut"), "{}", log.body);
    let (csrf, entry) = (hidden(&log, action, "csrf"), hidden(&log, action, "entry"));
    let foreign = hidden(&other.get("/me/access-log").await, action, "entry");

    // Bad input: a clear page, nothing written.
    let cases = [
        (
            "not a number",
            csrf.as_str(),
            "abc",
            StatusCode::BAD_REQUEST,
        ),
        (
            "another pupil's line",
            &csrf,
            &foreign,
            StatusCode::NOT_FOUND,
        ),
        ("no such line", &csrf, "99999999", StatusCode::NOT_FOUND),
        ("a negative line", &csrf, "-1", StatusCode::NOT_FOUND),
        (
            "a wrong CSRF token",
            "forged",
            &entry,
            StatusCode::FORBIDDEN,
        ),
    ];
    for (case, token, value, status) in cases {
        let page = b
            .post(action, &fields(&[("csrf", token), ("entry", value)]))
            .await;
        assert_eq!(page.status, status, "{case}: {}", page.body);
    }
    assert_eq!(count(&app, "disputes").await, 0);

    let sent = b
        .post(action, &fields(&[("csrf", &csrf), ("entry", &entry)]))
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let twice = b
        .post(action, &fields(&[("csrf", &csrf), ("entry", &entry)]))
        .await;
    assert_eq!(
        twice.status,
        StatusCode::SEE_OTHER,
        "a second click is the same case"
    );
    assert_eq!(count(&app, "disputes").await, 1);
    let page = b.follow(sent).await;
    assert!(
        page.has("Personvernombudet ser på det du meldte"),
        "{}",
        page.body
    );
    assert!(page.has("Du meldte at dette ser feil ut"));
    assert!(!page.body.contains(action), "the line's button is gone");

    // A pupil cannot open the officer's list.
    let pupil_tries = b.get("/console/disputes").await;
    assert_eq!(pupil_tries.location.as_deref(), Some("/console/login"));

    // The officer sees the case with the entry, and answers it.
    let mut officer = staff_login(&app, "compliance_officer").await;
    let list = officer.get("/console/disputes").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.has(&format!("#{entry}")) && list.has("decision"),
        "{}",
        list.body
    );
    let start = list.body.find("action=\"/console/disputes/").unwrap() + 8;
    let close = list.body[start..start + list.body[start..].find('"').unwrap()].to_owned();
    let token = hidden(&list, &close, "csrf");
    for (outcome, status) in [
        ("", StatusCode::BAD_REQUEST),
        ("approved", StatusCode::BAD_REQUEST),
    ] {
        let page = officer
            .post(&close, &fields(&[("csrf", &token), ("outcome", outcome)]))
            .await;
        assert_eq!(page.status, status, "{outcome}");
    }
    let closed = officer
        .post(
            &close,
            &fields(&[("csrf", &token), ("outcome", "explained")]),
        )
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER);
    let again = officer
        .post(
            &close,
            &fields(&[("csrf", &token), ("outcome", "corrected")]),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "closed once");
    assert!(officer.follow(closed).await.has("Saken er lukket"));

    let answered = b.get("/me/access-log").await;
    assert!(answered.has("dette stemmer"), "{}", answered.body);
    let kinds: Vec<String> = log_records(&app)
        .await
        .into_iter()
        .map(|r| r.event.kind())
        .filter(|k| k.starts_with("dispute."))
        .collect();
    assert_eq!(kinds, ["dispute.opened", "dispute.closed"]);
}
