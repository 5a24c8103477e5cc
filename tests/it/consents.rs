//! The consent record: signing, history, change, withdrawal, expiry, erasure.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    count, evidence, obtain, pupil, sign_body, spawn_app, tell, world, TestApp, World,
};
use samtykke::clock::DAY;

async fn sign(app: &TestApp, w: &World, identity: &str, choices: Value) -> Value {
    app.created("/api/v1/consents", sign_body(w, identity, choices))
        .await
}

/// A party as `tutor` or its organisation's id (and `.role`).
fn party(p: &Value) -> String {
    match (p["kind"].as_str(), p["org_id"].as_str(), p["role"].as_str()) {
        (Some("tutor"), _, _) => "tutor".into(),
        (_, Some(org), None) => org.into(),
        (_, Some(org), Some(role)) => format!("{org}.{role}"),
        _ => panic!("{p}"),
    }
}

/// The grants in force: ("discloser>recipient", category).
fn in_force(c: &Value) -> Vec<(String, String)> {
    c["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["withdrawn_at"].is_null())
        .map(|g| {
            (
                format!("{}>{}", party(&g["discloser"]), party(&g["recipient"])),
                g["category"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn kinds(events: &Value) -> Vec<&str> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn sign_then_withdraw_a_grant_an_organisation_and_everything() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let id = pupil(2007, 1, 2, 5);
    let c = sign(
        &app,
        &w,
        &id,
        json!([
            obtain(&w.school, "attendance"),
            obtain(&w.school, "grades"),
            obtain(&w.health, "health"),
            tell(&w.health, "contact_reasons"),
            obtain(&w.ppt, "individual_adaptation"),
            tell(&w.nav, "followed_up"),
            tell(&w.child_welfare, "contact_reasons"),
        ]),
    )
    .await;
    assert_eq!(c["state"], "active");
    assert_eq!(c["evidence"]["acr"], "idporten-loa-substantial");
    assert_eq!(
        c["grants"].as_array().unwrap().len(),
        7,
        "the NAV office only because the pupil chose it"
    );
    let health_grant = &c["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["discloser"]["org_id"] == w.health.as_str())
        .unwrap();
    let basis = health_grant["legal_basis"].as_str().unwrap();
    assert!(
        basis.contains("art. 9") && basis.contains("helsepersonelloven § 21"),
        "the grant records its basis: the Art. 9 condition and the secrecy lifted: {basis}"
    );
    assert_eq!(
        health_grant["basis"]["lifts"],
        "helsepersonelloven § 21, oppheves med samtykke etter § 22"
    );
    assert_eq!(health_grant["age_at_grant"], 19);
    let cid = c["id"].as_str().unwrap();
    let path = format!("/api/v1/consents/{cid}/withdrawals");

    let grades = c["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["category"] == "grades")
        .unwrap()["id"]
        .clone();
    let (s, c1) = app
        .post(&path, json!({ "scope": "grant", "grant_id": grades }))
        .await;
    assert_eq!(s, StatusCode::OK, "{c1}");
    assert_eq!(in_force(&c1).len(), 6);
    assert_eq!(c1["state"], "active");

    let (s, c2) = app
        .post(
            &path,
            json!({ "scope": "organisation", "org_id": w.health }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(in_force(&c2).len(), 4);

    let (s, v) = app
        .post(
            &path,
            json!({ "scope": "organisation", "org_id": w.health }),
        )
        .await;
    assert_eq!(
        (s, v["type"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("urn:samtykke:problem:nothing-to-withdraw")
        )
    );

    let (s, c3) = app.post(&path, json!({ "scope": "all" })).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c3["state"], "ended");
    assert!(in_force(&c3).is_empty());
    assert_eq!(
        c3["grants"].as_array().unwrap().len(),
        7,
        "withdrawn grants are kept, never deleted"
    );

    let (s, v) = app.post(&path, json!({ "scope": "all" })).await;
    assert_eq!(
        (s, v["type"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("urn:samtykke:problem:consent-not-in-force")
        )
    );

    let events = app.get(&format!("/api/v1/consents/{cid}/events")).await;
    assert_eq!(
        kinds(&events),
        ["signed", "withdrawn", "withdrawn", "withdrawn"]
    );
    assert_eq!(events[1]["removed"].as_array().unwrap().len(), 1);
    assert_eq!(events[2]["removed"].as_array().unwrap().len(), 2);
    assert_eq!(events[3]["removed"].as_array().unwrap().len(), 4);
    assert!(events[0]["actor"].as_str().unwrap().starts_with("admin:"));
    assert_eq!(events[0]["evidence"]["session_ref"], "test-session");

    let (s, v) = app.post(&path, json!({ "scope": "everything" })).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

#[tokio::test]
async fn a_change_is_a_diff_with_its_own_evidence() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let id = pupil(2008, 2, 2, 6);
    let c = sign(
        &app,
        &w,
        &id,
        json!([
            obtain(&w.school, "attendance"),
            obtain(&w.ot, "contact_details")
        ]),
    )
    .await;
    let cid = c["id"].as_str().unwrap();
    let body = json!({ "choices": [obtain(&w.school, "attendance"), obtain(&w.ppt, "individual_adaptation")], "evidence": evidence() });
    let (s, c2) = app
        .json(
            Method::PUT,
            &format!("/api/v1/consents/{cid}/grants"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c2}");
    let mut now = in_force(&c2);
    now.sort();
    let mut want = vec![
        (format!("{}>tutor", w.school), "attendance".to_owned()),
        (
            format!("{}>tutor", w.ppt),
            "individual_adaptation".to_owned(),
        ),
    ];
    want.sort();
    assert_eq!(now, want);
    let events = app.get(&format!("/api/v1/consents/{cid}/events")).await;
    assert_eq!(kinds(&events), ["signed", "changed"]);
    assert_eq!(events[1]["added"].as_array().unwrap().len(), 1);
    assert_eq!(events[1]["removed"].as_array().unwrap().len(), 1);

    let (s, v) = app
        .json(
            Method::PUT,
            &format!("/api/v1/consents/{cid}/grants"),
            Some(body),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "the same choice again is no change: {v}"
    );
    let bad = json!({ "choices": [obtain(&w.other_school, "attendance")], "evidence": evidence() });
    let (s, v) = app
        .json(
            Method::PUT,
            &format!("/api/v1/consents/{cid}/grants"),
            Some(bad),
        )
        .await;
    assert_eq!(
        (s, v["type"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("urn:samtykke:problem:org-outside-network")
        )
    );
    assert_eq!(
        kinds(&app.get(&format!("/api/v1/consents/{cid}/events")).await).len(),
        2
    );
}

#[tokio::test]
async fn signing_again_supersedes_and_the_pupil_is_one_record() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let id = pupil(2008, 4, 4, 7);
    let first = sign(&app, &w, &id, json!([obtain(&w.school, "attendance")])).await;
    app.clock.advance(60_000);
    let second = sign(&app, &w, &id, json!([obtain(&w.school, "grades")])).await;
    assert_eq!(first["pupil_id"], second["pupil_id"]);
    assert_eq!(count(&app, "pupils").await, 1);
    let old = app
        .get(&format!(
            "/api/v1/consents/{}",
            first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(old["state"], "ended");
    let events = app
        .get(&format!(
            "/api/v1/consents/{}/events",
            first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(kinds(&events), ["signed", "superseded"]);

    let (s, found) = app
        .post("/api/v1/pupils/lookup", json!({ "identity_number": id }))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(found["pupil_id"], first["pupil_id"]);
    let list = app
        .get(&format!(
            "/api/v1/pupils/{}/consents",
            found["pupil_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let filtered = app
        .get(&format!(
            "/api/v1/consents?pupil_id={}&limit=1",
            found["pupil_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    assert_eq!(filtered[0]["id"], second["id"], "newest first");
}

#[tokio::test]
async fn consents_expire_on_time() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let c = sign(
        &app,
        &w,
        &pupil(2008, 5, 5, 8),
        json!([obtain(&w.school, "attendance")]),
    )
    .await;
    let cid = c["id"].as_str().unwrap();
    app.clock.advance(364 * DAY);
    assert_eq!(
        app.get(&format!("/api/v1/consents/{cid}")).await["state"],
        "active"
    );
    app.clock.advance(DAY);
    assert_eq!(
        app.get(&format!("/api/v1/consents/{cid}")).await["state"],
        "expired"
    );
    let (s, _) = app
        .post(
            &format!("/api/v1/consents/{cid}/withdrawals"),
            json!({ "scope": "all" }),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn erasure_shreds_the_key_and_keeps_the_history() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let id = pupil(2007, 7, 7, 9);
    let c = sign(&app, &w, &id, json!([obtain(&w.school, "attendance")])).await;
    let pid = c["pupil_id"].as_str().unwrap();
    let (s, _) = app
        .post(&format!("/api/v1/pupils/{pid}/erasure"), json!({}))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .post("/api/v1/pupils/lookup", json!({ "identity_number": id }))
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "an erased pupil cannot be found by number"
    );
    let after = app
        .get(&format!("/api/v1/consents/{}", c["id"].as_str().unwrap()))
        .await;
    assert_eq!(after["state"], "ended");
    let events = app
        .get(&format!(
            "/api/v1/consents/{}/events",
            c["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(kinds(&events), ["signed", "erased"]);
    let uuid = uuid::Uuid::parse_str(pid).unwrap();
    assert!(matches!(
        app.services.pupil_identity(uuid).await,
        Err(samtykke::service::ServiceError::Erased)
    ));
    let (s, _) = app
        .post(&format!("/api/v1/pupils/{pid}/erasure"), json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "erased once");
    // Signing again makes a new, unlinked pupil record.
    let again = sign(&app, &w, &id, json!([obtain(&w.school, "attendance")])).await;
    assert_ne!(again["pupil_id"], c["pupil_id"]);
}
