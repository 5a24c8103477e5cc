//! The admin API as an operator uses it.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{count, log_records, org_number, spawn_app, spawn_demo, spawn_with, world};

#[tokio::test]
async fn health_ready_metrics_and_openapi() {
    let app = spawn_app().await;
    for (path, want) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let v: serde_json::Value = reqwest::get(format!("{}{path}", app.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["status"], want, "{path}");
    }
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "samtykke_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        ),
        "{metrics}"
    );

    let doc: serde_json::Value = reqwest::get(format!("{}/api/v1/openapi.json", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/organisations",
        "/api/v1/consents/{id}/withdrawals",
        "/api/v1/clients",
        "/api/v1/templates/{id}/publish",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["admin"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn admin_calls_need_a_valid_credential() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/organisations", app.base);
    let cases: [(&str, Option<&str>); 4] = [
        ("no header", None),
        ("wrong token", Some("Bearer sam_admin_nope")),
        ("wrong scheme", Some("Basic YWRtaW46YWRtaW4=")),
        ("empty bearer", Some("Bearer ")),
    ];
    for (name, header) in cases {
        let mut req = app.http.get(&url);
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v["type"], "urn:samtykke:problem:unauthorized", "{name}");
    }
}

#[tokio::test]
async fn organisations_networks_and_members() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let orgs = app.get("/api/v1/organisations").await;
    assert_eq!(orgs.as_array().unwrap().len(), 7);

    let net = app.get(&format!("/api/v1/networks/{}", w.network)).await;
    assert_eq!(net["school_id"], w.school.as_str());
    assert_eq!(net["member_ids"].as_array().unwrap().len(), 5);

    let (status, v) = app
        .post(
            &format!("/api/v1/networks/{}/members", w.network),
            json!({ "org_id": w.other_school }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = app
        .post(
            &format!("/api/v1/networks/{}/members", w.network),
            json!({ "org_id": w.other_school }),
        )
        .await;
    assert_eq!(
        (status, v["type"].as_str()),
        (StatusCode::CONFLICT, Some("urn:samtykke:problem:conflict"))
    );

    let (status, v) = app
        .json(
            Method::PATCH,
            &format!("/api/v1/organisations/{}", w.ppt),
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["enabled"], false);
}

#[tokio::test]
async fn published_templates_are_immutable() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let text = json!({ "nb": "ny", "nn": "ny", "en": "new" });
    let (status, v) = app
        .json(
            Method::PUT,
            &format!("/api/v1/templates/{}", w.template),
            Some(json!({ "title": text, "body": text })),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (status, _) = app
        .post(
            &format!("/api/v1/templates/{}/publish", w.template),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A new version starts as a draft that can be edited; its hash follows the text.
    let draft = app
        .created(
            "/api/v1/templates",
            json!({ "key": "follow_up", "title": text, "body": text }),
        )
        .await;
    assert_eq!(draft["version"], 2);
    assert_eq!(draft["status"], "draft");
    let id = draft["id"].as_str().unwrap();
    let other = json!({ "nb": "annen", "nn": "anna", "en": "other" });
    let (status, edited) = app
        .json(
            Method::PUT,
            &format!("/api/v1/templates/{id}"),
            Some(json!({ "title": other, "body": other })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(edited["content_hash"], draft["content_hash"]);
}

#[tokio::test]
async fn partner_clients_register_with_public_keys_only() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let jwk = json!({ "kty": "EC", "crv": "P-256", "kid": "k1", "x": "AAAA", "y": "BBBB" });
    let good = json!({ "client_id": "ot-case", "org_id": w.ot, "name": "OT case system", "scopes": ["pupil:attendance:read"], "jwks": { "keys": [jwk] } });
    let c = app.created("/api/v1/clients", good.clone()).await;
    assert_eq!(c["client_id"], "ot-case");
    let (status, _) = app.post("/api/v1/clients", good).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        app.get("/api/v1/clients/ot-case").await["org_id"],
        w.ot.as_str()
    );

    let private = json!({ "kty": "EC", "crv": "P-256", "kid": "k1", "x": "AAAA", "y": "BBBB", "d": "secret" });
    let cases = [
        (
            "private key",
            json!({ "client_id": "c1x", "org_id": w.ot, "name": "n", "scopes": ["pupil:attendance:read"], "jwks": { "keys": [private] } }),
            "jwks.keys[0]",
        ),
        (
            "unknown category scope",
            json!({ "client_id": "c2x", "org_id": w.ot, "name": "n", "scopes": ["pupil:shoe_size:read"], "jwks": { "keys": [jwk] } }),
            "scopes[0]",
        ),
        (
            "malformed scope",
            json!({ "client_id": "c3x", "org_id": w.ot, "name": "n", "scopes": ["admin"], "jwks": { "keys": [jwk] } }),
            "scopes[0]",
        ),
        (
            "no keys",
            json!({ "client_id": "c4x", "org_id": w.ot, "name": "n", "scopes": ["pupil:attendance:read"] }),
            "jwks",
        ),
        (
            "http jwks uri",
            json!({ "client_id": "c5x", "org_id": w.ot, "name": "n", "scopes": ["pupil:attendance:read"], "jwks_uri": "file:///etc/passwd" }),
            "jwks_uri",
        ),
    ];
    for (name, body, field) in cases {
        let (status, v) = app.post("/api/v1/clients", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {v}");
        assert_eq!(v["field"], field, "{name}");
    }
    let (status, v) = app
        .json(Method::GET, "/api/v1/clients/bad%20id", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

#[tokio::test]
async fn catalogue_is_versioned_and_validated() {
    let app = spawn_app().await;
    let cat = app.get("/api/v1/catalogue").await;
    let keys: Vec<&str> = cat["category"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    for k in [
        "contact_details",
        "attendance",
        "grades",
        "special_education",
        "financial_assistance",
        "housing_assistance",
        "health",
        "referral_source",
    ] {
        assert!(keys.contains(&k), "catalogue lacks {k}");
    }
    let health = cat["category"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "health")
        .unwrap();
    assert_eq!(health["age"]["alone_from"], 16);

    let new = json!({ "key": "transport", "name": { "nb": "Skyss", "nn": "Skyss", "en": "Transport" },
        "description": { "nb": "d", "nn": "d", "en": "d" }, "sensitivity": "ordinary", "age": { "alone_from": 15, "guardian_below": true } });
    let v = app.created("/api/v1/categories", new.clone()).await;
    assert_eq!(v["version"], 2);
    let (status, _) = app.post("/api/v1/categories", new).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let mut broken = cat.clone();
    broken["statutory"] =
        json!([{ "org_type": "nowhere", "category": "attendance", "provision": "x" }]);
    let (status, v) = app
        .json(Method::PUT, "/api/v1/catalogue", Some(broken))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["type"], "urn:samtykke:problem:invalid-catalogue");
}

#[tokio::test]
async fn demo_data_is_real_data() {
    let app = spawn_demo().await;
    assert_eq!(
        app.get("/api/v1/organisations")
            .await
            .as_array()
            .unwrap()
            .len(),
        10
    );
    let consents = app.get("/api/v1/consents").await;
    let states: Vec<&str> = consents
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 3);
    assert_eq!(
        states.iter().filter(|s| **s == "ended").count(),
        1,
        "{states:?}"
    );
    let client = app.get("/api/v1/clients/demo-school-admin").await;
    assert_eq!(client["jwks"]["keys"][0]["crv"], "P-256");
    // Every demo consent has its history.
    for c in consents.as_array().unwrap() {
        let events = app
            .get(&format!(
                "/api/v1/consents/{}/events",
                c["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(events[0]["kind"], "signed");
    }
    let _ = org_number(0);
}

/// Admin credentials are listed (never a token or hash), minted with a scope that
/// holds (a scraper reads `/metrics` and nothing else; a read credential changes
/// nothing), and revoked at once; the last credential with every right is kept.
#[tokio::test]
async fn admin_credentials_are_listed_scoped_and_revoked() {
    let app = spawn_with(|s| s.metrics_require_admin = Some(true), false).await;
    let listed = app.get("/api/v1/admin-credentials").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["scope"], "all");
    assert!(!listed.to_string().contains("sha256") && !listed.to_string().contains("token"));

    let mint = |label: &str, scope: &str| {
        let app = &app;
        let body = json!({ "label": label, "scope": scope });
        async move { app.created("/api/v1/admin-credentials", body).await }
    };
    let scraper = mint("Prometheus", "metrics").await;
    let reader = mint("Dashboard", "read").await;
    let as_holder = |v: &Value, method: Method, path: &str| {
        let req = app
            .http
            .request(method, format!("{}{path}", app.base))
            .bearer_auth(v["token"].as_str().unwrap());
        async move { req.send().await.unwrap().status() }
    };
    let org = json!({ "name": "X", "number": org_number(40), "org_type": "school" });
    // (holder, method, path, status)
    let table = [
        (&scraper, Method::GET, "/metrics", StatusCode::OK),
        (
            &scraper,
            Method::GET,
            "/api/v1/clients",
            StatusCode::FORBIDDEN,
        ),
        (&reader, Method::GET, "/metrics", StatusCode::OK),
        (&reader, Method::GET, "/api/v1/clients", StatusCode::OK),
        (
            &reader,
            Method::POST,
            "/api/v1/organisations",
            StatusCode::FORBIDDEN,
        ),
        (
            &reader,
            Method::POST,
            "/api/v1/admin-credentials",
            StatusCode::FORBIDDEN,
        ),
    ];
    for (holder, method, path, status) in table {
        let got = if method == Method::POST {
            app.http
                .post(format!("{}{path}", app.base))
                .bearer_auth(holder["token"].as_str().unwrap())
                .json(&org)
                .send()
                .await
                .unwrap()
                .status()
        } else {
            as_holder(holder, method.clone(), path).await
        };
        assert_eq!(got, status, "{} {method} {path}", holder["label"]);
    }
    assert_eq!(count(&app, "organisations").await, 0);

    let id = scraper["id"].as_str().unwrap();
    let (status, v) = app
        .post(&format!("/api/v1/admin-credentials/{id}/revoke"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["revoked_at"].is_i64());
    assert_eq!(
        as_holder(&scraper, Method::GET, "/metrics").await,
        StatusCode::UNAUTHORIZED
    );

    // The test's own credential is the last with every right.
    let own = listed[0]["id"].as_str().unwrap();
    let bad = [
        (
            json!({ "label": "", "scope": "all" }),
            "/api/v1/admin-credentials",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "label": "x", "scope": "root" }),
            "/api/v1/admin-credentials",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "label": "x", "scope": "all", "owner": "me" }),
            "/api/v1/admin-credentials",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "label": "<script>", "scope": "all" }),
            "/api/v1/admin-credentials",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (body, path, status) in bad {
        let (got, v) = app.post(path, body.clone()).await;
        assert_eq!(got, status, "{body}: {v}");
    }
    for (path, status) in [
        (
            format!("/api/v1/admin-credentials/{own}/revoke"),
            StatusCode::CONFLICT,
        ),
        (
            format!("/api/v1/admin-credentials/{}/revoke", uuid::Uuid::new_v4()),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/admin-credentials/not-an-id/revoke".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, v) = app.post(&path, json!({})).await;
        assert_eq!(got, status, "{path}: {v}");
    }
    assert_eq!(
        app.get("/api/v1/admin-credentials")
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let said: Vec<String> = log_records(&app)
        .await
        .into_iter()
        .filter_map(|r| match r.event {
            samtykke::audit::Event::Operator(o) if o.object == "credential" => {
                Some(o.detail["action"].as_str().unwrap_or_default().to_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        said.iter()
            .filter(|a| a.as_str() == "admin credential revoked")
            .count(),
        1,
        "{said:?}"
    );
}
