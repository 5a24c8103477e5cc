//! The compliance console as staff use it: a compliance officer logs in, checks the
//! chain, searches, exports and opens a pupil's access report; a tutor and a stranger
//! cannot get in; statistics publish no count under 5.

use reqwest::StatusCode;
use samtykke::demo::{demo_pupil_numbers, demo_staff};

use crate::browser::{fields, Browser};
use crate::helpers::{spawn_pages, TestApp};
use crate::pages::SUBSTANTIAL;

pub async fn staff_login(app: &TestApp, role: &str) -> Browser {
    let (n, _) = demo_staff().into_iter().find(|(_, r)| *r == role).unwrap();
    let mut b = Browser::new(&app.base);
    let cb = b
        .dev_login_to("/console/login", &n.expose_digits(), SUBSTANTIAL)
        .await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    assert_eq!(cb.location.as_deref(), Some("/console"));
    // A console link from before the console had its own login goes there, and
    // never logs staff in as a pupil.
    let old = Browser::new(&app.base)
        .get("/auth/login?return=%2Fconsole%2Flog")
        .await;
    assert_eq!(old.location.as_deref(), Some("/console/login"));
    b
}

#[tokio::test]
async fn a_compliance_officer_checks_searches_exports_and_reports() {
    let app = spawn_pages(|_| {}).await;
    let mut b = staff_login(&app, "compliance_officer").await;
    let pupil = demo_pupil_numbers()[0].expose_digits();

    let home = b.get("/console").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home.has("Personvernkonsoll") && home.has("Ikke kontrollert siden tjenesten startet"));
    let csrf = home.input("csrf").unwrap();
    let verified = b.post("/console/verify", &fields(&[("csrf", &csrf)])).await;
    assert_eq!(verified.status, StatusCode::SEE_OTHER);
    let home = b.get("/console").await;
    assert!(
        home.has("alle hasher og sjekkpunkter er intakte"),
        "{}",
        home.body
    );
    assert!(home.has("Ingenting i denne perioden"), "no decisions yet");
    let me = app
        .services
        .find_pupil(&demo_pupil_numbers()[0])
        .await
        .unwrap()
        .unwrap();
    let school = crate::pages::fjordvik(&app).await;
    let school = app
        .services
        .network(school.parse().unwrap())
        .await
        .unwrap()
        .school_id;
    let ot = app
        .services
        .orgs()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.org_type.as_str() == "ot")
        .unwrap()
        .id;
    // The school may tell OT the demo pupil's absence; nobody is told their health.
    for (org, category, allowed) in [(ot, "attendance", true), (school, "health", false)] {
        let (st, v) = app
            .post(
                "/api/v1/policy/explain",
                serde_json::json!({ "org_id": org, "pupil_id": me, "category": category }),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(v["decision"]["allowed"], allowed, "{v}");
    }
    let home = b.get("/console").await;
    assert!(home.has("<svg role=\"img\""), "charts are drawn");
    assert!(home.has("Ingenting uvanlig."));
    // A burst of denials raises an alert.
    for _ in 0..25 {
        let (st, _) = app
            .post("/api/v1/policy/explain", serde_json::json!({ "org_id": school, "pupil_id": me, "category": "contact_reasons" }))
            .await;
        assert_eq!(st, StatusCode::OK);
    }
    let home = b.get("/console").await;
    assert!(
        home.has("beslutninger den siste timen var avslag"),
        "{}",
        home.body
    );

    // Find a pupil by number (in a POST body); only the pseudonym goes on.
    let found = b
        .post(
            "/console/log/pupil",
            &fields(&[("csrf", &csrf), ("pid", &pupil)]),
        )
        .await;
    assert_eq!(found.status, StatusCode::SEE_OTHER);
    let to = found.location.unwrap();
    assert!(to.starts_with("/console/log?pupil=") && !to.contains(&pupil));
    let log = b.get(&to).await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(log.has("consent.signed") && !log.has(&pupil));
    let pseudonym = to.trim_start_matches("/console/log?pupil=").to_owned();

    // Filters, paging and exports.
    let decisions = b.get("/console/log?kind=decision&outcome=allowed").await;
    assert_eq!(decisions.status, StatusCode::OK);
    let csv = b.get(&format!("/console/log.csv?pupil={pseudonym}")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(csv
        .body
        .starts_with("seq,at,kind,actor,pupil,detail,request_id"));
    assert!(csv.body.contains("consent.signed") && !csv.body.contains(&pupil));
    let json = b.get(&format!("/console/log.json?pupil={pseudonym}")).await;
    let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert!(!v["entries"].as_array().unwrap().is_empty());

    // The access report, on a page and as a download.
    let report = b.get(&format!("/console/pupils/{pseudonym}")).await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(report.has("Innsynsrapport"));
    let download = b
        .get(&format!("/console/pupils/{pseudonym}/report.json"))
        .await;
    let r: serde_json::Value = serde_json::from_str(&download.body).unwrap();
    assert_eq!(r["pupil"], pseudonym.as_str());
    assert!(
        !r["consents"].as_array().unwrap().is_empty()
            && !r["audit_log"].as_array().unwrap().is_empty()
    );
    assert!(
        !download.body.contains(&pupil),
        "no identity number in the report"
    );

    // Statistics: the demo's three pupils are too few to publish any count.
    let stats = b.get("/console/statistics?year=2026").await;
    assert_eq!(stats.status, StatusCode::OK);
    assert!(stats.has("<td>&#60;5</td>"), "{}", stats.body);
    let csv = b.get("/console/statistics.csv?year=2026").await;
    assert!(csv.body.contains("\"<5\""));
    for line in csv.body.lines().skip(1) {
        let value = line.rsplit(',').next().unwrap().trim_matches('"');
        assert!(
            value == "<5" || value.parse::<u64>().unwrap() >= 5,
            "{line}"
        );
    }

    // Bad input gets a clear page.
    for (path, status) in [
        ("/console/log?page=0", StatusCode::BAD_REQUEST),
        ("/console/log?org=nope", StatusCode::BAD_REQUEST),
        ("/console/log?from=2026-13-40", StatusCode::BAD_REQUEST),
        (
            "/console/log?category=%3Cscript%3E",
            StatusCode::BAD_REQUEST,
        ),
        ("/console/pupils/not-a-uuid", StatusCode::NOT_FOUND),
        ("/console/statistics?year=99", StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(b.get(path).await.status, status, "{path}");
    }
    let nobody = b
        .post(
            "/console/log/pupil",
            &fields(&[("csrf", &csrf), ("pid", "15810950185")]),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    let no_csrf = b.post("/console/verify", &fields(&[])).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_tutor_and_a_stranger_cannot_open_the_console() {
    let app = spawn_pages(|_| {}).await;
    let mut tutor = staff_login(&app, "tutor").await;
    for path in [
        "/console",
        "/console/log",
        "/console/statistics",
        "/console/log.csv",
    ] {
        let page = tutor.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.has("Rollen din gir ikke tilgang"));
    }
    let mut stranger = Browser::new(&app.base);
    let page = stranger.get("/console").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // A pupil's login is not a staff login.
    let mut pupil = Browser::new(&app.base);
    pupil
        .dev_login(&demo_pupil_numbers()[1].expose_digits(), SUBSTANTIAL)
        .await;
    assert_eq!(pupil.get("/console").await.status, StatusCode::SEE_OTHER);
}

/// An export larger than a page (`EXPORT_PAGE`) is streamed, not built whole: it
/// arrives chunked, every matching entry once, newest first, across the pages.
#[tokio::test]
async fn a_large_export_streams_every_entry_once_newest_first() {
    use samtykke::service::{Ask, OrgRef, PupilRef, EXPORT_PAGE};
    let app = spawn_pages(|_| {}).await;
    let orgs = app.get("/api/v1/organisations").await;
    let ask = Ask {
        org: OrgRef::Id(orgs[0]["id"].as_str().unwrap().parse().unwrap()),
        pupil: PupilRef::Identity(demo_pupil_numbers().remove(0)),
        category: "attendance".into(),
        action: "read".into(),
        purpose: "follow_up".into(),
        holder: None,
    };
    let decisions = 2 * EXPORT_PAGE as usize + 150;
    for _ in 0..decisions {
        app.services
            .evaluate(&samtykke::audit::Actor::Cli, None, &ask, None)
            .await
            .unwrap();
    }
    let mut b = staff_login(&app, "compliance_officer").await;
    let csv = b.get("/console/log.csv?kind=decision").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers.get("content-length").is_none(),
        "streamed, not sized up front"
    );
    let seqs: Vec<i64> = csv
        .body
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs.len(), decisions);
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first, each once"
    );
    let json = b.get("/console/log.json?kind=decision").await;
    let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), decisions);
    assert_eq!(v["entries"][0]["seq"], seqs[0]);
}
