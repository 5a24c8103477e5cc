//! The tamper-evident audit log: an untouched chain verifies; each edit, deletion,
//! reordering or cut made behind samtykke's back is named by `samtykke audit verify`
//! and the API; several instances write one order; a SIGKILL loses nothing that was
//! acknowledged.

use reqwest::{Method, StatusCode};
use samtykke::config::Backend;
use serde_json::{json, Value};
use sqlx::Connection;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{direct, pupil, sign_body, spawn_app, spawn_second, world, TestApp, World};

const BIN: &str = env!("CARGO_BIN_EXE_samtykke");

/// Some of everything: organisations, a network, a template (world), a consent, a
/// withdrawal and decisions.
async fn activity(app: &TestApp) -> (World, String) {
    let w = world(app).await;
    let identity = pupil(2008, 1, 1, 41);
    let c = app
        .created(
            "/api/v1/consents",
            sign_body(
                &w,
                &identity,
                json!([
                    direct(&w.school, &w.ppt, "attendance"),
                    direct(&w.school, &w.ot, "attendance")
                ]),
            ),
        )
        .await;
    let pupil_id = c["pupil_id"].as_str().unwrap().to_owned();
    for category in ["attendance", "grades", "health"] {
        explain(app, &w.ppt, &pupil_id, category).await;
    }
    let (st, _) = app
        .post(
            &format!("/api/v1/consents/{}/withdrawals", c["id"].as_str().unwrap()),
            json!({ "scope": "organisation", "org_id": w.ot }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    (w, pupil_id)
}

async fn explain(app: &TestApp, org: &str, pupil: &str, category: &str) -> Value {
    let (st, v) = app
        .post(
            "/api/v1/policy/explain",
            json!({ "org_id": org, "pupil_id": pupil, "category": category }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

/// The `kind` of every entry, in order.
fn kinds(rows: &[samtykke::audit::Row]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn verify(app: &TestApp) -> Value {
    app.get("/api/v1/audit/verify").await
}

/// `samtykke audit verify` against the app's database: exit code and output.
async fn cli_verify(app: &TestApp) -> (i32, String) {
    let s = &app.settings;
    let out = tokio::process::Command::new(BIN)
        .args(["audit", "verify"])
        .current_dir(app.dir.path())
        .env_clear()
        .env("SAMTYKKE_DATABASE_URL", &s.database_url)
        .env("SAMTYKKE_HMAC_KEY", s.hmac_key.as_deref().unwrap())
        .env("SAMTYKKE_KEK", s.kek.as_deref().unwrap())
        .env("SAMTYKKE_LOG_FILTER", "warn")
        .output()
        .await
        .unwrap();
    code_and_output(&out)
}

fn code_and_output(out: &std::process::Output) -> (i32, String) {
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs SQL as someone with the database in hand: the append-only triggers are
/// switched off first, as an intruder would.
async fn behind_its_back(app: &TestApp, sql: &[&str]) {
    let mut c = crate::helpers::direct_connection(app).await;
    let off: &[&str] = match app.backend {
        Backend::Sqlite => &[
            "DROP TRIGGER IF EXISTS audit_log_no_update",
            "DROP TRIGGER IF EXISTS audit_log_no_delete",
        ],
        Backend::Postgres => &["ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"],
    };
    for q in off.iter().chain(sql) {
        sqlx::query(q).execute(&mut c).await.unwrap();
    }
}

#[tokio::test]
async fn an_untouched_log_verifies_and_covers_what_happened() {
    let app = spawn_app().await;
    let (_, pupil_id) = activity(&app).await;
    let report = verify(&app).await;
    assert_eq!(report["verified"], true, "{report}");
    let size = report["size"].as_i64().unwrap();
    let rows = crate::helpers::log_rows(&app).await;
    assert_eq!(rows.len() as i64, size);
    let kinds = kinds(&rows);
    for kind in [
        "admin.organisation",
        "admin.network",
        "admin.template",
        "pupil.enrolled",
        "consent.signed",
        "decision",
        "consent.withdrawn",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} is logged: {kinds:?}"
        );
    }
    // The pupil is named by the pseudonym only.
    assert!(rows.iter().any(|r| r.body.contains(&pupil_id)));
    let (code, out) = cli_verify(&app).await;
    assert_eq!(code, 0, "{out}");

    // A checkpoint signs the head; an exported range verifies offline from it.
    let (st, cp) = app.post("/api/v1/audit/checkpoints", json!({})).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(cp["size"], size);
    let export = app.get("/api/v1/audit/entries?after=3&limit=10000").await;
    let mut v = samtykke::audit::Verifier::after(3, export["prev_hash"].as_str().unwrap());
    for e in export["entries"].as_array().unwrap() {
        v.feed(&serde_json::from_value(e.clone()).unwrap()).unwrap();
    }
    assert_eq!(v.size(), size);
    assert_eq!(v.head(), cp["head"].as_str().unwrap());

    // The same offline with the binary: the export, the checkpoint, the public keys.
    let dir = app.dir.path();
    let jwks = reqwest::get(format!("{}/oauth/jwks", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(dir.join("export.json"), export.to_string()).unwrap();
    std::fs::write(dir.join("checkpoint.json"), cp.to_string()).unwrap();
    std::fs::write(dir.join("jwks.json"), jwks).unwrap();
    let offline = |file: &'static str| async move {
        let out = tokio::process::Command::new(BIN)
            .args([
                "audit",
                "verify-export",
                file,
                "--checkpoint",
                "checkpoint.json",
                "--jwks",
                "jwks.json",
            ])
            .current_dir(dir)
            .env_clear()
            .output()
            .await
            .unwrap();
        code_and_output(&out)
    };
    let (code, out) = offline("export.json").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"checkpoint_matched\": true"), "{out}");
    let mut bent = export.clone();
    let body = bent["entries"][2]["body"]
        .as_str()
        .unwrap()
        .replace("\"at\":", "\"at\":9");
    bent["entries"][2]["body"] = json!(body);
    std::fs::write(dir.join("bent.json"), bent.to_string()).unwrap();
    let (code, out) = offline("bent.json").await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 6"), "{out}");
    assert_eq!(verify(&app).await["checkpoints"], 1);
    // Bad ranges get a clear 4xx.
    for (q, status) in [
        ("after=-1", 422),
        ("limit=0", 422),
        ("limit=10001", 422),
        ("after=99999", 404),
        ("after=x", 400),
    ] {
        let (st, v) = app
            .json(Method::GET, &format!("/api/v1/audit/entries?{q}"), None)
            .await;
        assert_eq!(st.as_u16(), status, "{q}: {v}");
    }
}

/// An entry slipped in past the recorded end, or before the first, is found,
/// though the chain up to the end verifies; and the check reads the end once, at its start, so entries
/// appended while it runs are not a break.
#[tokio::test]
async fn an_entry_past_the_recorded_end_is_found() {
    let app = spawn_app().await;
    activity(&app).await;
    assert_eq!(verify(&app).await["verified"], true);
    behind_its_back(
        &app,
        &["INSERT INTO audit_log (seq, at, kind, actor, body, hash) \
           SELECT seq + 1000000, at, kind, actor, body, hash FROM audit_log WHERE seq = 1"],
    )
    .await;
    let report = verify(&app).await;
    assert_eq!(report["verified"], false, "{report}");
    let reason = report["broken"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("past the recorded end"), "{report}");

    // And one slipped in before the first.
    let app = spawn_app().await;
    activity(&app).await;
    behind_its_back(
        &app,
        &["INSERT INTO audit_log (seq, at, kind, actor, body, hash) \
           SELECT 0, at, kind, actor, body, hash FROM audit_log WHERE seq = 1"],
    )
    .await;
    let report = verify(&app).await;
    assert_eq!(report["verified"], false, "{report}");
    assert_eq!(report["broken"]["seq"], 0, "{report}");

    // And, where the schema lets one in (an SQLite key may be NULL), one with no
    // position at all.
    if app.backend == Backend::Sqlite {
        let app = spawn_app().await;
        activity(&app).await;
        behind_its_back(
            &app,
            &["INSERT INTO audit_log (seq, at, kind, actor, body, hash) \
               SELECT NULL, at, kind, actor, body, hash FROM audit_log WHERE seq = 1"],
        )
        .await;
        let report = verify(&app).await;
        assert_eq!(report["verified"], false, "{report}");
        let reason = report["broken"]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("without a position"), "{report}");
    }
}

#[tokio::test]
async fn every_tampering_is_named_at_the_entry_where_it_happened() {
    // Both halves of the chain are checked at once: breaks in either are named.
    let cases: [(&str, &[&str], i64); 6] = [
        (
            "an edited entry early on",
            &["UPDATE audit_log SET body = REPLACE(body, '\"at\":', '\"at\":1') WHERE seq = 3"],
            3,
        ),
        (
            "an edited entry",
            &["UPDATE audit_log SET body = REPLACE(body, '\"at\":', '\"at\":1') WHERE seq = 12"],
            12,
        ),
        (
            "a deleted entry",
            &["DELETE FROM audit_log WHERE seq = 12"],
            12,
        ),
        (
            "two entries swapped",
            &[
                "UPDATE audit_log SET seq = -1 WHERE seq = 12",
                "UPDATE audit_log SET seq = 12 WHERE seq = 13",
                "UPDATE audit_log SET seq = 13 WHERE seq = -1",
            ],
            12,
        ),
        (
            "the last entries cut off",
            &["DELETE FROM audit_log WHERE seq > 15"],
            16,
        ),
        (
            // Found where the entries stop, not after reading to the moved end.
            "the last entries cut off and the recorded end moved far past them",
            &[
                "DELETE FROM audit_log WHERE seq > 15",
                "UPDATE audit_head SET seq = 1000000000000000 WHERE id = 1",
            ],
            16,
        ),
    ];
    for (what, sql, seq) in cases {
        let app = spawn_app().await;
        activity(&app).await;
        assert_eq!(verify(&app).await["verified"], true);
        behind_its_back(&app, sql).await;
        let report = verify(&app).await;
        assert_eq!(report["verified"], false, "{what}: {report}");
        assert_eq!(report["broken"]["seq"], seq, "{what}: {report}");
        let (code, out) = cli_verify(&app).await;
        assert_eq!(code, 1, "{what}: {out}");
        assert!(out.contains(&format!("entry {seq}")), "{what}: {out}");
    }
}

#[tokio::test]
async fn the_log_is_append_only_where_it_lives() {
    let app = spawn_app().await;
    activity(&app).await;
    let mut c = crate::helpers::direct_connection(&app).await;
    for q in [
        "UPDATE audit_log SET kind = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
    ] {
        assert!(
            sqlx::query(q).execute(&mut c).await.is_err(),
            "{q} is refused"
        );
    }
}

#[tokio::test]
async fn several_instances_write_one_order() {
    let a = Arc::new(spawn_app().await);
    if a.backend != Backend::Postgres {
        return; // One process owns an SQLite file; this is about PostgreSQL.
    }
    let (w, pupil_id) = activity(&a).await;
    let b = Arc::new(spawn_second(&a).await);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (app, org, pupil) = (
            if i % 2 == 0 { a.clone() } else { b.clone() },
            w.school.clone(),
            pupil_id.clone(),
        );
        set.spawn(async move { explain(&app, &org, &pupil, "attendance").await });
    }
    set.join_all().await;
    let report = verify(&b).await;
    assert_eq!(report["verified"], true, "{report}");
    let rows = crate::helpers::log_rows(&a).await;
    assert!(
        rows.iter().enumerate().all(|(i, r)| r.seq == i as i64 + 1),
        "no gaps, no forks"
    );
}

/// Starts the binary on the app's database (the app itself only made the schema
/// and keys); returns the child and its base URL and admin token.
async fn serve_binary(app: &TestApp) -> (tokio::process::Child, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = &app.settings;
    let child = tokio::process::Command::new(BIN)
        .current_dir(app.dir.path())
        .env_clear()
        .env("SAMTYKKE_DATABASE_URL", &s.database_url)
        .env("SAMTYKKE_HMAC_KEY", s.hmac_key.as_deref().unwrap())
        .env("SAMTYKKE_KEK", s.kek.as_deref().unwrap())
        .env("SAMTYKKE_LISTEN", format!("127.0.0.1:{port}"))
        .env("SAMTYKKE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("SAMTYKKE_LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, base)
}

/// Signs consents for new pupils until the server stops answering; the ids of those
/// acknowledged.
async fn sign_until_stopped(base: String, token: String, w: World, day: u8) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut acked = Vec::new();
    for serial in 1..900 {
        let body = sign_body(
            &w,
            &pupil(2008, 3, day, serial),
            json!([
                direct(&w.school, &w.ppt, "attendance"),
                direct(&w.school, &w.ot, "attendance")
            ]),
        );
        let Ok(res) = http
            .post(format!("{base}/api/v1/consents"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
        else {
            break;
        };
        if res.status() != StatusCode::CREATED {
            eprintln!("signing stopped: {} {:?}", res.status(), res.text().await);
            break;
        }
        let Ok(v) = res.json::<Value>().await else {
            break;
        };
        acked.push(v["id"].as_str().unwrap().to_owned());
    }
    acked
}

/// Decisions and consent signatures at once, then SIGKILL: every acknowledged
/// decision is in the chain, every acknowledged consent is there whole, no consent
/// is there half (without its grants or its event), and the chain verifies.
#[tokio::test]
async fn a_sigkill_loses_no_acknowledged_entry() {
    let app = spawn_app().await;
    let (w, pupil_id) = activity(&app).await;
    let (mut child, base) = serve_binary(&app).await;
    let token = app.token.clone();
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (base, token, org, pupil, acked) = (
            base.clone(),
            token.clone(),
            w.school.clone(),
            pupil_id.clone(),
            acknowledged.clone(),
        );
        set.spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let res = http
                    .post(format!("{base}/api/v1/policy/explain"))
                    .bearer_auth(&token)
                    .json(&json!({ "org_id": org, "pupil_id": pupil, "category": "attendance" }))
                    .send()
                    .await;
                let Ok(res) = res else { break };
                if res.status() != StatusCode::OK {
                    break;
                }
                let Ok(v) = res.json::<Value>().await else {
                    break;
                };
                acked
                    .lock()
                    .unwrap()
                    .push(v["record"]["id"].as_str().unwrap().to_owned());
            }
        });
    }
    let signers: Vec<_> = (1..=3)
        .map(|day| {
            tokio::spawn(sign_until_stopped(
                base.clone(),
                token.clone(),
                w.clone(),
                day,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    set.join_all().await;
    let mut signed = Vec::new();
    for s in signers {
        signed.extend(s.await.unwrap());
    }
    assert!(!signed.is_empty(), "consents were being signed");
    let acked = acknowledged.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "the server was busy: {} answers",
        acked.len()
    );

    // Read what survived with a fresh connection, as after a restart.
    let mut c = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    let bodies: Vec<String> =
        sqlx::query_scalar("SELECT body FROM audit_log WHERE kind = 'decision'")
            .fetch_all(&mut c)
            .await
            .unwrap();
    let logged: std::collections::HashSet<String> = bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["detail"]["decision"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !logged.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged but not in the log: {lost:?}");
    for id in &signed {
        let grants: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM consent_grants WHERE consent_id = $1")
                .bind(id)
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert_eq!(grants, 2, "acknowledged consent {id} is there whole");
    }
    let half: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM consents c WHERE NOT EXISTS (SELECT 1 FROM consent_grants g WHERE g.consent_id = c.id) OR NOT EXISTS (SELECT 1 FROM consent_events e WHERE e.consent_id = c.id)",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(half, 0, "no consent is stored half");
    let (code, out) = cli_verify(&app).await;
    assert_eq!(code, 0, "the chain verifies after the kill: {out}");
}

#[tokio::test]
async fn expiry_and_erasure_are_logged_and_the_chain_still_verifies() {
    let app = spawn_app().await;
    let (_, pupil_id) = activity(&app).await;
    app.clock.advance(366 * samtykke::clock::DAY);
    assert_eq!(app.services.expire_due().await.unwrap(), 1);
    assert_eq!(app.services.expire_due().await.unwrap(), 0, "recorded once");
    let (st, _) = app
        .post(&format!("/api/v1/pupils/{pupil_id}/erasure"), json!({}))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let rows = crate::helpers::log_rows(&app).await;
    let kinds = kinds(&rows);
    for kind in ["consent.expired", "pupil.erased", "consent.erased"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }
    assert_eq!(
        verify(&app).await["verified"],
        true,
        "erasure leaves the chain intact"
    );
}
