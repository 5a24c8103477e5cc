//! The binary as an operator runs it: configuration errors, the CLI, and what ends
//! up in its logs and database files.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use samtykke::demo::demo_pupil_numbers;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_samtykke");

fn samtykke(dir: &Path) -> Command {
    in_dir(Command::new(BIN), dir)
}

fn in_dir(mut c: Command, dir: &Path) -> Command {
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    c
}

async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = samtykke(dir);
    c.args(args).envs(env.iter().copied());
    let out = c.output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn help_documents_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(dir.path(), &["--help"], &[]).await;
    assert_eq!(code, 0);
    for sub in [
        "serve",
        "migrate",
        "org",
        "network",
        "catalogue",
        "template",
        "client",
        "admin-token",
    ] {
        assert!(out.contains(sub), "--help lacks {sub}:\n{out}");
    }
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("SAMTYKKE_LISTEN", "nowhere")], "listen"),
        (&[("SAMTYKKE_DATABASE_URL", "mysql://db")], "database_url"),
        (
            &[("SAMTYKKE_CONSENT_VALIDITY_DAYS", "forever")],
            "consent_validity_days",
        ),
        (&[("SAMTYKKE_PUBLIC_URL", "ftp://x")], "public_url"),
    ];
    for (env, setting) in cases {
        let (code, _, err) = run(dir.path(), &["migrate"], env).await;
        assert_eq!(code, 2, "{setting}: {err}");
        assert!(err.to_lowercase().contains(setting), "{setting}: {err}");
    }
    std::fs::write(dir.path().join("samtykke.toml"), "max_body_bytes = 1\n").unwrap();
    let (code, _, err) = run(dir.path(), &["migrate"], &[]).await;
    assert_eq!(code, 2);
    assert!(err.contains("max_body_bytes"), "{err}");
    let (code, _, err) = run(dir.path(), &["--config", "missing.toml", "migrate"], &[]).await;
    assert_eq!(code, 2);
    assert!(err.contains("missing.toml"), "{err}");
    // A database that is not there: where, and for how long it was tried (it once
    // said "database: database: pool timed out" after ten seconds).
    let down = [
        (
            "SAMTYKKE_DATABASE_URL",
            "postgres://postgres:secret@127.0.0.1:1/nothing",
        ),
        ("SAMTYKKE_DATABASE_TIMEOUT_MS", "300"),
        (
            "SAMTYKKE_HMAC_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
        (
            "SAMTYKKE_KEK",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
    ];
    let fresh = tempfile::tempdir().unwrap();
    let (code, _, err) = run(fresh.path(), &["migrate"], &down).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("127.0.0.1:1/nothing") && err.contains("300 ms") && !err.contains("secret"),
        "{err}"
    );
}

#[tokio::test]
async fn operators_use_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(dir.path(), &["org", "list"], &[]).await;
    assert_eq!(code, 1, "an unmigrated database is refused");
    assert!(err.contains("samtykke migrate"), "{err}");
    let (code, out, err) = run(dir.path(), &["migrate"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("schema is current"));
    let number = crate::helpers::org_number(42);
    let (code, out, err) = run(
        dir.path(),
        &[
            "org",
            "add",
            "--name",
            "PPT Nordby",
            "--number",
            &number,
            "--type",
            "ppt",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let org: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(org["org_type"], "ppt");
    let (code, out, _) = run(dir.path(), &["org", "list"], &[]).await;
    assert_eq!(code, 0);
    assert!(out.contains("PPT Nordby") && out.contains(&number), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("data"), 0o700, "the data folder is private");
        assert_eq!(mode("data/keys.json"), 0o600, "the key file is private");
    }
    let (code, _, err) = run(
        dir.path(),
        &[
            "org",
            "add",
            "--name",
            "X",
            "--number",
            "123456789",
            "--type",
            "ppt",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("check digit"), "{err}");
    let (code, _, err) = run(
        dir.path(),
        &[
            "org", "add", "--name", "X", "--number", &number, "--type", "ppt",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("registered already"), "{err}");
    let (code, out, _) = run(
        dir.path(),
        &["admin-token", "create", "--label", "ops"],
        &[],
    )
    .await;
    assert_eq!(code, 0);
    assert!(out.trim().starts_with("sam_admin_"));
    let (code, _, err) = run(
        dir.path(),
        &[
            "admin-token",
            "create",
            "--label",
            "scraper",
            "--scope",
            "metrics",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(dir.path(), &["admin-token", "list"], &[]).await;
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(&out).unwrap();
    let scraper = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "scraper")
        .expect("listed");
    assert_eq!(scraper["scope"], "metrics");
    assert!(!out.contains("sam_admin_"), "a listing never shows a token");
    let id = scraper["id"].as_str().unwrap();
    let (code, out, err) = run(dir.path(), &["admin-token", "revoke", id], &[]).await;
    assert_eq!(code, 0, "{err}");
    let revoked: Value = serde_json::from_str(&out).unwrap();
    assert!(revoked["revoked_at"].is_i64(), "{out}");
    let (code, out, err) = run(dir.path(), &["keys", "rotate"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("signing with key "), "{out}");
    let (code, out, _) = run(dir.path(), &["catalogue", "show"], &[]).await;
    assert_eq!(code, 0);
    assert!(out.contains("child_welfare"));
}

struct Server {
    child: Child,
    base: String,
    token: String,
    /// Everything the server printed so far, stdout and stderr (its logs).
    output: std::sync::Arc<tokio::sync::Mutex<String>>,
    /// The readers of its two pipes: done when the server has exited and all it
    /// printed is in `output`.
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// All the server printed, once it has exited.
    async fn all_output(&mut self) -> String {
        for r in self.readers.drain(..) {
            let _ = r.await;
        }
        self.output.lock().await.clone()
    }
}

async fn start(dir: &Path) -> Server {
    start_with(dir, &[], None).await
}

/// With more settings, and optionally under `ulimit -n` (soft and hard).
async fn start_with(dir: &Path, env: &[(&str, &str)], descriptors: Option<u32>) -> Server {
    let mut c = match descriptors {
        None => samtykke(dir),
        Some(n) => {
            let mut sh = in_dir(Command::new("sh"), dir);
            sh.args(["-c", &format!("ulimit -n {n} && exec \"$0\""), BIN]);
            sh
        }
    };
    c.envs(env.iter().copied());
    c.envs([
        ("SAMTYKKE_LISTEN", "127.0.0.1:0"),
        ("SAMTYKKE_LOG_FORMAT", "json"),
        ("SAMTYKKE_LOG_FILTER", "debug,sqlx=debug,hyper=info"),
    ]);
    let mut child = c.spawn().unwrap();
    // Drain both pipes from the start: a full pipe would block the server. Everything
    // it prints is kept for the assertions at the end.
    let collected = std::sync::Arc::new(tokio::sync::Mutex::new(String::new()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = collected.clone();
    let stdout = tokio::spawn(async move {
        while let Ok(Some(l)) = out.next_line().await {
            let _ = tx.send(l.clone());
            let mut s = sink.lock().await;
            s.push_str(&l);
            s.push('\n');
        }
    });
    let sink = collected.clone();
    let stderr = tokio::spawn(async move {
        while let Ok(Some(l)) = err.next_line().await {
            let mut s = sink.lock().await;
            s.push_str(&l);
            s.push('\n');
        }
    });
    let (mut base, mut token) = (String::new(), String::new());
    while base.is_empty() {
        let line = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("the server starts within a minute")
            .expect("the server is still running");
        if let Some(t) = line.trim().strip_prefix("sam_admin_") {
            token = format!("sam_admin_{t}");
        }
        if let Some(rest) = line
            .split(" (")
            .nth(1)
            .filter(|_| line.contains("is listening on"))
        {
            base = format!("http://{}", rest.trim_end_matches(')'));
        }
    }
    assert!(!token.is_empty(), "{}", collected.lock().await);
    Server {
        child,
        base,
        token,
        output: collected,
        readers: vec![stdout, stderr],
    }
}

#[tokio::test]
async fn no_identity_number_reaches_the_logs_or_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path()).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = http
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(&server.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    let networks: Value = call(reqwest::Method::GET, "/api/v1/networks", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let network = networks
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "Fjordvik vgs")
        .unwrap()
        .clone();
    let templates: Value = call(reqwest::Method::GET, "/api/v1/templates", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fresh = crate::helpers::pupil(2007, 12, 24, 9);
    let mut wrong = fresh.clone().into_bytes();
    wrong[10] = if wrong[10] == b'9' {
        b'0'
    } else {
        wrong[10] + 1
    };
    let wrong = String::from_utf8(wrong).unwrap();
    let body = |n: &str| {
        json!({
            "identity_number": n, "network_id": network["id"], "template_id": templates[0]["id"],
            "choices": [crate::helpers::obtain(network["school_id"].as_str().unwrap(), "attendance")],
            "evidence": { "acr": "idporten-loa-substantial", "amr": ["BankID"], "session_ref": "s" },
        })
    };
    assert_eq!(
        call(
            reqwest::Method::POST,
            "/api/v1/consents",
            Some(body(&fresh))
        )
        .await
        .unwrap()
        .status(),
        201
    );
    assert_eq!(
        call(
            reqwest::Method::POST,
            "/api/v1/consents",
            Some(body(&wrong))
        )
        .await
        .unwrap()
        .status(),
        422
    );
    assert_eq!(
        call(
            reqwest::Method::POST,
            "/api/v1/pupils/lookup",
            Some(json!({ "identity_number": fresh }))
        )
        .await
        .unwrap()
        .status(),
        200
    );
    // A hostile caller puts the number in the URL: the log names the route, not the path.
    assert_eq!(
        call(
            reqwest::Method::GET,
            &format!("/api/v1/pupils/{fresh}/consents"),
            None
        )
        .await
        .unwrap()
        .status(),
        400
    );
    assert_eq!(
        call(
            reqwest::Method::GET,
            &format!("/api/v1/x?pid={fresh}"),
            None
        )
        .await
        .unwrap()
        .status(),
        404
    );

    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().unwrap().to_string())
        .status();
    let status = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful shutdown on SIGTERM");
    let logs = server.all_output().await;
    assert!(
        logs.contains("\"route\":\"/api/v1/consents\""),
        "the logs are there and structured:\n{logs}"
    );
    assert!(logs.contains("request_id"), "{logs}");

    let mut numbers: Vec<String> = demo_pupil_numbers()
        .iter()
        .map(|n| n.expose_digits())
        .collect();
    numbers.extend([fresh.clone(), wrong.clone()]);
    let mut db = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("data")).unwrap() {
        let p = entry.unwrap().path();
        if p.to_string_lossy().contains("samtykke.db") {
            db.extend(std::fs::read(p).unwrap());
        }
    }
    assert!(db.len() > 10_000);
    for n in &numbers {
        assert!(
            !logs.contains(n.as_str()),
            "an identity number reached the logs"
        );
        assert!(
            !db.windows(11).any(|w| w == n.as_bytes()),
            "an identity number is in the database file"
        );
    }
}

#[tokio::test]
async fn the_policy_is_checked_and_reloaded_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    for f in ["model.conf", "baseline.csv"] {
        std::fs::copy(format!("policies/{f}"), policies.join(f)).unwrap();
    }
    let cwd = std::env::current_dir().unwrap();
    let table = cwd.join("policies/tests/decisions.csv");
    let (code, out, err) = run(
        dir.path(),
        &["policy", "test", table.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 failed"), "{out}");

    let mut server = start(dir.path()).await;
    let http = reqwest::Client::new();
    let orgs: Value = http
        .get(format!("{}/api/v1/organisations", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let school = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Oppfølgingstjenesten i Fjordvik")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let demo = demo_pupil_numbers()[0].expose_digits();
    let explain = || async {
        let v: Value = http
            .post(format!("{}/api/v1/policy/explain", server.base))
            .bearer_auth(&server.token)
            .json(&json!({ "org_id": school, "identity_number": demo, "category": "attendance" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["decision"]["allowed"].as_bool().unwrap()
    };
    assert!(
        explain().await,
        "the demo pupil lets the school tell OT their absence"
    );

    // The CLI asks the same question; the number comes on stdin, never as an argument.
    let mut c = samtykke(dir.path());
    c.args([
        "policy",
        "check",
        "--org",
        &school,
        "--category",
        "attendance",
    ])
    .stdin(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use tokio::io::AsyncWriteExt;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{demo}\n").as_bytes())
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        v["allowed"],
        true,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        v["baseline_rule"],
        "p, ot, attendance, read, follow_up, allow"
    );

    // Edit the file and send SIGHUP: the new rule takes effect without a restart.
    let mut baseline = std::fs::read_to_string(policies.join("baseline.csv")).unwrap();
    baseline.push_str("\np, ot, attendance, *, *, deny\n");
    std::fs::write(policies.join("baseline.csv"), baseline).unwrap();
    let pid = server.child.id().unwrap().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status();
    let mut flipped = false;
    for _ in 0..50 {
        if !explain().await {
            flipped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(flipped, "SIGHUP reloaded the policy");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let _ = server.child.wait().await;
}

fn signal(server: &Server, name: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(server.child.id().unwrap().to_string())
        .status();
}

/// SIGTERM: no new connections; a request in flight finishes and is answered; one
/// that never finishes is dropped after `drain_timeout_ms`; then the process exits 0.
#[tokio::test]
async fn sigterm_drains_requests_in_flight_within_the_drain_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with(dir.path(), &[("SAMTYKKE_DRAIN_TIMEOUT_MS", "1500")], None).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let head = "POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 18\r\n\r\n";
    let mut finishing = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    for s in [&mut finishing, &mut stalled] {
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(b"grant_type=").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = tokio::time::Instant::now();
    signal(&server, "TERM");
    // The listener closes at once; on a busy machine "at once" is polled for.
    let mut refused = false;
    for _ in 0..60 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "a new connection after SIGTERM is refused");
    finishing.write_all(b"nothing").await.unwrap();
    let mut said = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), finishing.read_to_string(&mut said)).await;
    assert!(
        said.starts_with("HTTP/1.1 401"),
        "the request in flight is answered: {said}"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .expect("the process exits after the drain timeout")
        .unwrap();
    assert!(status.success());
    let took = asked.elapsed();
    assert!(
        (Duration::from_millis(1400)..Duration::from_secs(6)).contains(&took),
        "exited {took:?} after SIGTERM, with one request never finishing"
    );
    let logs = server.all_output().await;
    assert!(logs.contains("drain_timeout_ms"), "{logs}");
}

/// Under `ulimit -n 256`, 600 silent sockets: the service caps what it accepts
/// below its descriptors, cuts the silent ones off, and `/healthz` answers. Before,
/// accept failed with EMFILE and nothing was ever answered again.
#[tokio::test]
async fn more_silent_sockets_than_descriptors_do_not_stop_the_service() {
    let _ = rlimit::increase_nofile_limit(4096);
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with(
        dir.path(),
        &[("SAMTYKKE_HEADER_TIMEOUT_MS", "1000")],
        Some(256),
    )
    .await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut silent = Vec::new();
    for _ in 0..600 {
        match tokio::net::TcpStream::connect(&addr).await {
            Ok(s) => silent.push(s),
            // The backlog is full: that is the kernel holding the rest back.
            Err(_) => break,
        }
    }
    assert!(silent.len() > 256, "only {} sockets opened", silent.len());
    let health = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("healthz answers");
    assert_eq!(health.status(), 200);
    drop(silent);
    signal(&server, "TERM");
    let _ = server.child.wait().await;
    let logs = server.all_output().await;
    assert!(
        logs.contains("fewer connections than max_connections"),
        "{logs}"
    );
}
