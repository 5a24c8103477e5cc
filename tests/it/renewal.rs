//! A consent's later life in the pupil's pages: renewed as it is in one step, before
//! it ends or soon after; and a revised agreement read line by line ("what
//! changed") before the new one is signed.

use reqwest::StatusCode;
use serde_json::json;

use crate::browser::{fields, Browser, Page};
use crate::helpers::{count, pupil, spawn_pages, tell, TestApp};
use crate::pages::{fjordvik_school, in_force, logged_in, pupil_id, sign_at_fjordvik};
use samtykke::clock::DAY;

async fn signed(app: &TestApp, number: &str) {
    let school = fjordvik_school(app).await;
    let choices = json!([
        tell(&school, "followed_up"),
        tell(&school, "contact_reasons")
    ]);
    sign_at_fjordvik(app, number, choices).await;
}

fn csrf(page: &Page) -> String {
    page.input("csrf").unwrap()
}

async fn renew(b: &mut Browser) -> Page {
    let page = b.get("/me/consents").await;
    b.post("/me/consents/renew", &fields(&[("csrf", &csrf(&page))]))
        .await
}

#[tokio::test]
async fn a_consent_is_renewed_as_it_is_in_one_step_before_it_ends_and_after() {
    let app = spawn_pages(|_| {}).await;
    let number = pupil(2008, 4, 4, 51);
    signed(&app, &number).await;
    let id = pupil_id(&app, &number).await;
    let before = in_force(&app, id).await;
    let mut b = logged_in(&app, &number).await;

    // Not yet: a year is left.
    let page = b.get("/me/consents").await;
    assert!(!page.has("/me/consents/renew"), "{}", page.body);
    assert_eq!(renew(&mut b).await.status, StatusCode::CONFLICT);

    // Three weeks before it ends: offered, and one click renews it.
    app.clock.advance(344 * DAY);
    let mut b = logged_in(&app, &number).await;
    let page = b.get("/me/consents").await;
    assert!(page.has("Forny samtykket"), "{}", page.body);
    let consents = count(&app, "consents").await;
    let forged = b
        .post("/me/consents/renew", &fields(&[("csrf", "forged")]))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(count(&app, "consents").await, consents, "nothing changed");
    let done = renew(&mut b).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(in_force(&app, id).await, before, "the same choices");
    let (_, current) = app.services.consents_in_force(id).await.unwrap();
    let current = current.unwrap();
    assert_eq!(current.expires_at - app.services.now(), 365 * DAY);
    assert_eq!(renew(&mut b).await.status, StatusCode::CONFLICT, "once");

    // Ended a few days ago: still renewable in one step.
    app.clock.advance(370 * DAY);
    let mut b = logged_in(&app, &number).await;
    assert!(in_force(&app, id).await.is_empty());
    let page = b.get("/me/consents").await;
    assert!(page.has("gikk ut"), "{}", page.body);
    assert_eq!(renew(&mut b).await.status, StatusCode::SEE_OTHER);
    assert_eq!(in_force(&app, id).await, before);
}

#[tokio::test]
async fn a_revised_agreement_shows_what_changed_and_is_not_renewed_unread() {
    let app = spawn_pages(|_| {}).await;
    let number = pupil(2008, 5, 5, 53);
    signed(&app, &number).await;
    let id = pupil_id(&app, &number).await;
    let templates = app.get("/api/v1/templates").await;
    let old = templates
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "published")
        .unwrap()
        .clone();
    let mut body = old["body"].clone();
    body["nb"] = json!(format!(
        "{}\n\nNytt avsnitt: foreldre kan bli spurt.",
        old["body"]["nb"].as_str().unwrap()
    ));
    let draft = app
        .created(
            "/api/v1/templates",
            json!({ "key": "follow_up", "title": old["title"], "body": body }),
        )
        .await;
    let path = format!(
        "/api/v1/templates/{}/publish",
        draft["id"].as_str().unwrap()
    );
    let (status, _) = app.post(&path, json!({})).await;
    assert_eq!(status, StatusCode::OK);

    let mut b = logged_in(&app, &number).await;
    let page = b.get("/me/consents").await;
    assert!(page.has("id=\"agreement-changed\""), "{}", page.body);
    let changes = b.get("/me/agreement/changes").await;
    assert_eq!(changes.status, StatusCode::OK, "{}", changes.body);
    assert!(
        changes.has(
            "<ins><span class=\"vh\">Nytt: </span>Nytt avsnitt: foreldre kan bli spurt.</ins>"
        ),
        "{}",
        changes.body
    );
    assert!(!changes.has("<del>"), "nothing was taken out");
    // The old one stays in force until the new one is signed; renewing it as it
    // is would skip the new text, so it is not offered.
    app.clock.advance(350 * DAY);
    let mut b = logged_in(&app, &number).await;
    assert!(!in_force(&app, id).await.is_empty());
    let page = b.get("/me/consents").await;
    assert!(!page.has("/me/consents/renew"), "{}", page.body);
    assert_eq!(renew(&mut b).await.status, StatusCode::CONFLICT);
    // Someone with nothing signed has nothing to compare.
    let mut stranger = logged_in(&app, &pupil(2008, 6, 6, 55)).await;
    let none = stranger.get("/me/agreement/changes").await;
    assert_eq!(none.status, StatusCode::SEE_OTHER);
}

/// Publishes a new version of the agreement with `terms`, the text otherwise the same
/// but for one new paragraph; returns its id.
async fn publish_revision(app: &TestApp, terms: serde_json::Value) -> String {
    let templates = app.get("/api/v1/templates").await;
    let old = templates
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|t| t["status"] == "published")
        .unwrap()
        .clone();
    let mut body = old["body"].clone();
    body["nb"] = json!(format!(
        "{}\n\nEndret.",
        old["body"]["nb"].as_str().unwrap()
    ));
    let new = json!({ "key": "follow_up", "title": old["title"], "body": body, "terms": terms });
    let draft = app.created("/api/v1/templates", new).await;
    assert_eq!(draft["terms"], terms, "{draft}");
    let id = draft["id"].as_str().unwrap().to_owned();
    let (status, v) = app
        .post(&format!("/api/v1/templates/{id}/publish"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    id
}

#[tokio::test]
async fn an_agreement_states_its_period_and_a_revision_can_end_consents_on_earlier_versions() {
    let app = spawn_pages(|_| {}).await;
    // Terms an agreement cannot state: refused, nothing added.
    let before = count(&app, "templates").await;
    let text = json!({ "nb": "t", "nn": "t", "en": "t" });
    for (what, extra, status) in [
        (
            "no such period",
            json!({ "period": "semester" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "zero days",
            json!({ "reconsent_days": 0 }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "over a year",
            json!({ "reconsent_days": 366 }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "not a number",
            json!({ "reconsent_days": "30" }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "an unknown term",
            json!({ "valid_days": 30 }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let body = json!({ "key": "follow_up", "title": text, "body": text, "terms": extra });
        let (got, v) = app.post("/api/v1/templates", body).await;
        assert_eq!(got, status, "{what}: {v}");
    }
    assert_eq!(count(&app, "templates").await, before);

    // A school-year agreement: signed in November 2026, it ends as August 2027 begins.
    publish_revision(&app, json!({ "period": "school_year" })).await;
    let early = pupil(2008, 7, 7, 57);
    signed(&app, &early).await;
    let id = pupil_id(&app, &early).await;
    let (_, current) = app.services.consents_in_force(id).await.unwrap();
    assert_eq!(
        samtykke::clock::rfc3339(current.unwrap().expires_at),
        "2027-07-31T22:00:00Z"
    );

    // A revision that ends consents on earlier versions 30 days after it is published.
    publish_revision(&app, json!({ "reconsent_days": 30 })).await;
    let late = pupil(2008, 8, 8, 59);
    signed(&app, &late).await;
    let late_id = pupil_id(&app, &late).await;
    let mut b = logged_in(&app, &early).await;
    let page = b.get("/me/consents").await;
    assert!(page.has("Signer den nye innen"), "{}", page.body);
    assert!(
        !in_force(&app, id).await.is_empty(),
        "in force until the day"
    );
    app.clock.advance(31 * DAY);
    // Ended at the deadline whatever the job has done; the job then records it once.
    assert!(app
        .services
        .consents_in_force(id)
        .await
        .unwrap()
        .1
        .is_none());
    app.services.minute_work().await.unwrap();
    app.services.minute_work().await.unwrap();
    let consents = app.get(&format!("/api/v1/pupils/{id}/consents")).await;
    let states: Vec<&str> = consents
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["expired"], "{consents}");
    assert!(
        !in_force(&app, late_id).await.is_empty(),
        "signed on the new version: goes on"
    );
}

#[tokio::test]
async fn only_the_newest_consent_is_renewed_and_never_one_resting_on_a_guardian() {
    let app = spawn_pages(|_| {}).await;
    // Signed, expired, signed again, then withdrawn: nothing to renew (not the old one).
    let number = pupil(2008, 9, 9, 61);
    signed(&app, &number).await;
    let id = pupil_id(&app, &number).await;
    app.clock.advance(370 * DAY);
    signed(&app, &number).await;
    let (_, current) = app.services.consents_in_force(id).await.unwrap();
    let path = format!("/api/v1/consents/{}/withdrawals", current.unwrap().id);
    let (status, _) = app.post(&path, json!({ "scope": "all" })).await;
    assert_eq!(status, StatusCode::OK);
    let mut b = logged_in(&app, &number).await;
    assert!(!b.get("/me/consents").await.has("/me/consents/renew"));
    assert_eq!(renew(&mut b).await.status, StatusCode::CONFLICT);

    // Fifteen with health waiting for a guardian: the journey, not one click.
    let young = pupil(2012, 6, 2, 63);
    let school = fjordvik_school(&app).await;
    sign_at_fjordvik(
        &app,
        &young,
        json!([tell(&school, "followed_up"), tell(&school, "health")]),
    )
    .await;
    app.clock.advance(340 * DAY);
    let mut y = logged_in(&app, &young).await;
    assert!(!y.get("/me/consents").await.has("/me/consents/renew"));
    assert_eq!(renew(&mut y).await.status, StatusCode::CONFLICT);
}
