//! Attacks by callers without credentials that once filled the disk or the
//! memory, and privacy slips at the edges. Each test failed before its fix.

use reqwest::StatusCode;

use crate::helpers::{log_records, log_rows, pupil, spawn_app, TestApp};
use samtykke::audit::{Actor, Event};

/// The refusals of callers who never authenticated that reached the chain.
async fn anonymous(app: &TestApp) -> Vec<(String, String)> {
    log_records(app)
        .await
        .into_iter()
        .filter(|r| r.actor == Actor::Unauthenticated)
        .filter_map(|r| match r.event {
            Event::Token(o) | Event::Login(o) | Event::Revocation(o) => Some((o.reason, o.detail)),
            Event::Introspection(i) => Some((i.reason, i.detail)),
            _ => None,
        })
        .collect()
}

/// The value of one line of `/metrics`.
async fn metric(app: &TestApp, line_start: &str) -> Option<u64> {
    let text = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A flood of refused requests without credentials is counted, and the chain
/// gets one sample per endpoint a minute (it grew by an entry per request before).
#[tokio::test]
async fn refusals_without_credentials_are_counted_and_sampled_not_each_written() {
    let app = spawn_app().await;
    let before = log_rows(&app).await.len();
    let doors = [
        (
            "/oauth/token",
            "grant_type=client_credentials",
            StatusCode::UNAUTHORIZED,
        ),
        ("/oauth/introspect", "token=x", StatusCode::UNAUTHORIZED),
        ("/oauth/revoke", "token=x", StatusCode::UNAUTHORIZED),
    ];
    for (path, body, want) in doors {
        for _ in 0..100 {
            let res = app
                .http
                .post(format!("{}{path}", app.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), want, "{path}");
        }
    }
    // A callback with no login in progress, with the provider's "error" text.
    for _ in 0..100 {
        let res = app
            .http
            .get(format!(
                "{}/auth/callback?error=access_denied&error_description=anything+at+all",
                app.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    let written = anonymous(&app).await;
    assert_eq!(
        log_rows(&app).await.len() - before,
        4,
        "one sample per door: {written:?}"
    );
    assert!(written.iter().all(|(_, d)| d.contains("sample: 1 refused")));
    assert!(written
        .iter()
        .all(|(r, d)| !r.contains("anything") && !d.contains("anything")));
    for door in ["token", "introspection", "revocation", "login"] {
        let line = format!("samtykke_unauthenticated_refusals_total{{endpoint=\"{door}\"}}");
        assert_eq!(metric(&app, &line).await, Some(100), "{door}");
    }
    // A minute later the next sample says how many came since the last.
    app.clock.advance(61_000);
    let res = app
        .http
        .post(format!("{}/oauth/token", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let written = anonymous(&app).await;
    assert_eq!(written.len(), 5);
    assert!(
        written
            .iter()
            .any(|(r, d)| r == "invalid_client" && d.contains("sample: 100 refused")),
        "{written:?}"
    );
}

/// A caller's request id reaches logs and the chain only as a UUID that carries
/// no identity number; 64 KB of text or a planted number get a new id.
#[tokio::test]
async fn a_request_id_cannot_plant_text_or_an_identity_number() {
    let app = spawn_app().await;
    let number = pupil(2008, 6, 1, 11);
    let planted = format!("0f8fad5b-d9cb-469f-a165-0{number}");
    let cases = [
        ("60 KB of text", "a".repeat(60_000), false),
        ("an identity number", number.clone(), false),
        ("a UUID around an identity number", planted, false),
        (
            "a well-formed UUID",
            "6f1d9a3e-2b7c-4e5f-9a8b-c0d1e2f3a4b5".to_owned(),
            true,
        ),
    ];
    for (name, id, kept) in cases {
        let res = app
            .http
            .get(format!("{}/healthz", app.base))
            .header("x-request-id", &id)
            .send()
            .await
            .unwrap();
        let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(echoed == id, kept, "{name}: {echoed}");
        assert!(uuid::Uuid::try_parse(&echoed).is_ok(), "{name}: {echoed}");
    }
    // A refusal (the first of the minute, so written) keeps the new id, not the number.
    let res = app
        .http
        .post(format!("{}/oauth/token", app.base))
        .header("x-request-id", &number)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let given = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let records = log_records(&app).await;
    assert!(records
        .iter()
        .any(|r| r.request_id.as_deref() == Some(given.as_str())));
    assert!(log_rows(&app)
        .await
        .iter()
        .all(|r| !r.body.contains(&number)));
}

/// Any method name once became a metrics label: memory that was never freed and
/// scrapes of gigabytes. Labels now come from a known set.
#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = spawn_app().await;
    let scrape = || async {
        reqwest::get(format!("{}/metrics", app.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let probe = |m: String| {
        let (http, base) = (app.http.clone(), app.base.clone());
        async move {
            let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
            http.request(method, format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        probe("MADEUP0".into()).await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    // The first scrape's own series appears from the second on.
    scrape().await;
    let first = scrape().await;
    for k in 1..200 {
        probe(format!("MADEUP{k}")).await;
    }
    let after = scrape().await;
    assert!(!after.contains("MADEUP"), "no caller's method is a label");
    assert!(after.contains("method=\"other\""));
    assert_eq!(
        first.lines().count(),
        after.lines().count(),
        "the same series, only their counts grew"
    );
}

/// A link from another site to a login (a top-level GET carries the Lax cookie)
/// once logged the pupil out; staff sessions were never refreshed.
#[tokio::test]
async fn a_login_link_from_elsewhere_logs_nobody_out_and_staff_stay_while_active() {
    let app = crate::helpers::spawn_pages(|s| {
        s.session_idle_minutes = 30;
        s.session_absolute_minutes = 480;
    })
    .await;
    let mut b = crate::pages::logged_in(&app, &pupil(2008, 11, 2, 41)).await;
    for link in [
        "/console/login",
        "/auth/login?return=%2Fconsole",
        "/auth/login",
    ] {
        let page = b.get(link).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{link}");
        assert_eq!(
            b.get("/me/consents").await.status,
            StatusCode::OK,
            "{link} kept the pupil logged in"
        );
    }
    // A control character in the way back is dropped, not a 500 after the login.
    let mut c = crate::browser::Browser::new(&app.base);
    let cb = c
        .dev_login_to(
            "/auth/login?return=%2Fme%2Fconsents%0D%0ASet-Cookie%3Ax",
            &pupil(2008, 11, 2, 42),
            crate::pages::SUBSTANTIAL,
        )
        .await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    assert_eq!(cb.location.as_deref(), Some("/consent"));
    // A compliance officer who works for an hour stays logged in; idle, is not.
    let (n, _) = samtykke::demo::demo_staff()
        .into_iter()
        .find(|(_, r)| *r == "compliance_officer")
        .unwrap();
    let mut staff = crate::browser::Browser::new(&app.base);
    staff
        .dev_login_to(
            "/console/login",
            &n.expose_digits(),
            crate::pages::SUBSTANTIAL,
        )
        .await;
    for _ in 0..3 {
        app.clock.advance(20 * 60_000);
        assert_eq!(staff.get("/console").await.status, StatusCode::OK);
    }
    app.clock.advance(31 * 60_000);
    assert_eq!(staff.get("/console").await.status, StatusCode::SEE_OTHER);
}

/// Reached over HTTPS, every answer tells browsers to stay on HTTPS.
#[tokio::test]
async fn https_deployments_send_strict_transport_security() {
    let app = crate::helpers::spawn_with(
        |s| {
            s.public_url = "https://samtykke.example".into();
            s.oidc_issuer = Some("https://idporten.example".into());
            s.oidc_client_secret = Some("secret".into());
        },
        false,
    )
    .await;
    let res = reqwest::get(format!("{}/healthz", app.base)).await.unwrap();
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let local = spawn_app().await;
    let res = reqwest::get(format!("{}/healthz", local.base))
        .await
        .unwrap();
    assert!(res.headers().get("strict-transport-security").is_none());
}

/// An assertion with a made-up kid once made samtykke fetch the partner's keys
/// for every request (200 fetches for 200 requests), and a huge answer was read
/// whole (2.2 GB of memory for 200 MB).
#[tokio::test]
async fn made_up_kids_fetch_a_partners_keys_once_and_a_huge_answer_is_cut_off() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = Arc::new(spawn_app().await);
    let s = crate::tokens::scene(&app).await;
    let scope = "pupil:attendance:read";
    let a = crate::partner::Partner::with_kid("ot-case", "ot-a");
    let set = serde_json::json!({ "keys": [a.jwks["keys"][0].clone()] });

    // The partner's key server: slow, and counting what it is asked.
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (hits, set) = (counted.clone(), set.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                axum::Json(set)
            }
        }),
    );
    let base = crate::helpers::serve_router(router).await;
    let keys_at = |uri: String| {
        let app = &app;
        async move {
            let (st, v) = app
                .json(
                    reqwest::Method::PUT,
                    "/api/v1/clients/ot-case/keys",
                    Some(serde_json::json!({ "jwks_uri": uri })),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{v}");
        }
    };
    keys_at(format!("{base}/jwks")).await;
    let (st, v) = crate::tokens::token(&app, &a, scope, &s.identity, &s.school_number).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let fetched = hits.load(Ordering::SeqCst);

    // Fifty made-up kids at once, past the refetch interval: one fetch between them;
    // fifty more within the interval: none.
    for round in 0..2 {
        if round == 0 {
            app.clock.advance(1_100);
        }
        let mut all = tokio::task::JoinSet::new();
        for k in 0..50 {
            let (app, identity, holder) =
                (app.clone(), s.identity.clone(), s.school_number.clone());
            all.spawn(async move {
                let stranger =
                    crate::partner::Partner::with_kid("ot-case", &format!("made-up-{k}"));
                crate::tokens::token(&app, &stranger, scope, &identity, &holder).await
            });
        }
        while let Some(r) = all.join_next().await {
            let (st, v) = r.unwrap();
            assert_eq!(
                (st, v["error"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("invalid_client"))
            );
        }
        assert_eq!(hits.load(Ordering::SeqCst), fetched + 1, "round {round}");
    }

    // A key server whose answer never ends: samtykke stops reading at 64 KiB.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let huge = format!("http://{}/jwks", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut req = [0u8; 4096];
                let _ = conn.read(&mut req).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if conn.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 65_536, " ".repeat(65_536));
                // At most 1 GiB, so a server that reads it all still ends.
                for _ in 0..16_384 {
                    if conn.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                    counter.fetch_add(65_536, Ordering::SeqCst);
                }
            });
        }
    });
    keys_at(huge).await;
    app.clock.advance(1_100);
    let (st, _) = crate::tokens::token(&app, &a, scope, &s.identity, &s.school_number).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let read = sent.load(Ordering::SeqCst);
    assert!(read < 32 << 20, "{read} bytes sent before samtykke hung up");
}

/// An identity number sent as a JSON number was echoed back in the 422; a repeated
/// key meant whatever the last one said.
#[tokio::test]
async fn bad_json_is_refused_without_repeating_an_identity_number() {
    let app = spawn_app().await;
    // No leading zero, so it is a JSON number.
    let number = pupil(2008, 6, 21, 11);
    let as_number = format!(r#"{{"identity_number": {number}, "network_id": "x"}}"#);
    let twice = r#"{"identity_number": "a", "identity_number": "b"}"#.to_owned();
    let cases = [
        ("a number as a JSON number", as_number, 422, "invalid-field"),
        ("a key twice", twice, 400, "repeated-key"),
    ];
    for (name, body, status, slug) in cases {
        let res = app
            .http
            .post(format!("{}/api/v1/consents", app.base))
            .bearer_auth(&app.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let got = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(got, status, "{name}: {text}");
        assert!(text.contains(slug), "{name}: {text}");
        assert!(!text.contains(&number), "{name}: {text}");
    }
}

/// Error text once told a caller which client ids exist, which are disabled and
/// which keys they have; a disabled client kept working.
#[tokio::test]
async fn client_authentication_fails_alike_and_a_disabled_client_stops_at_once() {
    let app = spawn_app().await;
    let s = crate::tokens::scene(&app).await;
    let scope = "pupil:attendance:read";
    let ok = crate::tokens::token(&app, &s.ppt, scope, &s.identity, &s.school_number).await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    let token = ok.1["access_token"].as_str().unwrap().to_owned();
    let stranger = crate::partner::Partner::new("no-such-client");
    let wrong_key = crate::partner::Partner::with_kid("ppt-case", "not-registered");
    let mut texts = Vec::new();
    for (name, p) in [("unknown client", &stranger), ("wrong key", &wrong_key)] {
        let (st, v) = crate::tokens::token(&app, p, scope, &s.identity, &s.school_number).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{name}");
        texts.push(v["error_description"].clone());
    }
    assert_eq!(
        texts[0], texts[1],
        "the same words for every failure before the signature"
    );

    // Disabled: refused at once, its token inactive; enabled again, it works.
    let (st, v) = app
        .json(
            reqwest::Method::PATCH,
            "/api/v1/clients/ppt-case",
            Some(serde_json::json!({ "enabled": false })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["enabled"], false);
    let (st, v) = crate::tokens::token(&app, &s.ppt, scope, &s.identity, &s.school_number).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(
        v["error_description"], texts[0],
        "a disabled client reads like any other"
    );
    let seen = crate::tokens::introspect(&app, &s.holder, &token).await;
    assert_eq!(seen["active"], false, "its tokens are inactive");
    let (st, _) = app
        .json(
            reqwest::Method::PATCH,
            "/api/v1/clients/ppt-case",
            Some(serde_json::json!({ "enabled": true, "name": "x" })),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields refused"
    );
    let (st, _) = app
        .json(
            reqwest::Method::PATCH,
            "/api/v1/clients/nobody",
            Some(serde_json::json!({ "enabled": true })),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = app
        .json(
            reqwest::Method::PATCH,
            "/api/v1/clients/ppt-case",
            Some(serde_json::json!({ "enabled": true })),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let back = crate::tokens::token(&app, &s.ppt, scope, &s.identity, &s.school_number).await;
    assert_eq!(back.0, StatusCode::OK);
}

/// No limit once let one partner (or anyone, without credentials) take every
/// request the service could answer. Past a client's rate: 429 with
/// `Retry-After` while another client is still served; past an address's rate at
/// the open doors: 429 before any work, and a readable page at the logins.
#[tokio::test]
async fn a_flood_is_held_per_client_and_per_address_while_others_are_served() {
    let app = crate::helpers::spawn_with(|s| s.rate_limit_client_per_second = 5, false).await;
    let s = crate::tokens::scene(&app).await;
    let scope = "pupil:attendance:read";
    let mut answers = Vec::new();
    for _ in 0..12 {
        let (st, v) =
            crate::tokens::token(&app, &s.ppt, scope, &s.identity, &s.school_number).await;
        answers.push((st, v));
    }
    let ok = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::OK)
        .count();
    let slowed: Vec<_> = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(
        (ok, slowed.len()),
        (10, 2),
        "a burst of twice the rate, then 429"
    );
    assert_eq!(slowed[0].1["error"], "slow_down");
    let (st, v) = crate::tokens::token(&app, &s.ot, scope, &s.identity, &s.school_number).await;
    assert_ne!(
        st,
        StatusCode::TOO_MANY_REQUESTS,
        "another client is served: {v}"
    );
    app.clock.advance(1_000);
    let (st, _) = crate::tokens::token(&app, &s.ppt, scope, &s.identity, &s.school_number).await;
    assert_eq!(st, StatusCode::OK, "a second later it is served again");

    // Per address, before any work: tokens, AuthZEN, a login start.
    let app = crate::helpers::spawn_pages(|s| s.rate_limit_address_per_second = 2).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let res = app
            .http
            .post(format!("{}/oauth/token", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        let wait = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        statuses.push((res.status(), wait));
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|(st, _)| *st == StatusCode::UNAUTHORIZED)
            .count(),
        4,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .any(|(st, wait)| *st == StatusCode::TOO_MANY_REQUESTS && wait.as_deref() == Some("1")));
    let login = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(login.text().await.unwrap().contains("For mange forsøk"));
    let health = reqwest::get(format!("{}/healthz", app.base)).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "other doors stay open");
}

/// `/metrics` was open to anyone on the service's port; outside a development
/// machine it now asks for an admin credential (a scraper's bearer token).
#[tokio::test]
async fn metrics_ask_for_a_credential_where_configured() {
    let app = crate::helpers::spawn_with(|s| s.metrics_require_admin = Some(true), false).await;
    let open = reqwest::get(format!("{}/metrics", app.base)).await.unwrap();
    assert_eq!(open.status(), StatusCode::UNAUTHORIZED);
    let scraped = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped
        .text()
        .await
        .unwrap()
        .contains("samtykke_http_requests"));
}
