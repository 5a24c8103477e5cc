//! The storage layer's guarantees, on whichever backend the run uses.

use reqwest::StatusCode;
use samtykke::config::{Backend, Config};
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

use crate::helpers::{obtain, pupil, settings, sign_body, spawn_app, world, TestApp};

async fn exec(app: &TestApp, sql: &str) -> Result<u64, sqlx::Error> {
    let mut c = crate::helpers::direct_connection(app).await;
    sqlx::query(sql)
        .execute(&mut c)
        .await
        .map(|r| r.rows_affected())
}

#[tokio::test]
async fn history_rows_cannot_be_rewritten_behind_the_services_back() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let c = app
        .created(
            "/api/v1/consents",
            sign_body(
                &w,
                &pupil(2007, 3, 3, 1),
                json!([obtain(&w.school, "attendance")]),
            ),
        )
        .await;
    let cid = c["id"].as_str().unwrap();
    let (s, _) = app
        .post(
            &format!("/api/v1/consents/{cid}/withdrawals"),
            json!({ "scope": "all" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let refused = [
        "UPDATE consent_events SET kind = 'signed'",
        "DELETE FROM consent_events",
        "DELETE FROM consent_grants",
        "UPDATE consent_grants SET withdrawn_at = NULL",
        "UPDATE consent_grants SET category = 'health'",
        "UPDATE templates SET body_nb = 'changed'",
        "DELETE FROM templates",
    ];
    for sql in refused {
        assert!(
            exec(&app, sql).await.is_err(),
            "{sql} must be refused by the schema"
        );
    }
}

#[tokio::test]
async fn concurrent_withdrawals_take_effect_once() {
    let app = Arc::new(spawn_app().await);
    let w = world(&app).await;
    let c = app
        .created(
            "/api/v1/consents",
            sign_body(
                &w,
                &pupil(2007, 4, 4, 2),
                json!([
                    obtain(&w.school, "attendance"),
                    obtain(&w.ot, "contact_details")
                ]),
            ),
        )
        .await;
    let path = format!("/api/v1/consents/{}/withdrawals", c["id"].as_str().unwrap());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            app.post(&path, json!({ "scope": "all" })).await.0
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {}
            other => panic!("a racing withdrawal got {other}"),
        }
    }
    assert_eq!(ok, 1);
    let events = app
        .get(&format!(
            "/api/v1/consents/{}/events",
            c["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        events.as_array().unwrap().len(),
        2,
        "one signed, one withdrawn: {events}"
    );
}

#[tokio::test]
async fn identity_numbers_are_never_stored_in_clear() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let numbers: Vec<String> = (0..3)
        .map(|i| pupil(2007 + i, 1 + i as u8, 10, 3))
        .collect();
    for n in &numbers {
        app.created(
            "/api/v1/consents",
            sign_body(&w, n, json!([obtain(&w.school, "attendance")])),
        )
        .await;
        let (s, _) = app
            .post("/api/v1/pupils/lookup", json!({ "identity_number": n }))
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let dump = match app.backend {
        Backend::Sqlite => {
            // Fold the WAL into the file, then read every byte the database holds.
            exec(&app, "PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
            let mut bytes = Vec::new();
            for entry in std::fs::read_dir(app.dir.path()).unwrap() {
                let p = entry.unwrap().path();
                if p.to_string_lossy().contains("samtykke.db") {
                    bytes.extend(std::fs::read(p).unwrap());
                }
            }
            bytes
        }
        Backend::Postgres => {
            let mut c = crate::helpers::direct_connection(&app).await;
            let mut text = String::new();
            for table in [
                "organisations",
                "networks",
                "templates",
                "pupils",
                "consents",
                "consent_grants",
                "consent_events",
                "clients",
                "admin_tokens",
                "catalogue_versions",
            ] {
                let rows = sqlx::query(&format!(
                    "SELECT CAST(row_to_json(t) AS TEXT) AS j FROM {table} t"
                ))
                .fetch_all(&mut c)
                .await
                .unwrap();
                for r in rows {
                    text.push_str(&r.try_get::<String, _>("j").unwrap());
                }
            }
            text.into_bytes()
        }
    };
    assert!(dump.len() > 1000, "the dump holds the data");
    for n in &numbers {
        let hex_digits: String = n.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(
            !dump.windows(11).any(|win| win == n.as_bytes()),
            "an identity number is stored in clear"
        );
        let text = String::from_utf8_lossy(&dump);
        assert!(
            !text.contains(&hex_digits),
            "an identity number is stored as hex bytes"
        );
    }
}

#[tokio::test]
async fn the_service_refuses_a_schema_it_does_not_know() {
    let app = spawn_app().await;
    let checksum = match app.backend {
        Backend::Sqlite => "X'00'",
        Backend::Postgres => "'\\x00'::bytea",
    };
    exec(
        &app,
        &format!("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99991231000000, 'from the future', TRUE, {checksum}, 1)"),
    )
    .await
    .unwrap();
    let (s, v) = app.json(reqwest::Method::GET, "/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    let config =
        Config::from_settings(settings(&app.dir, app.database_url.clone(), false)).unwrap();
    let err = samtykke::build(config, Arc::new(samtykke::clock::ManualClock::new(0)))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("does not know"), "{err}");
}

#[tokio::test]
async fn a_restart_keeps_everything_and_mints_no_new_admin() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let n = pupil(2008, 8, 8, 4);
    app.created(
        "/api/v1/consents",
        sign_body(&w, &n, json!([obtain(&w.school, "attendance")])),
    )
    .await;
    let config = Config::from_settings(app.settings.clone()).unwrap();
    let again = samtykke::build(config, Arc::new(samtykke::clock::ManualClock::new(0)))
        .await
        .unwrap();
    assert!(again.first_admin_token.is_none());
    let identity = samtykke::domain::identity::IdentityNumber::parse(&n).unwrap();
    assert!(
        again
            .services
            .find_pupil(&identity)
            .await
            .unwrap()
            .is_some(),
        "the same keys find the same pupil"
    );
    assert_eq!(
        crate::helpers::count(&app, "catalogue_versions").await,
        1,
        "the catalogue is imported once"
    );
}

#[tokio::test]
async fn postgres_never_generates_keys() {
    let app = spawn_app().await;
    if app.backend != Backend::Postgres {
        return;
    }
    let mut s = app.settings.clone();
    s.hmac_key = None;
    s.kek = None;
    let err = samtykke::build(
        Config::from_settings(s).unwrap(),
        Arc::new(samtykke::clock::ManualClock::new(0)),
    )
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("no keys configured"), "{err}");
}
