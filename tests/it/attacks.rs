//! Attacks that once got a partner more than the pupil consented to, and the load
//! under which SQLite once answered 500. Each test failed before its fix.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::{direct, number_of, pupil, sign_body, spawn_app, spawn_pages, world, TestApp};
use crate::pages::SUBSTANTIAL;
use crate::partner::Partner;
use crate::tokens::{introspect, register, scene, token};
use samtykke::service::MAX_SCOPES;

/// Every audit entry as JSON, from the operators' export.
async fn entries(app: &TestApp) -> Vec<Value> {
    let export = app.get("/api/v1/audit/entries?after=0&limit=10000").await;
    export["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_token_names_only_a_data_holder_that_keeps_the_data_in_the_pupils_network() {
    let app = spawn_app().await;
    // The pupil shares attendance with the follow-up service, and never chose NAV.
    let s = scene(&app).await;
    let cases = [
        (
            "the NAV office the pupil never chose",
            &s.w.nav,
            Err("holder_not_discloser"),
        ),
        (
            "a school outside the pupil's network",
            &s.w.other_school,
            Err("holder_outside_consent"),
        ),
        (
            "PPT, which does not keep attendance",
            &s.w.ppt,
            Err("holder_not_discloser"),
        ),
        (
            "child welfare, which does not keep attendance",
            &s.w.child_welfare,
            Err("holder_not_discloser"),
        ),
        (
            "the pupil's school, which keeps attendance",
            &s.w.school,
            Ok(()),
        ),
    ];
    let mut issued = None;
    for (name, holder, want) in cases {
        let audience = number_of(&app, holder).await;
        let (status, t) = token(&app, &s.ot, "pupil:attendance:read", &s.identity, &audience).await;
        match want {
            Ok(()) => {
                assert_eq!(status, StatusCode::OK, "{name}: {t}");
                issued = Some(t["access_token"].as_str().unwrap().to_owned());
            }
            Err(reason) => {
                assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {t}");
                assert_eq!(t["error"], "access_denied", "{name}");
                // The log says why, naming the holder that was asked for.
                let holder_id = json!(holder);
                let logged: Vec<Value> = entries(&app)
                    .await
                    .into_iter()
                    .filter(|e| e["kind"] == "decision" && e["detail"]["holder"] == holder_id)
                    .collect();
                assert_eq!(logged.len(), 1, "{name}: {logged:?}");
                assert_eq!(logged[0]["detail"]["reason"], reason, "{name}");
            }
        }
    }
    let issued = issued.unwrap();
    // NAV's own system asks about the one token there is: it learns nothing.
    let nav = Partner::new("nav-case");
    register(&app, &nav, &s.w.nav, &["pupil:attendance:read"]).await;
    assert_eq!(
        introspect(&app, &nav, &issued).await,
        json!({ "active": false })
    );
    // The token is decided again, with its holder, at every introspection: once the
    // school may no longer hand attendance over, the token is dead.
    assert_eq!(introspect(&app, &s.holder, &issued).await["active"], true);
    let (st, v) = app
        .post(
            "/api/v1/policy/rules",
            json!({ "org_type": "school", "category": "attendance", "action": "disclose",
                "purpose": "*", "effect": "deny" }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(
        introspect(&app, &s.holder, &issued).await,
        json!({ "active": false })
    );
}

#[tokio::test]
async fn a_may_see_consent_never_yields_a_write_token() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let school = Partner::new("school-writer");
    // A write scope is no longer registered …
    let (status, v) = app
        .post(
            "/api/v1/clients",
            json!({ "client_id": "school-writer", "org_id": w.ppt,
            "name": "writer", "scopes": ["pupil:attendance:write"], "jwks": school.jwks }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["field"], "scopes[0]");
    // … but a client registered with write scopes before this release still exists.
    register(&app, &school, &w.ppt, &["pupil:attendance:read"]).await;
    let mut c = crate::helpers::direct_connection(&app).await;
    sqlx::query("UPDATE clients SET scopes = $1 WHERE client_id = 'school-writer'")
        .bind(r#"["pupil:attendance:read","pupil:attendance:write","pupil:grades:write"]"#)
        .execute(&mut c)
        .await
        .unwrap();
    let identity = pupil(2008, 4, 4, 4);
    app.created(
        "/api/v1/consents",
        sign_body(
            &w,
            &identity,
            json!([
                direct(&w.school, &w.ppt, "attendance"),
                direct(&w.school, &w.ppt, "grades"),
            ]),
        ),
    )
    .await;
    let school_number = number_of(&app, &w.school).await;
    let cases = [
        (
            "write alone",
            "pupil:attendance:write pupil:grades:write",
            None,
        ),
        (
            "read and write",
            "pupil:attendance:read pupil:attendance:write pupil:grades:write",
            Some("pupil:attendance:read"),
        ),
    ];
    for (name, scope, granted) in cases {
        let (status, t) = token(&app, &school, scope, &identity, &school_number).await;
        match granted {
            Some(g) => {
                assert_eq!(status, StatusCode::OK, "{name}: {t}");
                assert_eq!(t["scope"], g, "{name}");
            }
            None => assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {t}"),
        }
    }
    let meta: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        app.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        !meta["scopes_supported"].to_string().contains(":write"),
        "write is not offered: {}",
        meta["scopes_supported"]
    );
}

#[tokio::test]
async fn repeated_scopes_are_decided_once_and_bounded() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let school_number = number_of(&app, &s.w.school).await;
    let before = entries(&app).await.len();
    let many = vec!["pupil:attendance:read"; MAX_SCOPES].join(" ");
    let (status, t) = token(&app, &s.ot, &many, &s.identity, &school_number).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["scope"], "pupil:attendance:read");
    let written = entries(&app).await.len() - before;
    assert_eq!(written, 2, "one decision and one token event");
    let at = t["access_token"].as_str().unwrap();
    let before = entries(&app).await.len();
    assert_eq!(introspect(&app, &s.ot, at).await["active"], true);
    assert_eq!(
        entries(&app).await.len() - before,
        2,
        "one re-decision and one introspection event"
    );
    let too_many = vec!["pupil:attendance:read"; MAX_SCOPES + 1].join(" ");
    let (status, t) = token(&app, &s.ot, &too_many, &s.identity, &school_number).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{t}");
    assert_eq!(t["error"], "invalid_scope");
}

/// The demo pupil who never chose the NAV office: no partner request makes them
/// known to it, and the data holder that learned who they are is on their page.
#[tokio::test]
async fn the_pupil_sees_every_organisation_that_learned_of_them() {
    let app = spawn_pages(|_| {}).await;
    let orgs = app.get("/api/v1/organisations").await;
    let org = |name: &str| {
        let o = orgs
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap();
        (
            o["id"].as_str().unwrap().to_owned(),
            o["number"].as_str().unwrap().to_owned(),
        )
    };
    let (school, school_number) = org("Fjordvik videregående skole");
    let (ot, _) = org("Oppfølgingstjenesten i Fjordvik");
    let (nav, nav_number) = org("NAV Fjordvik");
    let ot_case = Partner::new("ot-attack");
    register(
        &app,
        &ot_case,
        &ot,
        &["pupil:attendance:read", "pupil:contact_details:read"],
    )
    .await;
    let school_admin = Partner::new("school-holder");
    register(&app, &school_admin, &school, &["pupil:attendance:read"]).await;
    let nav_case = Partner::new("nav-listener");
    register(&app, &nav_case, &nav, &["pupil:contact_details:read"]).await;
    let first = samtykke::demo::demo_pupil_numbers()[0].expose_digits();

    for scope in ["pupil:attendance:read", "pupil:contact_details:read"] {
        let (status, t) = token(&app, &ot_case, scope, &first, &nav_number).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{scope} from NAV: {t}");
    }
    let (status, t) = token(
        &app,
        &nav_case,
        "pupil:contact_details:read",
        &first,
        &nav_number,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "NAV asks itself: {t}");
    let (status, t) = token(
        &app,
        &ot_case,
        "pupil:attendance:read",
        &first,
        &school_number,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(
        introspect(&app, &nav_case, at).await,
        json!({ "active": false })
    );
    let told = introspect(&app, &school_admin, at).await;
    assert_eq!(told["pupil_identity_number"], first.as_str());

    let mut b = Browser::new(&app.base);
    b.dev_login(&first, SUBSTANTIAL).await;
    let page = b.get("/me/access-log").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.has(
            "Fikk vite at det gjelder deg, for å gi det videre til Oppfølgingstjenesten i Fjordvik"
        ),
        "the school's look-up is shown: {}",
        page.body
    );
    assert!(
        page.has("Oppfølgingstjenesten i Fjordvik, fra Fjordvik videregående skole"),
        "{}",
        page.body
    );
    // NAV learned nothing: it appears only in requests that were refused.
    let rows: Vec<&str> = page.body.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 5, "{}", page.body);
    let nav_rows: Vec<&&str> = rows.iter().filter(|r| r.contains("NAV Fjordvik")).collect();
    assert_eq!(nav_rows.len(), 3);
    assert!(
        nav_rows.iter().all(|r| r.contains("Fikk ikke")),
        "{nav_rows:?}"
    );
}

/// Pupils sign while partners ask: on SQLite every write goes through one writer,
/// so neither gets a 500 (it was 10-40 % with "database is locked").
#[tokio::test]
async fn signatures_and_decisions_at_once_never_fail() {
    let app = std::sync::Arc::new(spawn_app().await);
    let w = std::sync::Arc::new(world(&app).await);
    let ot = std::sync::Arc::new(Partner::new("ot-load"));
    register(&app, &ot, &w.ot, &["pupil:attendance:read"]).await;
    const ROUNDS: usize = 25;
    let mut tasks = Vec::new();
    for t in 0..4u16 {
        let (app, w) = (app.clone(), w.clone());
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..ROUNDS as u16 {
                let id = pupil(
                    2007,
                    1 + (t % 12) as u8,
                    1 + (i % 28) as u8,
                    100 + t * 100 + i,
                );
                let (status, v) = app
                    .post(
                        "/api/v1/consents",
                        sign_body(&w, &id, json!([direct(&w.school, &w.ot, "attendance")])),
                    )
                    .await;
                statuses.push((status, v.to_string()));
            }
            statuses
        }));
    }
    for t in 0..4u16 {
        let (app, ot) = (app.clone(), ot.clone());
        tasks.push(tokio::spawn(async move {
            use samtykke::clock::Clock;
            let mut statuses = Vec::new();
            for i in 0..ROUNDS as u16 {
                let body = json!({
                    "subject": { "type": "client", "id": "ot-load" },
                    "resource": { "type": "pupil_data", "id": pupil(2007, 6, 6, 1 + t * 50 + i), "properties": { "category": "attendance" } },
                    "action": { "name": "read" },
                });
                let res = app
                    .http
                    .post(format!("{}/access/v1/evaluation", app.base))
                    .bearer_auth(ot.assertion("http://127.0.0.1", app.clock.now()))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                statuses.push((res.status(), res.text().await.unwrap()));
            }
            statuses
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let failed: Vec<_> = all.iter().filter(|(s, _)| s.is_server_error()).collect();
    assert!(
        failed.is_empty(),
        "{} of {}: {failed:?}",
        failed.len(),
        all.len()
    );
    assert!(all.iter().all(|(s, _)| s.is_success()), "{all:?}");
}
