//! A data holder: the school's system serves pupil data to partners that present a
//! samtykke access token. It validates the token locally against samtykke's JWKS
//! (ES256 only, audience = its own organisation number, issuer, type at+jwt), then
//! introspects it to make sure the pupil's consent is still in force (and to learn,
//! per category, whether it hands the data over by consent or by a duty in law),
//! and returns only the categories the token carries.
//!
//!     cargo run --example data_holder [-- SAMTYKKE_URL LISTEN DATA_DIR]

#[path = "common/mod.rs"]
mod common;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use std::sync::Arc;

struct Holder {
    samtykke: String,
    org_number: String,
    client: common::DemoClient,
    http: reqwest::Client,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("data_holder: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let samtykke = args
        .get(1)
        .map_or("http://127.0.0.1:8080", String::as_str)
        .trim_end_matches('/')
        .to_owned();
    let listen = args
        .get(2)
        .map_or("127.0.0.1:8090", String::as_str)
        .to_owned();
    let data = args.get(3).map_or("data", String::as_str);
    let holder = Arc::new(Holder {
        samtykke,
        org_number: samtykke::demo::org_number(0)
            .map_err(|e| e.to_string())?
            .to_string(),
        client: common::DemoClient::load(data, "demo-school-admin")?,
        http: reqwest::Client::new(),
    });
    let app = Router::new()
        .route("/pupil-data", get(pupil_data))
        .with_state(holder);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("{listen}: {e}"))?;
    println!(
        "data holder listening on http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

fn refuse(status: StatusCode, why: &str) -> (StatusCode, Json<Value>) {
    (status, Json(json!({ "error": why })))
}

async fn pupil_data(State(h): State<Arc<Holder>>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return refuse(StatusCode::UNAUTHORIZED, "send a samtykke access token");
    };
    // 1. Local validation against the published keys.
    let claims = match validate(&h, token).await {
        Ok(c) => c,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, &e),
    };
    // 2. Live consent: introspection answers inactive as soon as the pupil withdraws.
    let mut form = match h.client.auth(&format!("{}/oauth/introspect", h.samtykke)) {
        Ok(f) => f,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    form.push(("token", token.to_owned()));
    let live: Value = match h
        .http
        .post(format!("{}/oauth/introspect", h.samtykke))
        .form(&form)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(e) => return refuse(StatusCode::BAD_GATEWAY, &e.to_string()),
    };
    if live["active"] != true {
        return refuse(StatusCode::FORBIDDEN, "the pupil's consent is not in force");
    }
    // The holder looks the pupil up by number in its own records (never echoed back).
    let known = live["pupil_identity_number"]
        .as_str()
        .is_some_and(|n| n.len() == 11);
    let mut data = serde_json::Map::new();
    for scope in claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
    {
        match scope {
            "pupil:attendance:read" => data.insert(
                "attendance".into(),
                json!({ "absence_percent": 4.5, "term": "2026 autumn" }),
            ),
            "pupil:grades:read" => {
                data.insert("grades".into(), json!({ "norsk": 4, "matematikk": 3 }))
            }
            "pupil:contact_details:read" => data.insert(
                "contact_details".into(),
                json!({ "phone": "+47 400 00 000" }),
            ),
            "pupil:course_status:read" => data.insert(
                "course_status".into(),
                json!({ "programme": "Helse- og oppvekstfag", "status": "active" }),
            ),
            _ => None,
        };
    }
    (
        StatusCode::OK,
        Json(
            // What the holder hands over under which basis: consent, or a duty in law.
            json!({ "pupil": claims["authorization_details"][0]["pupil"], "record_found": known,
                "data": data, "legal_basis": live["legal_basis"] }),
        ),
    )
}

async fn validate(h: &Holder, token: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some("at+jwt") {
        return Err("not a samtykke access token".into());
    }
    let jwks: JwkSet = h
        .http
        .get(format!("{}/oauth/jwks", h.samtykke))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("unknown signing key")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[&h.org_number]);
    v.set_issuer(&[&h.samtykke]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub", "jti"]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}
