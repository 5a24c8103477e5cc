//! The NAV tutor's workspace as a tutor and a pupil use it, logged in through the
//! development provider: enrol and invite, the pupil signs through the invitation,
//! "may I share this?" for a saved team, a disclosure recorded and shown to the
//! pupil, a withdrawal at the top of the caseload, another tutor kept out, a role
//! taken away mid-session; a paper consent with its scanned form, confirmed by the
//! pupil and shredded with them.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::browser::{fields, Browser, Page};
use crate::helpers::{pupil, spawn_pages, TestApp};
use crate::pages::{choose_all, fjordvik, in_force, pupil_id, SUBSTANTIAL};
use samtykke::audit::{Event, Record};

/// The demo's staff member with `role`, by number.
fn demo_staff(role: &str) -> String {
    let (n, _) = samtykke::demo::demo_staff()
        .into_iter()
        .find(|(_, r)| *r == role)
        .unwrap();
    n.expose_digits()
}

pub fn demo_tutor() -> String {
    demo_staff("tutor")
}

/// The demo's compliance officer, logged in to the console.
pub async fn officer_login(app: &TestApp) -> Browser {
    let mut b = Browser::new(&app.base);
    let cb = b
        .dev_login_to(
            "/console/login",
            &demo_staff("compliance_officer"),
            SUBSTANTIAL,
        )
        .await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER);
    b
}

pub async fn tutor_login(app: &TestApp, number: &str) -> Browser {
    let mut b = Browser::new(&app.base);
    let cb = b.dev_login_to("/tutor/login", number, SUBSTANTIAL).await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    assert_eq!(cb.location.as_deref(), Some("/tutor"));
    b
}

/// The invitation code on a page that shows one.
pub fn code_on(page: &Page) -> String {
    let at = page.body.find("class=\"code\">").expect("a code") + "class=\"code\">".len();
    page.body[at..at + 11].to_owned()
}

/// Follows an invitation link while logged out: to the login, and back.
async fn invited(b: &mut Browser, code: &str, pid: &str) -> Page {
    let link = b.get(&format!("/consent/invitation?code={code}")).await;
    assert_eq!(link.status, StatusCode::SEE_OTHER);
    let login = link.location.unwrap();
    assert!(login.starts_with("/auth/login?return="), "{login}");
    let cb = b.dev_login_to(&login, pid, SUBSTANTIAL).await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    cb
}

fn org_id(orgs: &[samtykke::domain::org::Organisation], name: &str) -> String {
    orgs.iter().find(|o| o.name == name).unwrap().id.to_string()
}

async fn disclosures(app: &TestApp, pupil: Uuid) -> Vec<samtykke::audit::event::Disclosed> {
    crate::helpers::log_records(app)
        .await
        .into_iter()
        .filter(|r: &Record| r.pupil == Some(pupil))
        .filter_map(|r| match r.event {
            Event::Disclosure(d) => Some(d),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_tutor_enrols_invites_checks_records_and_sees_a_withdrawal_first() {
    let app = spawn_pages(|_| {}).await;
    let network = fjordvik(&app).await;
    let orgs = app.services.orgs().await.unwrap();
    let school = org_id(&orgs, "Fjordvik videregående skole");
    let ot = org_id(&orgs, "Oppfølgingstjenesten i Fjordvik");
    let counsellor = format!("{school}.counsellor");
    let mut t = tutor_login(&app, &demo_tutor()).await;

    // The demo caseload, by the names the tutor gave, never by number.
    let home = t.get("/tutor").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home.has("Ada") && home.has("Jonas") && home.has("Sara"));
    for n in samtykke::demo::demo_pupil_numbers() {
        assert!(
            !home.has(&n.expose_digits()),
            "no identity number on the caseload"
        );
    }

    // Enrol: bad input gets the form back and changes nothing.
    let form = t.get("/tutor/enrol").await;
    let csrf = form.input("csrf").unwrap();
    let mia = pupil(2008, 3, 3, 21);
    let other_network = app
        .services
        .network_by_name("Sundby vgs")
        .await
        .map(|n| n.id.to_string())
        .unwrap_or_else(|_| Uuid::new_v4().to_string());
    let bad = [
        (
            "no name",
            "",
            mia.as_str(),
            network.as_str(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a number as the name",
            "12345678",
            &mia,
            &network,
            StatusCode::BAD_REQUEST,
        ),
        (
            "not an identity number",
            "Mia",
            "12345678901",
            &network,
            StatusCode::BAD_REQUEST,
        ),
        (
            "a school the tutor does not work at",
            "Mia",
            &mia,
            &other_network,
            StatusCode::FORBIDDEN,
        ),
    ];
    for (why, nick, number, net, status) in bad {
        let f = fields(&[
            ("csrf", &csrf),
            ("nickname", nick),
            ("identity_number", number),
            ("network", net),
        ]);
        let page = t.post("/tutor/enrol", &f).await;
        assert_eq!(page.status, status, "{why}: {}", page.body);
    }
    assert!(app
        .services
        .find_pupil(&samtykke::domain::identity::IdentityNumber::parse(&mia).unwrap())
        .await
        .unwrap()
        .is_none());
    let made = t
        .post(
            "/tutor/enrol",
            &fields(&[
                ("csrf", &csrf),
                ("nickname", "Mia"),
                ("identity_number", &mia),
                ("network", &network),
            ]),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let code = code_on(&made);
    assert!(made.has(&format!("/consent/invitation?code={code}")));
    let me = pupil_id(&app, &mia).await;

    // Someone else cannot use the invitation, and trying does not use it up.
    let mut stranger = Browser::new(&app.base);
    let cb = invited(&mut stranger, &code, &pupil(2008, 5, 5, 23)).await;
    let refused = stranger.get(cb.location.as_deref().unwrap()).await;
    assert_eq!(refused.status, StatusCode::GONE, "{}", refused.body);
    assert!(refused.has("laget for en annen elev"));

    // The pupil signs through the invitation: the agreement of that school opens.
    let mut p = Browser::new(&app.base);
    let cb = invited(&mut p, &code.to_lowercase(), &mia).await;
    let opened = p.get(cb.location.as_deref().unwrap()).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    assert_eq!(
        opened.location,
        Some(format!("/consent/choose?network={network}"))
    );
    let first = p.get(opened.location.as_deref().unwrap()).await;
    let attendance = format!("{school}>tutor:attendance");
    let at_school = |pg: &Page| pg.has("<h1>Fjordvik videregående skole");
    let review = choose_all(&mut p, first, |page, field, v| match field {
        "s" => v == attendance,
        "t" => at_school(page) && v == "contact_reasons",
        "r" => at_school(page) && v == "counsellor",
        _ => false,
    })
    .await;
    let signed = p
        .post("/consent/sign", &review.hidden("/consent/sign"))
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(in_force(&app, me).await.len(), 2);
    let again = p.get(&format!("/consent/invitation?code={code}")).await;
    assert_eq!(again.status, StatusCode::GONE, "single use");

    // The caseload says what is in force.
    let home = t.get("/tutor").await;
    assert!(
        home.has("Mia") && home.has("samtykke gjelder"),
        "{}",
        home.body
    );
    assert!(
        home.has("Rådgiveren") && home.has("Hvorfor du får hjelp"),
        "{}",
        home.body
    );

    // A saved team: the counsellor and OT meet about Mia.
    let page = t.get(&format!("/tutor/pupils/{me}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.input("csrf").unwrap();
    let team = fields(&[
        ("csrf", &csrf),
        ("name", "Ansvarsgruppe"),
        ("member", &counsellor),
        ("member", &ot),
    ]);
    assert_eq!(
        t.post(&format!("/tutor/pupils/{me}/teams"), &team)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let page = t.get(&format!("/tutor/pupils/{me}")).await;
    let at = page.body.find("value=\"team:").unwrap() + "value=\"".len();
    let team_ref = page.body[at..at + 5 + 36].to_owned();
    let check = t.get(&format!("/tutor/pupils/{me}?with={team_ref}")).await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.body);
    assert!(
        check.has("<caption>Rådgiveren, Fjordvik videregående skole</caption>"),
        "{}",
        check.body
    );
    assert!(check.has("<caption>Oppfølgingstjenesten i Fjordvik</caption>"));
    assert!(
        check.has("Ja, samtykke fra"),
        "the counsellor may be told why"
    );
    assert!(
        check.has("Nei: eleven har ikke valgt dette"),
        "{}",
        check.body
    );
    let guessed = t
        .get(&format!("/tutor/pupils/{me}?with={}", Uuid::new_v4()))
        .await;
    assert_eq!(
        guessed.status,
        StatusCode::BAD_REQUEST,
        "a counterpart not on offer"
    );

    // Record what was shared: covered, it is in the chain and on the pupil's page;
    // not covered or malformed, it is refused and nothing is written.
    let today = samtykke::clock::date_of(app.services.now()).to_string();
    let record = |who: &str, category: &str, on: &str| {
        fields(&[
            ("csrf", &csrf),
            ("direction", "told"),
            ("counterpart", who),
            ("category", category),
            ("occasion", "meeting"),
            ("on", on),
        ])
        .to_vec()
    };
    let cases = [
        (
            "covered",
            record(&counsellor, "contact_reasons", &today),
            StatusCode::SEE_OTHER,
        ),
        (
            "not chosen",
            record(&ot, "health", &today),
            StatusCode::CONFLICT,
        ),
        (
            "in the future",
            record(&counsellor, "contact_reasons", "2099-01-01"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "no such day",
            record(&counsellor, "contact_reasons", "2026-02-30"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown category",
            record(&counsellor, "diary", &today),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (why, f, status) in cases {
        let res = t.post(&format!("/tutor/pupils/{me}/disclosures"), &f).await;
        assert_eq!(res.status, status, "{why}: {}", res.body);
    }
    let recorded = disclosures(&app, me).await;
    assert_eq!(recorded.len(), 1, "only what was covered");
    assert_eq!(
        (recorded[0].basis.as_str(), recorded[0].occasion.as_str()),
        ("consent", "meeting")
    );
    let log = p.get("/me/access-log").await;
    assert!(
        log.has(
            "Veilederen fortalte dette til Rådgiveren, Fjordvik videregående skole (i et møte)"
        ),
        "{}",
        log.body
    );

    // Minutes later the pupil withdraws the counsellor grant: first on the caseload,
    // and now "no".
    app.clock.advance(10 * 60_000);
    let csrf_p = p.get("/me/consents").await.input("csrf").unwrap();
    let grant = app
        .services
        .consents_in_force(me)
        .await
        .unwrap()
        .1
        .unwrap()
        .grants_in_force()
        .find(|g| g.category.as_str() == "contact_reasons")
        .unwrap()
        .id
        .to_string();
    let confirm = p
        .post(
            "/me/consents/withdraw",
            &fields(&[("csrf", &csrf_p), ("scope", "grant"), ("id", &grant)]),
        )
        .await;
    let done = p
        .post(
            "/me/consents/withdraw/confirm",
            &confirm.hidden("/me/consents/withdraw/confirm"),
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let home = t.get("/tutor").await;
    let news = home.body.find("Nytt siden sist").expect("news first");
    let mia_at = home.body.find(">Mia<").unwrap();
    let ada_at = home.body.find(">Ada<").unwrap();
    assert!(news < mia_at && mia_at < ada_at, "{}", home.body);
    let check = t
        .get(&format!("/tutor/pupils/{me}?with={counsellor}"))
        .await;
    assert!(
        check.has("Nei: eleven har trukket det tilbake"),
        "{}",
        check.body
    );
    let again = t
        .post(
            &format!("/tutor/pupils/{me}/disclosures"),
            &record(&counsellor, "contact_reasons", &today),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "withdrawn: no longer covered"
    );
    // Seen: no longer news.
    assert_eq!(
        t.post(
            &format!("/tutor/pupils/{me}/seen"),
            &fields(&[("csrf", &csrf)])
        )
        .await
        .status,
        StatusCode::SEE_OTHER
    );
    assert!(!t.get("/tutor").await.has("Nytt siden sist"));

    // A second tutor at the same school cannot open Mia, whatever id they guess.
    let second = pupil(1988, 2, 2, 31);
    let (st, v) = app
        .post(
            "/api/v1/staff",
            json!({ "identity_number": second, "role": "tutor", "network_id": network, "display_name": "Andre veileder" }),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let mut t2 = tutor_login(&app, &second).await;
    assert!(!t2.get("/tutor").await.has("Mia"));
    for path in [
        format!("/tutor/pupils/{me}"),
        format!("/tutor/pupils/{me}?with={school}"),
        format!("/tutor/pupils/{}", Uuid::new_v4()),
        "/tutor/pupils/not-an-id".to_owned(),
    ] {
        assert_eq!(t2.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let csrf2 = t2.get("/tutor").await.input("csrf").unwrap();
    let mut theirs = record(&counsellor, "attendance", &today);
    theirs[0].1 = csrf2.clone();
    let res = t2
        .post(&format!("/tutor/pupils/{me}/disclosures"), &theirs)
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(disclosures(&app, me).await.len(), 1);

    // A role taken away ends the work at once.
    let (st, _) = app
        .post(
            "/api/v1/staff/revoke",
            json!({ "identity_number": second, "role": "tutor" }),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(t2.get("/tutor").await.status, StatusCode::FORBIDDEN);
    // A pupil is no tutor; a tutor is no compliance officer.
    let mut pupil_browser = p;
    assert_eq!(
        pupil_browser.get("/tutor").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(t.get("/console").await.status, StatusCode::FORBIDDEN);

    // Every tutor action is in the chain, by the tutor, and the chain verifies.
    let kinds: Vec<String> = crate::helpers::log_records(&app)
        .await
        .iter()
        .filter(|r| r.pupil == Some(me))
        .map(|r| r.event.kind())
        .collect();
    for k in [
        "tutor.pupil_added",
        "tutor.invited",
        "tutor.invitation_used",
        "tutor.team_saved",
        "tutor.checked",
        "disclosure",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    let verified = app.get("/api/v1/audit/verify").await;
    assert_eq!(verified["verified"], true, "{verified}");
}

/// A multipart body as a browser sends the paper form.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----samtykke-test-boundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((media, bytes)) = file {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"form\"; filename=\"scan\"\r\nContent-Type: {media}\r\n\r\n")
                .as_bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_paper_consent_and_its_form_are_confirmed_by_the_pupil_and_shredded_with_them() {
    let app = spawn_pages(|_| {}).await;
    let network = fjordvik(&app).await;
    let mut t = tutor_login(&app, &demo_tutor()).await;
    let csrf = t.get("/tutor/enrol").await.input("csrf").unwrap();
    let noah = pupil(2008, 4, 4, 22);
    let made = t
        .post(
            "/tutor/enrol",
            &fields(&[
                ("csrf", &csrf),
                ("nickname", "Noah"),
                ("identity_number", &noah),
                ("network", &network),
            ]),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let me = pupil_id(&app, &noah).await;
    let form = t.get(&format!("/tutor/pupils/{me}/paper")).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let choice = form
        .inputs("choice")
        .into_iter()
        .find(|c| c.ends_with(">attendance"))
        .unwrap();
    let scan: Vec<u8> = b"\x89PNG\r\n\x1a\n a scanned paper form"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(7u8, 5000))
        .collect();
    let today = samtykke::clock::date_of(app.services.now()).to_string();
    let base = |witness: &str, on: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("network", network.clone()),
            ("answer", "yes".to_owned()),
            ("choice", choice.clone()),
            ("signed_on", on.to_owned()),
            ("witness", witness.to_owned()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>, file: Option<(&'static str, Vec<u8>)>| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        multipart(&f, file.as_ref().map(|(m, b)| (*m, b.as_slice())))
    };
    // Bad input: a clear page, and no consent, no form, no chain entry.
    let huge = vec![0u8; samtykke::service::MAX_FORM_BYTES + 1];
    let cases = [
        (
            "a text file",
            post(
                base("Rådgiver", &today),
                Some(("text/plain", b"hello".to_vec())),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "too large",
            post(base("Rådgiver", &today), Some(("image/png", huge))),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "no witness",
            post(base("", &today), None),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a date ahead",
            post(base("Rådgiver", "2099-01-01"), None),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not a form",
            ("text/plain".to_owned(), b"x".to_vec()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (why, (ctype, body), status) in cases {
        let res = t
            .post_bytes(&format!("/tutor/pupils/{me}/paper"), &ctype, body)
            .await;
        assert_eq!(res.status, status, "{why}: {}", res.body);
    }
    assert!(in_force(&app, me).await.is_empty());
    assert!(app.services.papers(me).await.unwrap().is_empty());
    let (ctype, body) = post(
        base("Rådgiver Berg", &today),
        Some(("image/png", scan.clone())),
    );
    let saved = t
        .post_bytes(&format!("/tutor/pupils/{me}/paper"), &ctype, body)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let consent = app.services.consents_in_force(me).await.unwrap().1.unwrap();
    assert_eq!(consent.evidence.acr, "paper");
    let recorded = crate::helpers::log_records(&app)
        .await
        .into_iter()
        .find_map(|r| match r.event {
            Event::Tutor(what, d) if what == "paper_recorded" && r.pupil == Some(me) => Some(d),
            _ => None,
        })
        .unwrap();
    let sha = hex::encode(ring::digest::digest(&ring::digest::SHA256, &scan));
    assert_eq!(
        recorded.form_sha256.as_deref(),
        Some(sha.as_str()),
        "the form's hash in the chain"
    );
    let back = t
        .get_bytes(&format!("/tutor/pupils/{me}/forms/{}", consent.id))
        .await;
    assert_eq!(back, scan, "the tutor can read the form back");

    // The pupil sees it as a paper consent and confirms it, once.
    let mut p = crate::pages::logged_in(&app, &noah).await;
    let mine = p.get("/me/consents").await;
    assert!(
        mine.has("på papir eller muntlig") && mine.has("Rådgiver Berg"),
        "{}",
        mine.body
    );
    let confirm = mine.hidden("/me/consents/confirm-paper");
    let done = p.post("/me/consents/confirm-paper", &confirm).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(!p
        .get("/me/consents")
        .await
        .has("action=\"/me/consents/confirm-paper\""));
    assert_eq!(
        p.post("/me/consents/confirm-paper", &confirm).await.status,
        StatusCode::CONFLICT
    );
    assert!(!t.get("/tutor").await.has("papirsamtykke ikke bekreftet"));

    // A refusal can be recorded too.
    let zoe = pupil(2008, 6, 6, 24);
    t.post(
        "/tutor/enrol",
        &fields(&[
            ("csrf", &csrf),
            ("nickname", "Zoe"),
            ("identity_number", &zoe),
            ("network", &network),
        ]),
    )
    .await;
    let zoe_id = pupil_id(&app, &zoe).await;
    let mut no = base("Rådgiver Berg", &today);
    no[2].1 = "no".into();
    no.remove(3);
    let (ctype, body) = post(no, None);
    let res = t
        .post_bytes(&format!("/tutor/pupils/{zoe_id}/paper"), &ctype, body)
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(t.get("/tutor").await.has("sa nei"));
    assert!(in_force(&app, zoe_id).await.is_empty());

    // The chain verifies; erasure shreds the nickname and the form with the key.
    let verified = app.get("/api/v1/audit/verify").await;
    assert_eq!(verified["verified"], true, "{verified}");
    let (st, _) = app
        .post(&format!("/api/v1/pupils/{me}/erasure"), json!({}))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let mut c = crate::helpers::direct_connection(&app).await;
    let nickname: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT nickname FROM caseload WHERE pupil_id = $1")
            .bind(me.to_string())
            .fetch_one(&mut c)
            .await
            .unwrap();
    let form: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT form FROM paper_forms WHERE pupil_id = $1")
            .bind(me.to_string())
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert!(nickname.is_none() && form.is_none());
    let gone = t
        .get(&format!("/tutor/pupils/{me}/forms/{}", consent.id))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(!t.get("/tutor").await.has(">Noah<"));
}

/// A compliance officer finds every action of a tutor, sees them in a pupil's
/// access report, and reads the follow-up figures per school year, suppressed.
#[tokio::test]
async fn officers_search_by_tutor_and_read_follow_up_figures() {
    use samtykke::domain::identity::IdentityNumber;
    let app = spawn_pages(|_| {}).await;
    let network = Uuid::parse_str(&fjordvik(&app).await).unwrap();
    let s = &app.services;
    let subject = s.staff_subject(&IdentityNumber::parse(&demo_tutor()).unwrap());
    let tutor = s.tutor(&subject).await.unwrap().unwrap();
    // Five more pupils on the caseload: three consent on paper, one says no.
    let school = s
        .orgs()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name == "Fjordvik videregående skole")
        .unwrap();
    let today = samtykke::clock::date_of(s.now());
    for k in 0..5u8 {
        let n = IdentityNumber::parse(&pupil(2008, 7, 10 + k, 30)).unwrap();
        let inv = s
            .enrol_for_tutor(&tutor, network, &n, &format!("Elev {k}"))
            .await
            .unwrap();
        if k < 4 {
            let choice = samtykke::domain::consent::Choice::new(
                samtykke::domain::consent::Party::org(school.id),
                samtykke::domain::consent::Party::Tutor,
                samtykke::domain::Slug::parse("attendance").unwrap(),
            );
            let paper = samtykke::service::PaperConsent {
                network,
                choices: if k < 3 { vec![choice] } else { vec![] },
                refused: k == 3,
                signed_on: today,
                witness: "Rådgiver".into(),
                form: None,
            };
            s.record_paper(&tutor, inv.pupil, paper).await.unwrap();
        }
    }

    let mut officer = officer_login(&app).await;
    let log = officer
        .get(&format!(
            "/console/log?tutor={subject}&kind=tutor.paper_recorded"
        ))
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    assert_eq!(
        log.body.matches("<td>tutor.paper_recorded</td>").count(),
        3,
        "{}",
        log.body
    );
    let stranger = format!("staff:{}", "ab".repeat(32));
    let refused = officer.get(&format!("/console/log?tutor={stranger}")).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "only a known tutor"
    );

    // The access report of a demo pupil names what the tutor did.
    let first = pupil_id(
        &app,
        &samtykke::demo::demo_pupil_numbers()[0].expose_digits(),
    )
    .await;
    let report = officer
        .get(&format!("/console/pupils/{first}/report.json"))
        .await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(report.has("tutor.pupil_added") && report.has("tutor.invited"));

    // 3 demo pupils and 5 more followed up; 3 + 3 gave a consent; small counts hidden.
    let csv = officer.get("/console/statistics.csv?year=2026").await;
    assert_eq!(csv.status, StatusCode::OK);
    let table = "Oppfølging hos NAV-veileder, skoleåret 2026/27";
    for line in [
        format!("\"{table}\",\"total\",\"Fulgt opp\",\"8\""),
        format!("\"{table}\",\"total\",\"Ga samtykke\",\"6\""),
        format!("\"{table}\",\"total\",\"Sa nei\",\"<5\""),
    ] {
        assert!(csv.body.contains(&line), "{line} in\n{}", csv.body);
    }
    assert!(officer
        .get("/console/statistics?year=2026")
        .await
        .has(table));
}

/// What a tutor may not do, each refused with a clear page and nothing written:
/// another network's tutor who enrols the same pupil sees no consent and no form;
/// no paper consent over one the pupil signed; no refusal with a form; no form
/// that is not what it says; nothing after the follow-up ended; an old, expired
/// or replaced invitation. A revoked tutor's actions stay searchable.
#[tokio::test]
async fn what_a_tutor_may_not_do() {
    use samtykke::domain::identity::IdentityNumber;
    let app = spawn_pages(|_| {}).await;
    let network = fjordvik(&app).await;
    let sundby = app
        .services
        .network_by_name("Sundby vgs")
        .await
        .unwrap()
        .id
        .to_string();
    let orgs = app.services.orgs().await.unwrap();
    let school = org_id(&orgs, "Fjordvik videregående skole");
    let mut t = tutor_login(&app, &demo_tutor()).await;
    let csrf = t.get("/tutor/enrol").await.input("csrf").unwrap();
    let enrol = |nick: &'static str, number: String, net: String| {
        fields(&[
            ("csrf", &csrf),
            ("nickname", nick),
            ("identity_number", &number),
            ("network", &net),
        ])
    };
    let ola = pupil(2008, 8, 8, 25);
    let made = t
        .post("/tutor/enrol", &enrol("Ola", ola.clone(), network.clone()))
        .await;
    let first_code = code_on(&made);
    let me = pupil_id(&app, &ola).await;

    // A new invitation replaces the old one; an expired one is refused too.
    let again = t
        .post(
            &format!("/tutor/pupils/{me}/invite"),
            &fields(&[("csrf", &csrf)]),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let code = code_on(&again);
    let mut p = Browser::new(&app.base);
    let cb = invited(&mut p, &first_code, &ola).await;
    assert_eq!(
        p.get(cb.location.as_deref().unwrap()).await.status,
        StatusCode::GONE,
        "replaced"
    );
    app.clock.advance(crate::tutor::FIFTEEN_DAYS);
    let mut late = Browser::new(&app.base);
    let cb = invited(&mut late, &code, &ola).await;
    assert_eq!(
        late.get(cb.location.as_deref().unwrap()).await.status,
        StatusCode::GONE,
        "expired"
    );

    // The pupil signs at Fjordvik on their own: the school tells the tutor absence.
    let mut t = tutor_login(&app, &demo_tutor()).await;
    let csrf = t.get("/tutor/enrol").await.input("csrf").unwrap();
    let mut p = crate::pages::logged_in(&app, &ola).await;
    let first = p.get(&format!("/consent/choose?network={network}")).await;
    let attendance = format!("{school}>tutor:attendance");
    let review = choose_all(&mut p, first, |_, field, v| field == "s" && v == attendance).await;
    assert_eq!(
        p.post("/consent/sign", &review.hidden("/consent/sign"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    // No paper consent over it, and no refusal with a form.
    let paper = t.get(&format!("/tutor/pupils/{me}/paper")).await;
    let choice = paper.inputs("choice").into_iter().next().unwrap();
    let today = samtykke::clock::date_of(app.services.now()).to_string();
    let png = b"\x89PNG\r\n\x1a\n scanned".to_vec();
    let form = |answer: &str, file: Option<(&'static str, Vec<u8>)>| {
        let f = [
            ("csrf", csrf.as_str()),
            ("network", network.as_str()),
            ("answer", answer),
            ("choice", choice.as_str()),
            ("signed_on", today.as_str()),
            ("witness", "Rådgiver"),
        ];
        multipart(&f, file.as_ref().map(|(m, b)| (*m, b.as_slice())))
    };
    let cases = [
        (
            "over a consent in force",
            form("yes", None),
            StatusCode::CONFLICT,
        ),
        (
            "a refusal with a form",
            form("no", Some(("image/png", png.clone()))),
            StatusCode::BAD_REQUEST,
        ),
        (
            "text said to be a PNG",
            form("yes", Some(("image/png", b"hello".to_vec()))),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (why, (ctype, body), status) in cases {
        let res = t
            .post_bytes(&format!("/tutor/pupils/{me}/paper"), &ctype, body)
            .await;
        assert_eq!(res.status, status, "{why}: {}", res.body);
    }
    assert!(app.services.papers(me).await.unwrap().is_empty());

    // A tutor at another school who enrols the same pupil sees nothing of Fjordvik.
    let other = pupil(1987, 3, 3, 33);
    let (st, v) = app
        .post(
            "/api/v1/staff",
            json!({ "identity_number": other, "role": "tutor", "network_id": sundby, "display_name": "Veileder i Sundby" }),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let mut o = tutor_login(&app, &other).await;
    let ocsrf = o.get("/tutor/enrol").await.input("csrf").unwrap();
    let f = fields(&[
        ("csrf", &ocsrf),
        ("nickname", "Ola"),
        ("identity_number", &ola),
        ("network", &sundby),
    ]);
    assert_eq!(o.post("/tutor/enrol", &f).await.status, StatusCode::CREATED);
    let page = o.get(&format!("/tutor/pupils/{me}")).await;
    assert!(
        !page.has("Fravær") || !page.has("Ja, samtykke"),
        "{}",
        page.body
    );
    let subject = app
        .services
        .staff_subject(&IdentityNumber::parse(&other).unwrap());
    let theirs = app.services.tutor(&subject).await.unwrap().unwrap();
    for (cp, lines) in app
        .services
        .may_i_share(
            &theirs,
            me,
            &app.services.counterparts(&theirs, me).await.unwrap(),
        )
        .await
        .unwrap()
    {
        for l in lines {
            assert!(
                !matches!(l.obtain, samtykke::service::Verdict::Consent { .. })
                    && !matches!(l.tell, samtykke::service::Verdict::Consent { .. }),
                "Fjordvik's consent answered for Sundby: {cp:?} {l:?}"
            );
        }
    }
    // A service of another network is not a counterpart.
    let res = o.get(&format!("/tutor/pupils/{me}?with={school}")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);

    // After the follow-up ends, nothing more is recorded, and the invitation is gone.
    let end = fields(&[("csrf", &csrf), ("confirm", "yes")]);
    assert_eq!(
        t.post(&format!("/tutor/pupils/{me}/end"), &end)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert!(
        in_force(&app, me).await.is_empty(),
        "the consent ended with the follow-up"
    );
    let after = fields(&[
        ("csrf", &csrf),
        ("direction", "asked"),
        ("counterpart", &school),
        ("category", "attendance"),
        ("occasion", "phone"),
        ("on", &today),
    ]);
    let res = t
        .post(&format!("/tutor/pupils/{me}/disclosures"), &after)
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert_eq!(disclosures(&app, me).await.len(), 0);
    let mine = p.get("/me/consents").await;
    assert!(
        mine.has("Oppfølgingen hos veilederen er avsluttet"),
        "{}",
        mine.body
    );
    // Nor can the tutor enrol the pupil again and write a paper consent in place
    // of the one the pupil signed.
    let f = fields(&[
        ("csrf", &csrf),
        ("nickname", "Ola"),
        ("identity_number", &ola),
        ("network", &network),
    ]);
    assert_eq!(t.post("/tutor/enrol", &f).await.status, StatusCode::CREATED);
    let (ctype, body) = form("yes", None);
    let res = t
        .post_bytes(&format!("/tutor/pupils/{me}/paper"), &ctype, body)
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(in_force(&app, me).await.is_empty());

    // A tutor whose role is gone is still found in the log by the officers.
    let (st, _) = app
        .post(
            "/api/v1/staff/revoke",
            json!({ "identity_number": other, "role": "tutor" }),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let mut officer = officer_login(&app).await;
    let log = officer.get(&format!("/console/log?tutor={subject}")).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    assert!(log.has("tutor.pupil_added"));
}

/// Fifteen days: past an invitation's fourteen.
pub const FIFTEEN_DAYS: i64 = 15 * 24 * 3600 * 1000;

/// A pupil who signed on their own chooses their tutor, who then names them.
#[tokio::test]
async fn a_pupil_who_signed_alone_chooses_their_tutor() {
    let app = spawn_pages(|_| {}).await;
    let network = fjordvik(&app).await;
    let orgs = app.services.orgs().await.unwrap();
    let school = org_id(&orgs, "Fjordvik videregående skole");
    let kim = pupil(2008, 9, 9, 26);
    let mut p = crate::pages::logged_in(&app, &kim).await;
    let first = p.get(&format!("/consent/choose?network={network}")).await;
    let attendance = format!("{school}>tutor:attendance");
    let review = choose_all(&mut p, first, |_, field, v| field == "s" && v == attendance).await;
    assert_eq!(
        p.post("/consent/sign", &review.hidden("/consent/sign"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let mine = p.get("/me/consents").await;
    assert!(
        mine.has("Hvem er veilederen din?") && mine.has("NAV-veileder (demo)"),
        "{}",
        mine.body
    );
    let csrf = mine.input("csrf").unwrap();
    let bad = p
        .post(
            "/me/tutor",
            &fields(&[("csrf", &csrf), ("tutor", &Uuid::new_v4().to_string())]),
        )
        .await;
    assert_eq!(
        bad.status,
        StatusCode::BAD_REQUEST,
        "only a tutor at the pupil's school"
    );
    let tutor = mine.input("tutor").unwrap();
    let chosen = p
        .post("/me/tutor", &fields(&[("csrf", &csrf), ("tutor", &tutor)]))
        .await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER);
    assert!(
        !p.get("/me/consents").await.has("Hvem er veilederen din?"),
        "chosen once"
    );

    let mut t = tutor_login(&app, &demo_tutor()).await;
    let home = t.get("/tutor").await;
    assert!(
        home.has("Elev uten navn (valgte deg selv)"),
        "{}",
        home.body
    );
    let me = pupil_id(&app, &kim).await;
    let csrf = t
        .get(&format!("/tutor/pupils/{me}"))
        .await
        .input("csrf")
        .unwrap();
    let named = t
        .post(
            &format!("/tutor/pupils/{me}/name"),
            &fields(&[("csrf", &csrf), ("nickname", "Kim")]),
        )
        .await;
    assert_eq!(named.status, StatusCode::SEE_OTHER);
    assert!(t.get("/tutor").await.has(">Kim<"));
}

/// An administrator gives a tutor their role for a school in the console, and
/// takes it away; a compliance officer may not.
#[tokio::test]
async fn an_administrator_gives_and_takes_a_tutor_role_in_the_console() {
    let app = spawn_pages(|_| {}).await;
    let network = fjordvik(&app).await;
    let admin = pupil(1980, 1, 1, 40);
    let (st, _) = app
        .post(
            "/api/v1/staff",
            json!({ "identity_number": admin, "role": "admin" }),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let mut a = Browser::new(&app.base);
    a.dev_login_to("/console/login", &admin, SUBSTANTIAL).await;
    let page = a.get("/console/staff").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.has("NAV-veileder (demo)") || page.has("Fjordvik vgs"));
    let csrf = page.input("csrf").unwrap();
    let tutor = pupil(1985, 5, 5, 41);
    let form = |action: &str, role: &str, net: &str, name: &str| {
        fields(&[
            ("csrf", &csrf),
            ("identity_number", &tutor),
            ("role", role),
            ("network", net),
            ("display_name", name),
            ("action", action),
        ])
    };
    let bad = [
        (
            "a tutor without a school",
            form("grant", "tutor", "", "Kari"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a tutor without a name",
            form("grant", "tutor", &network, ""),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a school for an officer",
            form("grant", "compliance_officer", &network, "x"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "no such role",
            form("grant", "root", "", ""),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a role never given",
            form("revoke", "tutor", "", ""),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (why, f, status) in bad {
        assert_eq!(a.post("/console/staff", &f).await.status, status, "{why}");
    }
    // No one changes their own roles.
    let csrf_self = csrf.clone();
    let own = fields(&[
        ("csrf", &csrf_self),
        ("identity_number", &admin),
        ("role", "tutor"),
        ("network", &network),
        ("display_name", "Meg selv"),
        ("action", "grant"),
    ]);
    assert_eq!(
        a.post("/console/staff", &own).await.status,
        StatusCode::FORBIDDEN
    );
    let given = a
        .post(
            "/console/staff",
            &form("grant", "tutor", &network, "Kari, NAV-veileder"),
        )
        .await;
    assert_eq!(given.status, StatusCode::SEE_OTHER);
    let mut t = tutor_login(&app, &tutor).await;
    assert_eq!(t.get("/tutor").await.status, StatusCode::OK);
    let taken = a
        .post("/console/staff", &form("revoke", "tutor", "", ""))
        .await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER);
    assert_eq!(t.get("/tutor").await.status, StatusCode::FORBIDDEN);

    let mut officer = officer_login(&app).await;
    assert_eq!(
        officer.get("/console/staff").await.status,
        StatusCode::FORBIDDEN
    );
}
