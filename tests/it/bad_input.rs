//! What each bad input gets: a precise 4xx problem, and nothing written.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{count, direct, obtain, org_number, pupil, sign_body, spawn_app, tell, world};

#[tokio::test]
async fn bad_requests_to_create_an_organisation() {
    let app = spawn_app().await;
    app.created(
        "/api/v1/organisations",
        json!({ "name": "PPT", "number": org_number(1), "org_type": "ppt" }),
    )
    .await;
    let url = format!("{}/api/v1/organisations", app.base);
    let big = "x".repeat(70 * 1024);
    // (case, content type, body, status, problem type, field)
    type Case<'a> = (
        &'a str,
        &'a str,
        String,
        StatusCode,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            "application/json",
            "{\"name\":".into(),
            StatusCode::BAD_REQUEST,
            "malformed-json",
            None,
        ),
        (
            "not JSON at all",
            "application/json",
            "<xml/>".into(),
            StatusCode::BAD_REQUEST,
            "malformed-json",
            None,
        ),
        (
            "wrong media type",
            "text/plain",
            "{}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            None,
        ),
        (
            "oversized body",
            "application/json",
            format!("{{\"name\":\"{big}\"}}"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            None,
        ),
        (
            "unknown field",
            "application/json",
            json!({ "name": "A", "number": org_number(2), "org_type": "ppt", "admin": true })
                .to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-field",
            None,
        ),
        (
            "missing field",
            "application/json",
            json!({ "name": "A", "org_type": "ppt" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing-field",
            None,
        ),
        (
            "wrong type",
            "application/json",
            json!({ "name": 5, "number": org_number(2), "org_type": "ppt" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            Some("name"),
        ),
        (
            "bad check digit",
            "application/json",
            json!({ "name": "A", "number": "123456789", "org_type": "ppt" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-org-number",
            Some("number"),
        ),
        (
            "eight digits",
            "application/json",
            json!({ "name": "A", "number": "12345678", "org_type": "ppt" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-org-number",
            Some("number"),
        ),
        (
            "unknown type",
            "application/json",
            json!({ "name": "A", "number": org_number(2), "org_type": "bank" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            Some("org_type"),
        ),
        (
            "malformed type",
            "application/json",
            json!({ "name": "A", "number": org_number(2), "org_type": "Bank!" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            Some("org_type"),
        ),
        (
            "empty name",
            "application/json",
            json!({ "name": " ", "number": org_number(2), "org_type": "ppt" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            Some("name"),
        ),
        (
            "control characters",
            "application/json",
            json!({ "name": "A\u{0}B", "number": org_number(2), "org_type": "ppt" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            Some("name"),
        ),
        (
            "number taken",
            "application/json",
            json!({ "name": "B", "number": org_number(1), "org_type": "ppt" }).to_string(),
            StatusCode::CONFLICT,
            "conflict",
            None,
        ),
    ];
    for (name, ctype, body, status, kind, field) in cases {
        let res = app
            .http
            .post(&url)
            .bearer_auth(&app.token)
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{name}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{name}"
        );
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(
            v["type"],
            format!("urn:samtykke:problem:{kind}"),
            "{name}: {v}"
        );
        assert_eq!(v["status"], status.as_u16(), "{name}");
        if let Some(f) = field {
            assert_eq!(v["field"], f, "{name}");
        }
    }
    assert_eq!(
        count(&app, "organisations").await,
        1,
        "no bad request wrote anything"
    );
}

#[tokio::test]
async fn bad_requests_to_sign_a_consent() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let adult = pupil(2007, 6, 1, 1); // 19
    let sixteen = pupil(2010, 5, 2, 2); // 16
    let mut bad_check = adult.clone().into_bytes();
    bad_check[10] = if bad_check[10] == b'9' {
        b'0'
    } else {
        bad_check[10] + 1
    };
    let bad_check = String::from_utf8(bad_check).unwrap();
    let one = |org: &str, cat: &str| json!([obtain(org, cat)]);
    let draft = app
        .created("/api/v1/templates", json!({ "key": "other", "title": { "nb": "a", "nn": "a", "en": "a" }, "body": { "nb": "a", "nn": "a", "en": "a" } }))
        .await;
    let mut with_draft = sign_body(&w, &adult, one(&w.school, "attendance"));
    with_draft["template_id"] = draft["id"].clone();
    let mut unknown_network = sign_body(&w, &adult, one(&w.school, "attendance"));
    unknown_network["network_id"] = json!(uuid::Uuid::new_v4());
    let mut bad_purpose = sign_body(&w, &adult, one(&w.school, "attendance"));
    bad_purpose["purpose"] = json!("marketing");
    let mut no_evidence = sign_body(&w, &adult, one(&w.school, "attendance"));
    no_evidence["evidence"]["amr"] = json!([]);
    let mut extra = sign_body(&w, &adult, one(&w.school, "attendance"));
    extra["choices"][0]["note"] = json!("x");

    // (case, body, status, problem type, field)
    let cases = vec![
        (
            "bad check digits",
            sign_body(&w, &bad_check, one(&w.school, "attendance")),
            422,
            "invalid-identity-number",
            Some("identity_number"),
        ),
        (
            "ten digits",
            sign_body(&w, &adult[..10], one(&w.school, "attendance")),
            422,
            "invalid-identity-number",
            Some("identity_number"),
        ),
        (
            "letters",
            sign_body(&w, "abcdefghijk", one(&w.school, "attendance")),
            422,
            "invalid-identity-number",
            Some("identity_number"),
        ),
        (
            "unknown category",
            sign_body(&w, &adult, one(&w.school, "shoe_size")),
            422,
            "unknown-category",
            Some("choices[0].category"),
        ),
        (
            "organisation outside the network",
            sign_body(&w, &adult, one(&w.other_school, "attendance")),
            422,
            "org-outside-network",
            Some("choices[0]"),
        ),
        (
            "organisation that does not exist",
            sign_body(
                &w,
                &adult,
                one(&uuid::Uuid::new_v4().to_string(), "attendance"),
            ),
            422,
            "org-outside-network",
            Some("choices[0]"),
        ),
        (
            "nothing chosen",
            sign_body(&w, &adult, json!([])),
            422,
            "empty-choice",
            Some("choices"),
        ),
        (
            "chosen twice",
            sign_body(
                &w,
                &adult,
                json!([obtain(&w.school, "grades"), obtain(&w.school, "grades")]),
            ),
            422,
            "duplicate-choice",
            Some("choices[1]"),
        ),
        (
            "shared by law, not consent",
            sign_body(
                &w,
                &adult,
                json!([direct(&w.school, &w.ot, "course_status")]),
            ),
            422,
            "statutory-not-consent",
            Some("choices[0]"),
        ),
        (
            "a direction the agreement does not offer",
            sign_body(&w, &sixteen, json!([tell(&w.school, "grades")])),
            422,
            "not-offered",
            Some("choices[0]"),
        ),
        (
            "a category retired in 2024",
            sign_body(&w, &adult, one(&w.ppt, "special_education")),
            422,
            "not-offered",
            Some("choices[0]"),
        ),
        (
            "a role the organisation does not have",
            sign_body(
                &w,
                &adult,
                json!([{ "recipient": { "kind": "org", "org_id": w.ot, "role": "counsellor" }, "category": "followed_up" }]),
            ),
            422,
            "unknown-role",
            Some("choices[0].role"),
        ),
        (
            "nobody to be told",
            sign_body(&w, &adult, json!([{ "category": "attendance" }])),
            422,
            "no-recipient",
            Some("choices[0]"),
        ),
        (
            "the recipient named twice",
            sign_body(
                &w,
                &adult,
                json!([{ "recipient": { "kind": "tutor" }, "org_id": w.ot, "category": "work" }]),
            ),
            422,
            "no-recipient",
            Some("choices[0]"),
        ),
        (
            "an unknown kind of party",
            sign_body(
                &w,
                &adult,
                json!([{ "recipient": { "kind": "mayor" }, "category": "work" }]),
            ),
            422,
            "invalid-field",
            Some("choices[0].recipient.kind"),
        ),
        (
            "draft template",
            with_draft,
            422,
            "invalid-field",
            Some("template_id"),
        ),
        ("unknown network", unknown_network, 404, "not-found", None),
        (
            "unknown purpose",
            bad_purpose,
            422,
            "unknown-purpose",
            Some("purpose"),
        ),
        (
            "no authentication method",
            no_evidence,
            422,
            "invalid-field",
            Some("evidence.amr"),
        ),
        (
            "unknown field in a choice",
            extra,
            422,
            "unknown-field",
            Some("choices[0].note"),
        ),
    ];
    for (name, body, status, kind, field) in cases {
        let (got, v) = app.post("/api/v1/consents", body).await;
        assert_eq!(got.as_u16(), status, "{name}: {v}");
        assert_eq!(
            v["type"],
            format!("urn:samtykke:problem:{kind}"),
            "{name}: {v}"
        );
        if let Some(f) = field {
            assert_eq!(v["field"], f, "{name}: {v}");
        }
        let detail = v["detail"].as_str().unwrap_or_default();
        assert!(
            !detail.contains(&adult) && !detail.contains(&bad_check),
            "{name}: a problem never echoes the number"
        );
    }
    for table in ["consents", "consent_grants", "consent_events", "pupils"] {
        assert_eq!(
            count(&app, table).await,
            0,
            "{table}: a refused consent writes nothing"
        );
    }
    // A sixteen-year-old shares health data alone.
    app.created(
        "/api/v1/consents",
        sign_body(&w, &sixteen, one(&w.health, "health")),
    )
    .await;
}

#[tokio::test]
async fn bad_paths_and_queries() {
    let app = spawn_app().await;
    let cases = [
        ("/api/v1/consents/not-a-uuid", 400, "invalid-path"),
        ("/api/v1/consents?limit=lots", 400, "invalid-query"),
        ("/api/v1/consents?limit=100000", 422, "invalid-field"),
        ("/api/v1/consents?offset=-1", 422, "invalid-field"),
        ("/api/v1/consents?surprise=1", 400, "invalid-query"),
        (
            &*format!("/api/v1/consents/{}", uuid::Uuid::new_v4()),
            404,
            "not-found",
        ),
        ("/api/v1/nothing-here", 404, "not-found"),
    ];
    for (path, status, kind) in cases {
        let (got, v) = app.json(reqwest::Method::GET, path, None).await;
        assert_eq!(got.as_u16(), status, "{path}: {v}");
        assert_eq!(v["type"], format!("urn:samtykke:problem:{kind}"), "{path}");
    }
    let (got, v) = app
        .json(reqwest::Method::DELETE, "/api/v1/organisations", None)
        .await;
    assert_eq!(got, StatusCode::METHOD_NOT_ALLOWED, "{v}");
}
