//! Policy decisions over HTTP: AuthZEN for partners (uniform answers), explained
//! decisions for operators, runtime rules and reloads, and several instances.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::helpers::{
    direct, log_rows, pupil, sign_body, spawn_app, spawn_second, world, TestApp, World,
};
use crate::partner::{unsigned, Partner};
use samtykke::config::Backend;

/// PPT with a registered partner client, and a pupil who lets the school tell PPT
/// their absence and grades.
struct Scene {
    w: World,
    partner: Partner,
    school_number: String,
    identity: String,
    consent: String,
}

async fn scene(app: &TestApp) -> Scene {
    let w = world(app).await;
    let partner = Partner::new("ppt-case");
    app.created(
        "/api/v1/clients",
        json!({ "client_id": partner.client_id, "org_id": w.ppt, "name": "PPT case system",
            "scopes": ["pupil:attendance:read"], "jwks": partner.jwks }),
    )
    .await;
    let school = app.get(&format!("/api/v1/organisations/{}", w.ppt)).await;
    let identity = pupil(2008, 1, 15, 4);
    let c = app
        .created(
            "/api/v1/consents",
            sign_body(
                &w,
                &identity,
                json!([
                    direct(&w.school, &w.ppt, "attendance"),
                    direct(&w.school, &w.ppt, "grades")
                ]),
            ),
        )
        .await;
    Scene {
        w,
        partner,
        school_number: school["number"].as_str().unwrap().to_owned(),
        identity,
        consent: c["id"].as_str().unwrap().to_owned(),
    }
}

fn question(org: &str, identity: &str, category: &str) -> Value {
    json!({
        "subject": { "type": "organisation", "id": org },
        "resource": { "type": "pupil_data", "id": identity, "properties": { "category": category } },
        "action": { "name": "read" },
        "context": { "purpose": "follow_up" },
    })
}

impl TestApp {
    fn issuer(&self) -> String {
        "http://127.0.0.1".into()
    }

    async fn evaluate(&self, partner: &Partner, body: &Value) -> (StatusCode, String) {
        // A millisecond between questions keeps their recorded order unambiguous.
        self.clock.advance(1);
        self.evaluate_with(
            &partner.assertion(&self.issuer(), self.clock_now()),
            "/access/v1/evaluation",
            body,
        )
        .await
    }

    async fn evaluate_with(
        &self,
        assertion: &str,
        path: &str,
        body: &Value,
    ) -> (StatusCode, String) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(assertion)
            .json(body)
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    }

    fn clock_now(&self) -> i64 {
        use samtykke::clock::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn partners_get_a_decision_and_nothing_more() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let (status, body) = app
        .evaluate(
            &s.partner,
            &question(&s.school_number, &s.identity, "attendance"),
        )
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"decision":true}"#)
    );

    // Every kind of "no" is the same answer, byte for byte.
    let stranger = pupil(2007, 9, 9, 8);
    let nos = [
        (
            "no such pupil",
            question(&s.school_number, &stranger, "attendance"),
        ),
        (
            "not granted",
            question(&s.school_number, &s.identity, "contact_details"),
        ),
        ("not in the baseline", {
            let mut q = question(&s.school_number, &s.identity, "contact_details");
            q["action"]["name"] = json!("write");
            q
        }),
        (
            "nothing PPT is ever told",
            question(&s.school_number, &s.identity, "health"),
        ),
    ];
    let mut as_client = question(&s.school_number, &s.identity, "attendance");
    as_client["subject"] = json!({ "type": "client", "id": "ppt-case" });
    let (status, body) = app.evaluate(&s.partner, &as_client).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"decision":true}"#),
        "the client as subject"
    );
    for (name, q) in &nos {
        let (status, body) = app.evaluate(&s.partner, q).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, r#"{"decision":false}"#),
            "{name}"
        );
    }
    // A withdrawal flips the very next decision.
    let (st, _) = app
        .post(
            &format!("/api/v1/consents/{}/withdrawals", s.consent),
            json!({ "scope": "all" }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (status, body) = app
        .evaluate(
            &s.partner,
            &question(&s.school_number, &s.identity, "attendance"),
        )
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"decision":false}"#),
        "withdrawn"
    );

    // The real reasons are recorded, for the audit log and the pupil.
    let pid = app
        .post(
            "/api/v1/pupils/lookup",
            json!({ "identity_number": s.identity }),
        )
        .await
        .1["pupil_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pupil = uuid::Uuid::parse_str(&pid).unwrap();
    let rows: Vec<(samtykke::audit::Record, samtykke::audit::event::Decided)> =
        crate::helpers::log_records(&app)
            .await
            .into_iter()
            .filter(|r| r.pupil == Some(pupil))
            .filter_map(|r| match &r.event {
                samtykke::audit::Event::Decision(d) => {
                    let d = d.clone();
                    Some((r, d))
                }
                _ => None,
            })
            .collect();
    let reasons: Vec<&str> = rows.iter().map(|(_, d)| d.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "allowed",
            "allowed",
            "not_granted",
            "not_in_baseline",
            "not_in_baseline",
            "consent_withdrawn"
        ]
    );
    assert!(rows
        .iter()
        .all(|(r, _)| r.actor.to_string() == "client:ppt-case" && r.request_id.is_some()));
    assert_eq!(
        crate::helpers::log_records(&app)
            .await
            .iter()
            .filter(|r| matches!(r.event, samtykke::audit::Event::Decision(_)))
            .count(),
        7,
        "the unknown pupil's decision is recorded too"
    );
}

#[tokio::test]
async fn batch_evaluations_use_defaults_and_answer_in_order() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let body = json!({
        "subject": { "type": "organisation", "id": s.school_number },
        "action": { "name": "read" },
        "context": { "purpose": "follow_up" },
        "evaluations": [
            { "resource": { "type": "pupil_data", "id": s.identity, "properties": { "category": "attendance" } } },
            { "resource": { "type": "pupil_data", "id": s.identity, "properties": { "category": "health" } } },
            { "resource": { "type": "pupil_data", "id": s.identity, "properties": { "category": "grades" } } },
        ],
    });
    let a = s.partner.assertion(&app.issuer(), app.clock_now());
    let (status, text) = app.evaluate_with(&a, "/access/v1/evaluations", &body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v,
        json!({ "evaluations": [{ "decision": true }, { "decision": false }, { "decision": true }] })
    );

    let mut bad = body.clone();
    bad["evaluations"][1]["resource"]["properties"]["category"] = json!("shoe_size");
    let a = s.partner.assertion(&app.issuer(), app.clock_now());
    let (status, text) = app.evaluate_with(&a, "/access/v1/evaluations", &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    let cfg: Value = reqwest::get(format!("{}/.well-known/authzen-configuration", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        cfg["access_evaluations_endpoint"],
        "http://127.0.0.1/access/v1/evaluations"
    );
}

/// The database's write transactions so far, as `/metrics` reports them.
async fn commits(app: &TestApp) -> u64 {
    let text = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("samtykke_database_commits_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_batch_of_a_hundred_decisions_is_one_durable_commit() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let one = |i: usize| {
        let category = ["attendance", "grades", "health"][i % 3];
        json!({ "resource": { "type": "pupil_data", "id": s.identity,
            "properties": { "category": category } } })
    };
    let body = json!({
        "subject": { "type": "organisation", "id": s.school_number },
        "action": { "name": "read" },
        "evaluations": (0..100).map(one).collect::<Vec<_>>(),
    });
    let (entries, before) = (log_rows(&app).await.len(), commits(&app).await);
    let a = s.partner.assertion(&app.issuer(), app.clock_now());
    let (status, text) = app.evaluate_with(&a, "/access/v1/evaluations", &body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        commits(&app).await - before,
        1,
        "one commit for the batch and its jti"
    );
    assert_eq!(
        log_rows(&app).await.len() - entries,
        100,
        "one entry per decision"
    );
    // The same assertion again: refused, and only the refusal is written.
    let (status, _) = app.evaluate_with(&a, "/access/v1/evaluations", &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(log_rows(&app).await.len() - entries, 101);
}

#[tokio::test]
async fn bad_questions_get_a_precise_error_and_never_an_allow() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let mut unknown_purpose = question(&s.school_number, &s.identity, "attendance");
    unknown_purpose["context"]["purpose"] = json!("marketing");
    let mut bad_action = question(&s.school_number, &s.identity, "attendance");
    bad_action["action"]["name"] = json!("delete");
    let other_org = app
        .get(&format!("/api/v1/organisations/{}", s.w.health))
        .await["number"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (
            "unknown category",
            question(&s.school_number, &s.identity, "shoe_size"),
            422,
            Some("resource.properties.category"),
        ),
        (
            "unknown purpose",
            unknown_purpose,
            422,
            Some("context.purpose"),
        ),
        ("unknown action", bad_action, 422, Some("action.name")),
        (
            "bad organisation number",
            question("123456789", &s.identity, "attendance"),
            422,
            Some("subject.id"),
        ),
        (
            "unknown organisation",
            question(&crate::helpers::org_number(77), &s.identity, "attendance"),
            422,
            Some("subject.id"),
        ),
        (
            "not an identity number",
            question(&s.school_number, "12345678901", "attendance"),
            422,
            Some("resource.id"),
        ),
        (
            "another organisation's question",
            question(&other_org, &s.identity, "attendance"),
            403,
            None,
        ),
        (
            "another client's question",
            {
                let mut q = question(&s.school_number, &s.identity, "attendance");
                q["subject"] = json!({ "type": "client", "id": "ot-case" });
                q
            },
            403,
            None,
        ),
        (
            "no subject",
            json!({ "resource": question(&s.school_number, &s.identity, "attendance")["resource"], "action": { "name": "read" } }),
            422,
            Some("subject"),
        ),
    ];
    for (name, body, status, field) in cases {
        let (got, text) = app.evaluate(&s.partner, &body).await;
        assert_eq!(got.as_u16(), status, "{name}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(
            v.get("decision").is_none(),
            "{name}: an error is never a decision"
        );
        if let Some(f) = field {
            assert_eq!(v["field"], f, "{name}: {v}");
        }
    }
    let a = s.partner.assertion(&app.issuer(), app.clock_now());
    let res = app
        .http
        .post(format!("{}/access/v1/evaluation", app.base))
        .bearer_auth(&a)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let a = s.partner.assertion(&app.issuer(), app.clock_now());
    let huge = json!({ "subject": { "type": "organisation", "id": "x".repeat(80_000) } });
    let (status, _) = app.evaluate_with(&a, "/access/v1/evaluation", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn client_assertions_are_checked_strictly() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let q = question(&s.school_number, &s.identity, "attendance");
    let aud = app.issuer();
    let now = app.clock_now();
    let p = &s.partner;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = p.claims(&aud, now);
        f(&mut c);
        p.sign(&c)
    };
    let stranger = Partner::new("school-admin");
    let replayed = p.assertion(&aud, now);
    let (status, _) = app
        .evaluate_with(&replayed, "/access/v1/evaluation", &q)
        .await;
    assert_eq!(status, StatusCode::OK);
    let cases: Vec<(&str, String)> = vec![
        ("replayed jti", replayed),
        (
            "wrong audience",
            with(&|c| c["aud"] = json!("https://elsewhere.example")),
        ),
        ("expired", with(&|c| c["exp"] = json!(now / 1000 - 1))),
        (
            "lives too long",
            with(&|c| c["exp"] = json!(now / 1000 + 600)),
        ),
        (
            "issued in the future",
            with(&|c| c["iat"] = json!(now / 1000 + 300)),
        ),
        (
            "exp as a string",
            with(&|c| c["exp"] = json!((now / 1000 + 60).to_string())),
        ),
        (
            "iat as a string",
            with(&|c| c["iat"] = json!((now / 1000).to_string())),
        ),
        (
            "missing jti",
            with(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        (
            "missing exp",
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "sub is not the client",
            with(&|c| c["sub"] = json!("someone-else")),
        ),
        (
            "unknown client",
            with(&|c| {
                c["iss"] = json!("nobody-here");
                c["sub"] = json!("nobody-here");
            }),
        ),
        ("signed by another key", stranger.assertion(&aud, now)),
        (
            "alg none",
            unsigned(json!({ "alg": "none", "typ": "JWT" }), &p.claims(&aud, now)),
        ),
        (
            "alg HS256",
            unsigned(
                json!({ "alg": "HS256", "typ": "JWT", "kid": p.kid }),
                &p.claims(&aud, now),
            ),
        ),
        ("not a JWT", "hello".into()),
    ];
    for (name, token) in cases {
        let (status, text) = app.evaluate_with(&token, "/access/v1/evaluation", &q).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "urn:samtykke:problem:invalid-client", "{name}");
    }
    let res = app
        .http
        .post(format!("{}/access/v1/evaluation", app.base))
        .json(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "no assertion at all"
    );
}

#[tokio::test]
async fn operators_see_the_reason_and_change_the_policy_at_run_time() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let pid = app
        .post(
            "/api/v1/pupils/lookup",
            json!({ "identity_number": s.identity }),
        )
        .await
        .1["pupil_id"]
        .clone();
    let explain =
        |category: &str| json!({ "org_id": s.w.ppt, "pupil_id": pid, "category": category });
    let (st, v) = app
        .post("/api/v1/policy/explain", explain("attendance"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["decision"]["allowed"], true);
    assert_eq!(
        v["decision"]["baseline_rule"],
        "p, ppt, attendance, read, follow_up, allow"
    );
    let (_, v) = app.post("/api/v1/policy/explain", explain("health")).await;
    assert_eq!(v["decision"]["reason"], "not_in_baseline");
    assert_eq!(v["decision"]["baseline_rule"], Value::Null);
    assert_eq!(v["decision"]["consent"], "not_granted");

    // A runtime deny rule wins over the file's allow, at once.
    let rule = app.created("/api/v1/policy/rules", json!({ "org_type": "ppt", "category": "attendance", "action": "*", "purpose": "*", "effect": "deny" })).await;
    let (_, v) = app
        .post("/api/v1/policy/explain", explain("attendance"))
        .await;
    assert_eq!(
        (
            v["decision"]["allowed"].as_bool(),
            v["decision"]["reason"].as_str()
        ),
        (Some(false), Some("baseline_denied"))
    );
    let policy = app.get("/api/v1/policy").await;
    assert!(policy["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "p, ppt, attendance, *, *, deny"));
    let (st, _) = app
        .json(
            Method::DELETE,
            &format!("/api/v1/policy/rules/{}", rule["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = app
        .post("/api/v1/policy/explain", explain("attendance"))
        .await;
    assert_eq!(v["decision"]["allowed"], true);

    let (st, v) = app.post("/api/v1/policy/rules", json!({ "org_type": "school", "category": "attendance", "action": "erase", "purpose": "*", "effect": "deny" })).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

#[tokio::test]
async fn a_policy_file_that_does_not_parse_leaves_the_policy_in_force() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("policies/model.conf", dir.path().join("model.conf")).unwrap();
    std::fs::copy("policies/baseline.csv", dir.path().join("baseline.csv")).unwrap();
    let policy_dir = dir.path().to_path_buf();
    let app = crate::helpers::spawn_with(move |s| s.policy_dir = policy_dir, false).await;
    let s = scene(&app).await;
    let q = question(&s.school_number, &s.identity, "attendance");
    assert_eq!(app.evaluate(&s.partner, &q).await.1, r#"{"decision":true}"#);

    std::fs::write(
        dir.path().join("baseline.csv"),
        "p, school, attendance, read\n",
    )
    .unwrap();
    let (st, v) = app.post("/api/v1/policy/reload", json!({})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("line 1"), "{v}");
    assert_eq!(
        app.evaluate(&s.partner, &q).await.1,
        r#"{"decision":true}"#,
        "the old policy stays"
    );

    // An edited file takes effect on reload, without a restart.
    let edited = std::fs::read_to_string("policies/baseline.csv").unwrap()
        + "\np, ppt, attendance, read, follow_up, deny\n";
    std::fs::write(dir.path().join("baseline.csv"), edited).unwrap();
    let (st, _) = app.post("/api/v1/policy/reload", json!({})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        app.evaluate(&s.partner, &q).await.1,
        r#"{"decision":false}"#
    );
}

/// Polls until `check` holds or a second has passed. Another instance's
/// notification travels through PostgreSQL in real time, so this is wall time.
#[allow(clippy::disallowed_methods)]
async fn within_a_second(mut check: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn several_instances_see_each_others_changes_within_a_second() {
    let a = Arc::new(spawn_app().await);
    if a.backend != Backend::Postgres {
        return; // One process owns an SQLite file; this is about PostgreSQL.
    }
    let s = scene(&a).await;
    let b = spawn_second(&a).await;
    let q = question(&s.school_number, &s.identity, "attendance");
    assert_eq!(b.evaluate(&s.partner, &q).await.1, r#"{"decision":true}"#);

    let (st, _) = a
        .post(
            &format!("/api/v1/consents/{}/withdrawals", s.consent),
            json!({ "scope": "all" }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        within_a_second(async || b.evaluate(&s.partner, &q).await.1 == r#"{"decision":false}"#)
            .await,
        "B saw A's withdrawal"
    );

    let again = a
        .created(
            "/api/v1/consents",
            sign_body(
                &s.w,
                &s.identity,
                json!([direct(&s.w.school, &s.w.ppt, "attendance")]),
            ),
        )
        .await;
    assert!(again["id"].is_string());
    assert!(
        within_a_second(async || b.evaluate(&s.partner, &q).await.1 == r#"{"decision":true}"#)
            .await,
        "B saw A's new consent"
    );

    a.created("/api/v1/policy/rules", json!({ "org_type": "ppt", "category": "attendance", "action": "read", "purpose": "follow_up", "effect": "deny" })).await;
    assert!(
        within_a_second(async || b.evaluate(&s.partner, &q).await.1 == r#"{"decision":false}"#)
            .await,
        "B saw A's rule"
    );

    // B keeps clients and organisations in memory; disabling one at A reaches it.
    let (st, _) = a
        .json(
            reqwest::Method::PATCH,
            &format!("/api/v1/organisations/{}", s.w.ppt),
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        within_a_second(async || b.evaluate(&s.partner, &q).await.0 == StatusCode::UNAUTHORIZED)
            .await,
        "B saw A disable the organisation"
    );
}

/// A partner may name who would tell it (`resource.properties.holder`): then only a
/// grant from that one counts.
#[tokio::test]
async fn a_question_that_names_the_holder_is_decided_for_that_holder() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let number = |org: &str| {
        let app = &app;
        let org = org.to_owned();
        async move {
            app.get(&format!("/api/v1/organisations/{org}")).await["number"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (school, ot) = (number(&s.w.school).await, number(&s.w.ot).await);
    let with_holder = |holder: Value| {
        let mut q = question(&s.school_number, &s.identity, "attendance");
        q["resource"]["properties"]["holder"] = holder;
        q
    };
    // (holder, status, answer): the school may tell PPT; OT was never chosen.
    let cases = [
        (json!(school), StatusCode::OK, Some(r#"{"decision":true}"#)),
        (json!(ot), StatusCode::OK, Some(r#"{"decision":false}"#)),
        (json!("123"), StatusCode::UNPROCESSABLE_ENTITY, None),
        (
            json!(crate::helpers::org_number(88)),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
        (json!(42), StatusCode::UNPROCESSABLE_ENTITY, None),
    ];
    for (holder, status, answer) in cases {
        let (got, body) = app.evaluate(&s.partner, &with_holder(holder.clone())).await;
        assert_eq!(got, status, "{holder}: {body}");
        if let Some(a) = answer {
            assert_eq!(body, a, "{holder}");
        } else {
            assert!(body.contains("resource.properties.holder"), "{body}");
        }
    }
}
