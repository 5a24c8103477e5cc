//! Guardians, as pupils, guardians, tutors and compliance officers use them through
//! the pages and the development provider (a real OpenID login over HTTP): a
//! fifteen-year-old's health grant waits for a guardian, who is invited with a
//! one-time code, logs in and co-signs, and counts once the tutor has confirmed
//! parental responsibility; either may withdraw at once. Bad codes, the pupil's own
//! number, another person's login, a login at too low a level and grants withdrawn
//! since each get a clear page and change nothing. A protective exception puts a
//! grant in force with no guardian contacted, and a compliance officer reviews it.
//! At the birthday, what rested on a guardian lapses unless the pupil confirmed it.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::browser::{fields, Browser, Page};
use crate::helpers::{count, evidence, log_records, pupil, spawn_pages, tell, TestApp};
use crate::pages::{fjordvik, fjordvik_school, logged_in, pupil_id, sign_at_fjordvik, SUBSTANTIAL};
use crate::tutor::{code_on, demo_tutor, officer_login, tutor_login};
use samtykke::audit::Event;
use samtykke::clock::DAY;

struct Case {
    app: TestApp,
    tutor: Browser,
    pupil: Browser,
    number: String,
    id: Uuid,
    school: String,
}

fn hidden(page: &Page, action: &str, name: &str) -> String {
    page.hidden(action)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("{name} in {action}: {}", page.body))
}

/// A pupil born on `born` on the demo tutor's caseload, whose consent lets the
/// tutor tell the school their attendance story and their health.
async fn case(app: TestApp, born: (i32, u8, u8), serial: u16) -> Case {
    let network = fjordvik(&app).await;
    let school = fjordvik_school(&app).await;
    let number = pupil(born.0, born.1, born.2, serial);
    let mut tutor = tutor_login(&app, &demo_tutor()).await;
    let csrf = tutor.get("/tutor/enrol").await.input("csrf").unwrap();
    let made = tutor
        .post(
            "/tutor/enrol",
            &fields(&[
                ("csrf", &csrf),
                ("nickname", "Lea"),
                ("identity_number", &number),
                ("network", &network),
            ]),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let choices = json!([tell(&school, "followed_up"), tell(&school, "health")]);
    sign_at_fjordvik(&app, &number, choices).await;
    let id = pupil_id(&app, &number).await;
    let pupil = logged_in(&app, &number).await;
    Case {
        app,
        tutor,
        pupil,
        number,
        id,
        school,
    }
}

/// The decision on "may the school be told this pupil's health?".
async fn health(c: &Case) -> (bool, String) {
    let ask = json!({ "org_id": c.school, "pupil_id": c.id, "category": "health" });
    let (status, v) = c.app.post("/api/v1/policy/explain", ask).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    (
        v["decision"]["allowed"] == true,
        v["decision"]["reason"].as_str().unwrap().to_owned(),
    )
}

fn guardian_kinds(records: &[samtykke::audit::Record], pupil: Uuid) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.pupil == Some(pupil))
        .filter_map(|r| match &r.event {
            Event::Guardian(what, _) => Some(what.clone()),
            _ => None,
        })
        .collect()
}

async fn invite(c: &mut Case, number: &str, label: &str) -> Page {
    let page = c.pupil.get("/me/guardian").await;
    let csrf = hidden(&page, "/me/guardian/invite", "csrf");
    c.pupil
        .post(
            "/me/guardian/invite",
            &fields(&[("csrf", &csrf), ("number", number), ("label", label)]),
        )
        .await
}

/// A guardian's browser, logged in through an invitation link.
async fn guardian_at(app: &TestApp, code: &str, number: &str, acr: &str) -> (Browser, Page) {
    let mut b = Browser::new(&app.base);
    let cb = b
        .dev_login_to(&format!("/guardian/invitation?code={code}"), number, acr)
        .await;
    (b, cb)
}

async fn open_invitations(app: &TestApp) -> i64 {
    let mut c = crate::helpers::direct_connection(app).await;
    sqlx::query_scalar("SELECT COUNT(*) FROM guardian_invitations WHERE outcome IS NULL")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_guardian_co_signs_after_the_tutors_check_and_either_can_withdraw() {
    let app = spawn_pages(|_| {}).await;
    let mut c = case(app, (2011, 6, 1), 31).await;
    let guardian = pupil(1980, 5, 5, 41);
    let stranger = pupil(1979, 4, 4, 42);

    // Fifteen: the health grant is recorded, waiting, and decided as absent.
    assert_eq!(health(&c).await, (false, "awaiting_guardian".into()));
    let consents = c.pupil.get("/me/consents").await;
    assert!(consents.has("id=\"guardian-waiting\""), "{}", consents.body);
    let page = c.pupil.get("/me/guardian").await;
    assert!(
        page.has("Kroppslig helse") && page.has("venter på ja fra en forelder"),
        "{}",
        page.body
    );

    // Naming a guardian: bad input gets the page back with why, nothing written.
    let own = c.number.clone();
    let minor = pupil(2012, 1, 1, 45);
    let bad = [
        (
            "not a number",
            "12345",
            "",
            StatusCode::BAD_REQUEST,
            "ikke et gyldig fødselsnummer",
        ),
        (
            "the pupil's own",
            own.as_str(),
            "",
            StatusCode::BAD_REQUEST,
            "ditt eget nummer",
        ),
        (
            "a minor",
            minor.as_str(),
            "",
            StatusCode::BAD_REQUEST,
            "18 år eller eldre",
        ),
        (
            "a number as the name",
            guardian.as_str(),
            "1234567",
            StatusCode::BAD_REQUEST,
            "uten tall",
        ),
    ];
    for (what, number, label, status, says) in bad {
        let p = invite(&mut c, number, label).await;
        assert_eq!(p.status, status, "{what}: {}", p.body);
        assert!(p.has(says), "{what}: {}", p.body);
        assert!(
            !p.has(number) || number.len() < 11,
            "{what}: the number is not shown back"
        );
    }
    let forged = c
        .pupil
        .post(
            "/me/guardian/invite",
            &fields(&[("csrf", "forged"), ("number", &guardian)]),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(count(&c.app, "guardian_invitations").await, 0);

    let made = invite(&mut c, &guardian, "Mamma").await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let code = code_on(&made);
    assert!(made.has("/guardian/invitation?code="));
    assert!(
        !made.has(&guardian),
        "the guardian's number is not shown back"
    );

    // Bad codes and the wrong people: a clear page, the invitation still open.
    let mut anyone = Browser::new(&c.app.base);
    let malformed = anyone.get("/guardian/invitation?code=abc").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let (_, foreign) = guardian_at(&c.app, &code, &stranger, SUBSTANTIAL).await;
    assert_eq!(foreign.status, StatusCode::SEE_OTHER);
    let mut foreign_b = Browser::new(&c.app.base);
    foreign_b
        .dev_login_to("/guardian/login", &stranger, SUBSTANTIAL)
        .await;
    let seen = foreign_b
        .get(&format!("/guardian/invitation?code={code}"))
        .await;
    assert_eq!(seen.status, StatusCode::NOT_FOUND, "{}", seen.body);
    assert!(
        !seen.has("Kroppslig helse"),
        "a stranger sees nothing of the pupil's"
    );
    let as_pupil = {
        let mut b = Browser::new(&c.app.base);
        b.dev_login_to("/guardian/login", &c.number, SUBSTANTIAL)
            .await;
        b.get(&format!("/guardian/invitation?code={code}")).await
    };
    assert_eq!(as_pupil.status, StatusCode::NOT_FOUND, "{}", as_pupil.body);
    let (_, low) = guardian_at(&c.app, &code, &guardian, "idporten-loa-low").await;
    assert_eq!(low.status, StatusCode::FORBIDDEN, "{}", low.body);
    assert_eq!(open_invitations(&c.app).await, 1);

    // The guardian sees exactly what waits, and nothing else the pupil chose.
    let (mut g, cb) = guardian_at(&c.app, &code, &guardian, SUBSTANTIAL).await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    let offer = g.get(cb.location.as_deref().unwrap()).await;
    assert_eq!(offer.status, StatusCode::OK, "{}", offer.body);
    assert!(offer.has("Kroppslig helse"), "{}", offer.body);
    assert!(
        !offer.has("At du får hjelp av NAV-veilederen"),
        "not the grants that need no guardian"
    );
    let no_access_log = g.get("/me/access-log").await;
    assert_ne!(
        no_access_log.status,
        StatusCode::OK,
        "a guardian is not the pupil"
    );

    // Yes: co-signed, but not in force until the tutor confirms responsibility.
    let yes = g
        .post(
            "/guardian/answer",
            &fields(&[
                ("csrf", &hidden(&offer, "/guardian/answer", "csrf")),
                ("code", &code),
                ("answer", "yes"),
            ]),
        )
        .await;
    assert_eq!(yes.status, StatusCode::SEE_OTHER, "{}", yes.body);
    assert_eq!(health(&c).await, (false, "awaiting_guardian".into()));
    let again = g.get(&format!("/guardian/invitation?code={code}")).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "a code works once");

    let tutor_page = c.tutor.get(&format!("/tutor/pupils/{}", c.id)).await;
    assert!(tutor_page.has("Mamma"), "{}", tutor_page.body);
    let action = format!("/tutor/pupils/{}/guardian-check", c.id);
    let check = |number: &str| {
        fields(&[
            ("csrf", &hidden(&tutor_page, &action, "csrf")),
            ("invitation", &hidden(&tutor_page, &action, "invitation")),
            ("number", number),
        ])
    };
    // The tutor types the number of the person checked: it must be the one named.
    for (what, number) in [("not a number", "123"), ("someone else", stranger.as_str())] {
        let refused = c.tutor.post(&action, &check(number)).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            refused.body
        );
    }
    assert_eq!(health(&c).await, (false, "awaiting_guardian".into()));
    let checked = c.tutor.post(&action, &check(&guardian)).await;
    assert_eq!(checked.status, StatusCode::SEE_OTHER, "{}", checked.body);
    assert_eq!(health(&c).await, (true, "allowed".into()));

    // The guardian withdraws: at once.
    let home = g.get("/guardian").await;
    assert!(home.has("Kroppslig helse"), "{}", home.body);
    let withdrawn = g
        .post(
            "/guardian/withdraw",
            &fields(&[
                ("csrf", &hidden(&home, "/guardian/withdraw", "csrf")),
                ("grant", &hidden(&home, "/guardian/withdraw", "grant")),
            ]),
        )
        .await;
    assert_eq!(
        withdrawn.status,
        StatusCode::SEE_OTHER,
        "{}",
        withdrawn.body
    );
    assert_eq!(health(&c).await, (false, "grant_withdrawn".into()));

    let records = log_records(&c.app).await;
    assert_eq!(
        guardian_kinds(&records, c.id),
        ["invited", "cosigned", "checked", "withdrew"]
    );
    let rows = crate::helpers::log_rows(&c.app).await;
    for n in [&guardian, &stranger, &c.number] {
        assert!(
            rows.iter().all(|r| !format!("{r:?}").contains(n.as_str())),
            "no identity number in the log"
        );
    }
}

#[tokio::test]
async fn a_decline_and_a_withdrawal_since_are_shown_and_change_nothing_more() {
    let app = spawn_pages(|_| {}).await;
    let mut c = case(app, (2011, 7, 2), 33).await;
    let guardian = pupil(1981, 1, 2, 43);
    let code = code_on(&invite(&mut c, &guardian, "").await);
    let (mut g, cb) = guardian_at(&c.app, &code, &guardian, SUBSTANTIAL).await;
    let offer = g.get(cb.location.as_deref().unwrap()).await;
    let no = g
        .post(
            "/guardian/answer",
            &fields(&[
                ("csrf", &hidden(&offer, "/guardian/answer", "csrf")),
                ("code", &code),
                ("answer", "no"),
            ]),
        )
        .await;
    assert_eq!(no.status, StatusCode::SEE_OTHER);
    assert_eq!(health(&c).await, (false, "grant_withdrawn".into()));
    let page = c.pupil.get("/me/guardian").await;
    assert!(
        page.has("Forelderen din sa nei") && page.has("Sa nei"),
        "{}",
        page.body
    );

    // Chosen again, invited again, then withdrawn by the pupil before the answer.
    let choices = json!({ "choices": [tell(&c.school, "followed_up"), tell(&c.school, "health")], "evidence": evidence() });
    let (_, current) = c.app.services.consents_in_force(c.id).await.unwrap();
    let path = format!("/api/v1/consents/{}/grants", current.unwrap().id);
    let (status, v) = c.app.json(reqwest::Method::PUT, &path, Some(choices)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // An expired code: a clear page, nothing used.
    let code = code_on(&invite(&mut c, &guardian, "").await);
    c.app.clock.advance(15 * DAY);
    let (mut g, cb) = guardian_at(&c.app, &code, &guardian, SUBSTANTIAL).await;
    let expired = g.get(cb.location.as_deref().unwrap()).await;
    assert_eq!(expired.status, StatusCode::GONE, "{}", expired.body);

    // Invited again, then withdrawn by the pupil before the answer.
    c.pupil = logged_in(&c.app, &c.number).await;
    let code = code_on(&invite(&mut c, &guardian, "").await);
    let waiting: Value = v["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["category"] == "health" && g["withdrawn_at"].is_null())
        .unwrap()
        .clone();
    let consent = v["id"].as_str().unwrap();
    let (status, _) = c
        .app
        .post(
            &format!("/api/v1/consents/{consent}/withdrawals"),
            json!({ "scope": "grant", "grant_id": waiting["id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let late = g.get(&format!("/guardian/invitation?code={code}")).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    assert!(late.has("trukket tilbake"), "{}", late.body);
    assert_eq!(open_invitations(&c.app).await, 1, "nothing changed");
}

#[tokio::test]
async fn a_protective_exception_puts_a_grant_in_force_without_any_guardian_and_is_reviewed() {
    let app = spawn_pages(|_| {}).await;
    let mut c = case(app, (2011, 8, 3), 35).await;
    let guardian = pupil(1982, 2, 3, 44);
    let code = code_on(&invite(&mut c, &guardian, "Pappa").await);

    let page = c.tutor.get(&format!("/tutor/pupils/{}", c.id)).await;
    let action = format!("/tutor/pupils/{}/exception", c.id);
    let csrf = hidden(&page, &action, "csrf");
    let grant = hidden(&page, &action, "grant");
    for (what, ground, grant, status) in [
        (
            "no such ground",
            "because",
            grant.as_str(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "no such grant",
            "health_privacy",
            "00000000-0000-0000-0000-000000000000",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let p = c
            .tutor
            .post(
                &action,
                &fields(&[("csrf", &csrf), ("grant", grant), ("ground", ground)]),
            )
            .await;
        assert_eq!(p.status, status, "{what}: {}", p.body);
    }
    assert_eq!(count(&c.app, "protective_exceptions").await, 0);
    let done = c
        .tutor
        .post(
            &action,
            &fields(&[
                ("csrf", &csrf),
                ("grant", &grant),
                ("ground", "health_privacy"),
            ]),
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(health(&c).await, (true, "allowed".into()));
    // No guardian is contacted: the code made before no longer works.
    let (mut g, cb) = guardian_at(&c.app, &code, &guardian, SUBSTANTIAL).await;
    let gone = g.get(cb.location.as_deref().unwrap()).await;
    assert_eq!(gone.status, StatusCode::CONFLICT, "{}", gone.body);
    let page = c.pupil.get("/me/guardian").await;
    assert!(page.has("Bestemt uten foreldre"), "{}", page.body);
    let caseload = c.tutor.get("/tutor").await;
    assert!(caseload.has("1 unntak"), "{}", caseload.body);

    // The compliance officer reviews it, once; a tutor cannot.
    let tutor_try = c.tutor.get("/console/exceptions").await;
    assert_ne!(tutor_try.status, StatusCode::OK);
    let mut o = officer_login(&c.app).await;
    let list = o.get("/console/exceptions").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.has("pasient- og brukerrettighetsloven § 3-4"),
        "{}",
        list.body
    );
    let at = list.body.find("/console/exceptions/").unwrap();
    let review = list.body[at..at + list.body[at..].find('"').unwrap()].to_owned();
    let csrf = hidden(&list, &review, "csrf");
    let bad = o
        .post(&review, &fields(&[("csrf", &csrf), ("review", "maybe")]))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let ok = o
        .post(&review, &fields(&[("csrf", &csrf), ("review", "upheld")]))
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let twice = o
        .post(
            &review,
            &fields(&[("csrf", &csrf), ("review", "questioned")]),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let records = log_records(&c.app).await;
    assert_eq!(
        guardian_kinds(&records, c.id),
        ["invited", "exception", "exception_reviewed"]
    );
}

#[tokio::test]
async fn at_the_birthday_what_rested_on_a_guardian_lapses_unless_the_pupil_confirmed() {
    let app = spawn_pages(|_| {}).await;
    // Sixteen on 1 March 2027: health alone from then.
    let mut a = case(app, (2011, 3, 1), 37).await;
    let app2 = spawn_pages(|_| {}).await;
    let mut b = case(app2, (2011, 3, 1), 38).await;
    for c in [&mut a, &mut b] {
        let page = c.tutor.get(&format!("/tutor/pupils/{}", c.id)).await;
        let action = format!("/tutor/pupils/{}/exception", c.id);
        let f = fields(&[
            ("csrf", &hidden(&page, &action, "csrf")),
            ("grant", &hidden(&page, &action, "grant")),
            ("ground", "lives_away"),
        ]);
        assert_eq!(
            c.tutor.post(&action, &f).await.status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(health(c).await, (true, "allowed".into()));
        // Five weeks before: the pupil is asked, and shown what lapses.
        let days = (time::macros::date!(2027 - 03 - 01) - time::macros::date!(2026 - 11 - 23))
            .whole_days();
        c.app.clock.advance((days - 35) * DAY);
        // Weeks later: a new login.
        c.pupil = logged_in(&c.app, &c.number).await;
        let page = c.pupil.get("/me/guardian").await;
        assert!(
            page.has("Snart bestemmer du selv") && page.has("01.03.2027"),
            "{}",
            page.body
        );
    }
    let page = a.pupil.get("/me/guardian").await;
    let confirmed = a
        .pupil
        .post(
            "/me/guardian/confirm",
            &fields(&[("csrf", &hidden(&page, "/me/guardian/confirm", "csrf"))]),
        )
        .await;
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.body
    );
    for c in [&a, &b] {
        c.app.clock.advance(36 * DAY);
        c.app.services.minute_work().await.unwrap();
        c.app.services.minute_work().await.unwrap();
    }
    assert_eq!(health(&a).await, (true, "allowed".into()));
    assert_eq!(health(&b).await, (false, "grant_withdrawn".into()));
    // Each transition once, however often the job runs; the guardian is not told.
    assert_eq!(
        guardian_kinds(&log_records(&a.app).await, a.id),
        ["exception", "confirmed"]
    );
    assert_eq!(
        guardian_kinds(&log_records(&b.app).await, b.id),
        ["exception", "lapsed"]
    );
}
