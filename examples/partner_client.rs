//! A partner system: the follow-up service's case system asks samtykke for a token
//! for a demo pupil's attendance and contact details, then fetches them from the
//! school (the data holder example).
//!
//!     cargo run --release                      # samtykke with demo data
//!     cargo run --example data_holder          # the school's system on :8090
//!     cargo run --example partner_client       # this
//!
//! Arguments (optional): SAMTYKKE_URL DATA_HOLDER_URL DATA_DIR

#[path = "common/mod.rs"]
mod common;

use serde_json::{json, Value};

/// The claims of an access token, read without checking it (the data holder checks).
fn access_claims(token: &str) -> Value {
    use base64::Engine;
    token
        .split('.')
        .nth(1)
        .and_then(|b| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("partner_client: {e}");
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
    let holder = args
        .get(2)
        .map_or("http://127.0.0.1:8090", String::as_str)
        .trim_end_matches('/')
        .to_owned();
    let data = args.get(3).map_or("data", String::as_str);
    let client = common::DemoClient::load(data, "demo-ot-case")?;
    let school = samtykke::demo::org_number(0).map_err(|e| e.to_string())?;
    let pupil = samtykke::demo::demo_pupil_numbers()
        .first()
        .map(|n| n.expose_digits())
        .ok_or("no demo pupil")?;

    // 1. A token for the allowed part of what we ask for.
    let mut form = client.auth(&format!("{samtykke}/oauth/token"))?;
    form.push(("grant_type", "client_credentials".into()));
    form.push((
        "scope",
        "pupil:attendance:read pupil:contact_details:read pupil:course_status:read".into(),
    ));
    form.push(("authorization_details", json!([{ "type": "pupil_data", "pupil": pupil, "purpose": "follow_up", "audience": school.as_str() }]).to_string()));
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{samtykke}/oauth/token"))
        .form(&form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let token: Value = res.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("token request refused: {token}"));
    }
    println!(
        "asked for:  pupil:attendance:read pupil:contact_details:read pupil:course_status:read"
    );
    println!(
        "granted:    {}",
        token["scope"].as_str().unwrap_or_default()
    );
    println!(
        "pupil (as this partner knows them): {}",
        token["authorization_details"][0]["pupil"]
    );
    // The token itself names who discloses and, per category, consent or law.
    let claims = access_claims(token["access_token"].as_str().unwrap_or_default());
    println!(
        "discloser:  {}, basis: {}",
        claims["authorization_details"][0]["discloser"],
        claims["authorization_details"][0]["basis"]
    );

    // 2. Present it to the data holder.
    let access = token["access_token"].as_str().ok_or("no access token")?;
    let res = http
        .get(format!("{holder}/pupil-data"))
        .bearer_auth(access)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let body: Value = res.json().await.map_err(|e| e.to_string())?;
    println!("data holder answered {status}: {body}");
    if status.is_success() {
        Ok(())
    } else {
        Err("the data holder refused".into())
    }
}
