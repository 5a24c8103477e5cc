//! A database the release before disclosures left (tests/fixtures/v1: its demo, on
//! SQLite and on PostgreSQL) is moved forward at start: every old grant becomes "the
//! tutor may tell the organisation", the catalogue becomes this release's, and for
//! the pupils nothing changes: their pages show what they chose, every decision
//! about their grants comes out as the old release decided it, and partners'
//! tokens are decided as then.

use reqwest::StatusCode;
use samtykke::config::Backend;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::browser::Browser;
use crate::helpers::spawn_prepared;
use crate::pages::SUBSTANTIAL;
use crate::partner::Partner;
use crate::tokens::{register, token};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1");

fn fixture_keys() -> (String, String) {
    let env = std::fs::read_to_string(format!("{FIXTURE}/keys.env")).unwrap();
    let get = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_owned()
    };
    (get("SAMTYKKE_HMAC_KEY"), get("SAMTYKKE_KEK"))
}

/// A year, as the old release counted time (milliseconds).
const YEAR: i64 = 365 * 24 * 3600 * 1000;

/// Loads the old release's database where the test's database is to be. The
/// sixteen-year-old's consent is moved a year back, as if signed at fifteen: its
/// grants are then ones added after a birthday, which the old release checked at
/// the age they were given.
async fn load(url: String, backend: Backend, dir: std::path::PathBuf) {
    let back_a_year = format!(
        "UPDATE consents SET signed_at = signed_at - {YEAR}, valid_from = valid_from - {YEAR}, \
         age_at_signing = 15 WHERE age_at_signing = 16"
    );
    match backend {
        Backend::Sqlite => {
            let file = dir.join("samtykke.db");
            std::fs::copy(format!("{FIXTURE}/samtykke.db"), &file).unwrap();
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
                .await
                .unwrap();
            sqlx::raw_sql(&back_a_year).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let dump = std::fs::read_to_string(format!("{FIXTURE}/postgres.sql")).unwrap();
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(&dump).execute(&mut c).await.unwrap();
            // The dump empties the search path of its connection: use another.
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(&back_a_year).execute(&mut c).await.unwrap();
        }
    }
}

#[tokio::test]
async fn consents_from_before_disclosures_move_forward_unchanged_for_their_pupils() {
    let on_postgres = std::env::var("SAMTYKKE_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{FIXTURE}/{}",
            if on_postgres {
                "expected.postgres.json"
            } else {
                "expected.json"
            }
        ))
        .unwrap(),
    )
    .unwrap();
    let (hmac, kek) = fixture_keys();
    let at = expected["at"].as_i64().unwrap() + 60_000;
    let app = spawn_prepared(load, (&hmac, &kek), at).await;

    // This release's catalogue, the old one's categories kept and retired.
    let catalogue = app.get("/api/v1/catalogue").await;
    assert_eq!(catalogue["version"], 2, "{catalogue}");
    let retired = catalogue["category"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "adapted_education")
        .unwrap();
    assert_eq!(retired["retired"], true);

    // Every old grant: the tutor told the organisation, at the age of signing, or
    // for one added later, at the age it was given.
    let consents = app.get("/api/v1/consents?limit=500").await;
    let consents = consents.as_array().unwrap();
    assert_eq!(consents.len(), 3);
    for c in consents {
        let later = c["age_at_signing"] == 15;
        for g in c["grants"].as_array().unwrap() {
            assert_eq!(g["discloser"], json!({ "kind": "tutor" }), "{g}");
            assert_eq!(g["recipient"]["kind"], "org");
            assert_eq!(g["legacy"], true);
            let in_force = g["withdrawn_at"].is_null();
            let want = if later && in_force {
                16
            } else {
                c["age_at_signing"].as_i64().unwrap()
            };
            assert_eq!(g["age_at_grant"], want, "{g}");
        }
    }

    // Every decision about every grant, as the old release made it.
    let orgs = app.get("/api/v1/organisations").await;
    let org = |name: &str| {
        orgs.as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()
            .clone()
    };
    let decisions = expected["decisions"].as_array().unwrap();
    assert!(decisions.len() >= 10, "{expected}");
    for d in decisions {
        let (status, v) = app
            .post(
                "/api/v1/policy/explain",
                json!({ "org_id": org(d["org"].as_str().unwrap())["id"], "pupil_id": d["pupil_id"], "category": d["category"] }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(
            (&v["decision"]["allowed"], &v["decision"]["reason"]),
            (&d["allowed"], &d["reason"]),
            "{d}"
        );
    }

    // The first demo pupil's page shows what they chose, in the words they signed.
    let first = samtykke::demo::demo_pupil_numbers()[0].expose_digits();
    let mut b = Browser::new(&app.base);
    b.dev_login(&first, SUBSTANTIAL).await;
    let page = b.get("/me/consents").await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Fjordvik videregående skole kan se:",
        "Fravær",
        "Karakterer",
        "Tilpasset opplæring",
        "Oppfølgingstjenesten i Fjordvik kan se:",
    ] {
        assert!(page.has(text), "{text}: {}", page.body);
    }

    // A partner's token from the consent's own school is decided as then.
    let ot = org("Oppfølgingstjenesten i Fjordvik");
    let partner = Partner::new("ot-after-migration");
    register(
        &app,
        &partner,
        ot["id"].as_str().unwrap(),
        &["pupil:attendance:read"],
    )
    .await;
    let school = org("Fjordvik videregående skole");
    let (status, t) = token(
        &app,
        &partner,
        "pupil:attendance:read",
        &first,
        school["number"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["scope"], "pupil:attendance:read");
}
