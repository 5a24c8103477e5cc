//! What both examples need: a demo client's key (written by `cargo run --release`
//! into data/demo-clients/) and signed client assertions (RFC 7523).

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use samtykke::demo::DemoClientFile;
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct DemoClient {
    pub client_id: String,
    kid: String,
    key: EncodingKey,
}

impl DemoClient {
    pub fn load(data_dir: &str, client_id: &str) -> Result<Self, String> {
        let path = format!("{data_dir}/demo-clients/{client_id}.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!("{path}: {e} (start samtykke with `cargo run --release` first)")
        })?;
        let f: DemoClientFile = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(&f.pkcs8)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client_id: f.client_id,
            kid: f.kid,
            key: EncodingKey::from_ec_der(&der),
        })
    }

    /// A fresh assertion for `aud`, valid for 60 seconds.
    #[allow(clippy::disallowed_methods)] // an example client reads the wall clock
    pub fn assertion(&self, aud: &str) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let claims = json!({ "iss": self.client_id, "sub": self.client_id, "aud": aud, "iat": now, "exp": now + 60,
            "jti": uuid::Uuid::new_v4().to_string() });
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| e.to_string())
    }

    /// The form fields that authenticate this client.
    pub fn auth(&self, aud: &str) -> Result<Vec<(&'static str, String)>, String> {
        Ok(vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion", self.assertion(aud)?),
        ])
    }
}
