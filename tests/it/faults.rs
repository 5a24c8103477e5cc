//! PostgreSQL going away under a running service, through a TCP proxy the test
//! switches off and on. Every request then answered 500 after ten seconds, and
//! AuthZEN told partners their assertion was a replay. Now: 503 within the
//! configured time, the caller's credentials never blamed, nothing allowed, and
//! back by itself when the database returns. Only on PostgreSQL (the embedded
//! SQLite file cannot go away); `.ci/run` runs it there.

use reqwest::StatusCode;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::helpers::{spawn_with, TestApp};
use crate::tokens::{scene, token};

/// Forwards TCP to `target` while up; down, it drops every connection and
/// refuses new ones.
struct Proxy {
    addr: std::net::SocketAddr,
    target: String,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p = Self {
            addr: listener.local_addr().unwrap(),
            target,
            tasks: Arc::default(),
        };
        p.serve(listener);
        p
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn.abort_handle());
            }
        });
        self.tasks.lock().unwrap().push(accept.abort_handle());
    }

    fn down(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    async fn up(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

async fn status(app: &TestApp, path: &str) -> StatusCode {
    app.http
        .get(format!("{}{path}", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn postgres_going_away_gets_503_in_bounded_time_and_recovers() {
    let Ok(admin) = std::env::var("SAMTYKKE_TEST_DATABASE_URL") else {
        eprintln!("faults: PostgreSQL only (set SAMTYKKE_TEST_DATABASE_URL)");
        return;
    };
    let pg = url::Url::parse(&admin).unwrap();
    let target = format!("{}:{}", pg.host_str().unwrap(), pg.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    let through = proxy.addr;
    let app = spawn_with(
        move |s| {
            let mut u = url::Url::parse(&s.database_url).unwrap();
            u.set_host(Some(&through.ip().to_string())).unwrap();
            u.set_port(Some(through.port())).unwrap();
            s.database_url = u.to_string();
            s.database_timeout_ms = 1000;
        },
        false,
    )
    .await;
    let s = scene(&app).await;
    let scope = "pupil:attendance:read";
    assert_eq!(status(&app, "/api/v1/consents").await, StatusCode::OK);

    proxy.down();
    #[allow(clippy::disallowed_methods)] // the bound is the behaviour under test
    let started = std::time::Instant::now();
    for path in ["/api/v1/consents", "/readyz"] {
        assert_eq!(
            status(&app, path).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}"
        );
    }
    let res = app
        .http
        .get(format!("{}/api/v1/consents", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "5");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    // A partner with a valid assertion is told to try again, never that its
    // credentials are wrong, and is given nothing.
    let (st, v) = token(&app, &s.ppt, scope, &s.identity, &s.school_number).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"], "temporarily_unavailable");
    assert!(v.get("access_token").is_none());
    let elapsed = started.elapsed();
    assert!(
        elapsed < std::time::Duration::from_secs(15),
        "answered within the configured second per request, not ten: {elapsed:?}"
    );

    // The database returns: so does samtykke, without a restart.
    proxy.up().await;
    let mut back = false;
    for _ in 0..50 {
        if status(&app, "/api/v1/consents").await == StatusCode::OK {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back, "recovered when the database came back");
    let (st, v) = token(&app, &s.ppt, scope, &s.identity, &s.school_number).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}
