//! Who tells whom: flows in law allowed and logged, partners' tokens naming the
//! discloser and the basis, ages checked per grant, and the services of where a
//! pupil lives.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::{
    evidence, log_records, number_of, obtain, pupil, sign_body, spawn_app, spawn_pages, tell, world,
};
use crate::pages::SUBSTANTIAL;
use crate::partner::Partner;
use crate::tokens::{introspect, register, token};
use samtykke::audit::Event;
use samtykke::clock::DAY;

fn claims(token: &str) -> Value {
    let body = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, body).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_flow_in_law_is_allowed_named_in_the_token_and_logged_with_its_provision() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let ot = Partner::new("ot-case");
    register(
        &app,
        &ot,
        &w.ot,
        &["pupil:course_status:read", "pupil:attendance:read"],
    )
    .await;
    let holder = Partner::new("school-admin");
    register(&app, &holder, &w.school, &["pupil:attendance:read"]).await;
    // The pupil chose nothing about OT: only that the school may tell the tutor.
    let identity = pupil(2009, 5, 5, 51);
    app.created(
        "/api/v1/consents",
        sign_body(&w, &identity, json!([obtain(&w.school, "attendance")])),
    )
    .await;
    let school = number_of(&app, &w.school).await;

    let (status, t) = token(
        &app,
        &ot,
        "pupil:course_status:read pupil:attendance:read",
        &identity,
        &school,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(
        t["scope"], "pupil:course_status:read",
        "by law, and only that"
    );
    let details = &claims(t["access_token"].as_str().unwrap())["authorization_details"][0];
    assert_eq!(details["discloser"], school.as_str());
    assert_eq!(details["basis"], json!({ "course_status": "law" }));

    // The data holder learns the provision it hands the data over under.
    let seen = introspect(&app, &holder, t["access_token"].as_str().unwrap()).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["discloser"], school.as_str());
    assert_eq!(seen["legal_basis"]["course_status"]["basis"], "law");
    assert!(seen["legal_basis"]["course_status"]["provision"]
        .as_str()
        .unwrap()
        .contains("opplæringslova"));

    // The decision is in the chain with its provision, like any other.
    let statutory: Vec<_> = log_records(&app)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Decision(d) if d.reason == "statutory" => Some(d),
            _ => None,
        })
        .collect();
    assert!(!statutory.is_empty());
    assert!(statutory.iter().all(|d| d.allowed
        && d.provision
            .as_deref()
            .is_some_and(|p| p.contains("opplæringslova"))));

    // Only that flow: the law names the school, not PPT.
    let ppt = number_of(&app, &w.ppt).await;
    let (status, _) = token(&app, &ot, "pupil:course_status:read", &identity, &ppt).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_grant_added_after_a_birthday_works() {
    let app = spawn_app().await;
    let w = world(&app).await;
    // Fifteen today (the test clock's day), sixteen tomorrow.
    let identity = pupil(2010, 11, 24, 52);
    let c = app
        .created(
            "/api/v1/consents",
            sign_body(&w, &identity, json!([obtain(&w.school, "attendance")])),
        )
        .await;
    assert_eq!(c["age_at_signing"], 15);
    let path = format!("/api/v1/consents/{}/grants", c["id"].as_str().unwrap());
    let both = json!({ "choices": [obtain(&w.school, "attendance"), tell(&w.school, "health")], "evidence": evidence() });
    // At fifteen it is recorded, waiting for a guardian.
    let (status, v) = app.json(Method::PUT, &path, Some(both.clone())).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let waiting = v["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["category"] == "health" && g["withdrawn_at"].is_null())
        .unwrap();
    assert_eq!(waiting["guardian"]["state"], "pending", "{waiting}");

    app.clock.advance(2 * DAY);
    let (status, changed) = app.json(Method::PUT, &path, Some(both)).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    // Chosen again at sixteen: given alone, in place of the one that waited.
    let health = changed["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["category"] == "health" && g["withdrawn_at"].is_null())
        .unwrap();
    assert_eq!(health["age_at_grant"], 16);
    assert!(health.get("guardian").is_none(), "{health}");
    assert_eq!(
        changed["age_at_signing"], 15,
        "the consent keeps its own age"
    );

    // Decided by the grant's age, not the consent's: the school may be told.
    let pid = c["pupil_id"].as_str().unwrap();
    let (status, v) = app
        .post(
            "/api/v1/policy/explain",
            json!({ "org_id": w.school, "pupil_id": pid, "category": "health" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["decision"]["reason"], "allowed", "{v}");
    assert_eq!(v["decision"]["allowed"], true);
}

#[tokio::test]
async fn the_services_a_pupil_may_choose_are_those_where_they_live() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let elsewhere = app
        .created(
            "/api/v1/organisations",
            json!({ "name": "Barnevernstjenesten i Sundby", "number": crate::helpers::org_number(60),
                "org_type": "child_welfare", "municipality": "9002" }),
        )
        .await;
    let elsewhere = elsewhere["id"].as_str().unwrap().to_owned();
    let with_home = |identity: &str, choices: Value, home: Option<&str>| {
        let mut b = sign_body(&w, identity, choices);
        if let Some(h) = home {
            b["home_municipality"] = json!(h);
        }
        b
    };
    let cases = [
        (
            "where the pupil lives",
            tell(&elsewhere, "living_situation"),
            Some("9002"),
            201,
            None,
        ),
        (
            "the school's, for a pupil who lives elsewhere",
            tell(&w.child_welfare, "living_situation"),
            Some("9002"),
            422,
            Some("org-outside-network"),
        ),
        (
            "elsewhere, for a pupil who lives where the school is",
            tell(&elsewhere, "living_situation"),
            None,
            422,
            Some("org-outside-network"),
        ),
        (
            "the school stays the school's",
            obtain(&w.school, "attendance"),
            Some("9002"),
            201,
            None,
        ),
        (
            "not a municipality number",
            obtain(&w.school, "attendance"),
            Some("Sundby"),
            422,
            Some("invalid-field"),
        ),
    ];
    for (n, (name, choice, home, status, problem)) in cases.into_iter().enumerate() {
        let identity = pupil(2008, 3, 3, 60 + n as u16);
        let (got, v) = app
            .post(
                "/api/v1/consents",
                with_home(&identity, json!([choice]), home),
            )
            .await;
        assert_eq!(got.as_u16(), status, "{name}: {v}");
        match problem {
            Some(p) => assert_eq!(v["type"], format!("urn:samtykke:problem:{p}"), "{name}"),
            None => assert_eq!(v["home_municipality"], json!(home), "{name}"),
        }
    }
}

/// The demo pupil who withdrew everything: the school still tells OT by law that
/// they left, and their page says so.
#[tokio::test]
async fn the_pupil_sees_what_was_shared_by_law() {
    let app = spawn_pages(|_| {}).await;
    let orgs = app.services.orgs().await.unwrap();
    let find = |name: &str| orgs.iter().find(|o| o.name == name).unwrap().clone();
    let (school, ot) = (
        find("Fjordvik videregående skole"),
        find("Oppfølgingstjenesten i Fjordvik"),
    );
    let partner = Partner::new("ot-law");
    register(
        &app,
        &partner,
        &ot.id.to_string(),
        &["pupil:course_status:read"],
    )
    .await;
    let third = samtykke::demo::demo_pupil_numbers()[2].expose_digits();
    let (status, t) = token(
        &app,
        &partner,
        "pupil:course_status:read",
        &third,
        school.number.as_str(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");

    let mut b = Browser::new(&app.base);
    b.dev_login(&third, SUBSTANTIAL).await;
    let page = b.get("/me/access-log").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has("Fikk (loven krever det)"), "{}", page.body);
    assert!(page.has("Skolegang"));
}
