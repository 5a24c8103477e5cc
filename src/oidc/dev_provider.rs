//! The development login: a small OpenID Provider served on samtykke's own port
//! when no issuer is configured, so that `cargo run` offers a test login that goes
//! through exactly the same relying-party code as ID-porten. It signs with a key
//! made at start-up and runs only on a localhost public URL (see `config`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

use crate::tokens::signing::{self, KeyRing};

pub const CLIENT_ID: &str = "samtykke-dev";
/// Codes are single-use and live this long.
const CODE_TTL_MS: i64 = 60_000;
const ID_TOKEN_TTL_MS: i64 = 120_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DevError {
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_grant")]
    InvalidGrant,
}

/// An authorization request as the provider receives it.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub acr_values: Option<String>,
    pub ui_locales: Option<String>,
}

struct Pending {
    pid: String,
    acr: String,
    nonce: String,
    challenge: String,
    issued_at: i64,
}

pub struct DevProvider {
    issuer: String,
    redirect_uri: String,
    post_logout_uri: String,
    client_secret: String,
    keys: KeyRing,
    codes: Mutex<HashMap<String, Pending>>,
}

fn random(bytes: usize) -> Result<String, DevError> {
    let mut b = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| DevError::BadRequest("no randomness"))?;
    Ok(B64.encode(b))
}

impl DevProvider {
    /// `public_url` without a trailing slash; the provider lives under `/dev-login`.
    pub fn new(public_url: &str) -> Result<Self, signing::SigningError> {
        let key = signing::generate("dev-login-1".into())?;
        let keys = KeyRing::new(Some((key.kid, &key.pkcs8)), vec![key.public_jwk])?;
        Ok(Self {
            issuer: format!("{public_url}/dev-login"),
            redirect_uri: format!("{public_url}/auth/callback"),
            post_logout_uri: format!("{public_url}/auth/logged-out"),
            client_secret: random(32).map_err(|_| signing::SigningError::Key)?,
            keys,
            codes: Mutex::new(HashMap::new()),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    pub fn discovery(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "jwks_uri": format!("{i}/jwks"),
            "end_session_endpoint": format!("{i}/logout"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "acr_values_supported": ["idporten-loa-low", "idporten-loa-substantial", "idporten-loa-high"],
            "ui_locales_supported": ["nb", "nn", "en"],
            "scopes_supported": ["openid"],
        })
    }

    pub fn jwks(&self) -> &Value {
        self.keys.jwks()
    }

    /// Checks an authorization request the way a strict provider would.
    pub fn check(&self, p: &AuthorizeParams) -> Result<(), DevError> {
        let has = |v: &Option<String>| {
            v.as_deref()
                .is_some_and(|s| !s.is_empty() && s.len() <= 512)
        };
        if p.response_type.as_deref() != Some("code") {
            return Err(DevError::BadRequest("response_type must be code"));
        }
        if p.client_id.as_deref() != Some(CLIENT_ID) {
            return Err(DevError::BadRequest("unknown client_id"));
        }
        if p.redirect_uri.as_deref() != Some(self.redirect_uri.as_str()) {
            return Err(DevError::BadRequest("redirect_uri is not registered"));
        }
        if !p
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .any(|s| s == "openid")
        {
            return Err(DevError::BadRequest("scope must include openid"));
        }
        if p.code_challenge_method.as_deref() != Some("S256") || !has(&p.code_challenge) {
            return Err(DevError::BadRequest("PKCE with S256 is required"));
        }
        if !has(&p.state) || !has(&p.nonce) {
            return Err(DevError::BadRequest("state and nonce are required"));
        }
        Ok(())
    }

    /// The pupil logged in as `pid` at `acr`: a code to send back.
    pub fn issue_code(
        &self,
        p: &AuthorizeParams,
        pid: &str,
        acr: &str,
        now: i64,
    ) -> Result<String, DevError> {
        self.check(p)?;
        let code = random(24)?;
        let mut codes = self.codes.lock().map_err(|_| DevError::InvalidGrant)?;
        codes.retain(|_, c| now - c.issued_at < CODE_TTL_MS);
        codes.insert(
            code.clone(),
            Pending {
                pid: pid.to_owned(),
                acr: acr.to_owned(),
                nonce: p.nonce.clone().unwrap_or_default(),
                challenge: p.code_challenge.clone().unwrap_or_default(),
                issued_at: now,
            },
        );
        Ok(code)
    }

    /// The token endpoint: client secret (Basic), single-use code, PKCE, redirect.
    pub fn exchange(
        &self,
        basic: Option<(&str, &str)>,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        now: i64,
    ) -> Result<Value, DevError> {
        let secret_ok = basic.is_some_and(|(id, secret)| {
            id == CLIENT_ID
                && crate::crypto::same_secret(secret.as_bytes(), self.client_secret.as_bytes())
        });
        if !secret_ok {
            return Err(DevError::InvalidClient);
        }
        let pending = self
            .codes
            .lock()
            .map_err(|_| DevError::InvalidGrant)?
            .remove(code)
            .ok_or(DevError::InvalidGrant)?;
        let challenge = B64.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        if now - pending.issued_at >= CODE_TTL_MS
            || redirect_uri != self.redirect_uri
            || challenge != pending.challenge
        {
            return Err(DevError::InvalidGrant);
        }
        let sub = hex::encode(digest::digest(
            &digest::SHA256,
            format!("dev-sub:{}", pending.pid).as_bytes(),
        ));
        let claims = json!({
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": sub,
            "iat": now / 1000,
            "exp": (now + ID_TOKEN_TTL_MS) / 1000,
            "auth_time": now / 1000,
            "nonce": pending.nonce,
            "acr": pending.acr,
            "amr": ["TestID"],
            "pid": pending.pid,
        });
        let id_token = self
            .keys
            .sign("JWT", &claims)
            .map_err(|_| DevError::InvalidGrant)?;
        Ok(json!({
            "access_token": random(24)?,
            "token_type": "Bearer",
            "expires_in": 120,
            "id_token": id_token,
        }))
    }

    /// Where the end-session endpoint may send the browser back to.
    pub fn post_logout_ok(&self, uri: &str) -> bool {
        uri == self.post_logout_uri
    }
}
