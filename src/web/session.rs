//! Server-side sessions for the pupil pages. The cookie carries 32 random bytes;
//! the database keeps only their SHA-256 and the session's data. Sessions end after
//! an idle period and, in any case, after an absolute lifetime. Every session has a
//! CSRF token that each state-changing form must echo.

use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::CryptoError;
use crate::domain::Lang;
use crate::oidc::LoginFlow;
use crate::service::{LoginAs, Result, ServiceError, Services};

/// A logged-in pupil. `pupil_id` is samtykke's internal pseudonym.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PupilLogin {
    pub pupil_id: Uuid,
    pub acr: String,
    pub amr: Vec<String>,
    pub auth_time: Option<i64>,
    /// Identifies this login in consent evidence; not a secret.
    pub session_ref: String,
}

/// A logged-in staff member of the compliance console: only the casbin subject
/// (`staff:<keyed hash>`), never the identity number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StaffLogin {
    pub subject: String,
}

/// A logged-in guardian: the keyed hash of their number, never the number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GuardianLogin {
    pub hash: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionData {
    #[serde(default)]
    pub guardian: Option<GuardianLogin>,
    #[serde(default)]
    pub staff: Option<StaffLogin>,
    pub csrf: String,
    pub lang: Option<Lang>,
    pub flow: Option<LoginFlow>,
    /// Whom the login in progress is for.
    #[serde(default)]
    pub login_as: Option<LoginAs>,
    pub return_to: Option<String>,
    pub pupil: Option<PupilLogin>,
    /// The one-time id the review page put in its sign form.
    pub submission: Option<String>,
    /// The last form that was signed and its consent: a resubmission shows it again.
    pub last_signed: Option<(String, Uuid)>,
}

/// A session as loaded: its data and the exact stored text, so a save can refuse
/// when another request changed it first.
#[derive(Debug, Clone)]
pub struct Session {
    id_hash: String,
    stored: String,
    touched_at: i64,
    pub data: SessionData,
}

pub struct SessionConfig {
    pub secure: bool,
    pub idle_ms: i64,
    pub absolute_ms: i64,
}

impl SessionConfig {
    pub fn cookie_name(&self) -> &'static str {
        // `__Host-` binds the cookie to this host, path `/` and HTTPS.
        if self.secure {
            "__Host-samtykke"
        } else {
            "samtykke_session"
        }
    }

    pub fn cookie(&self, value: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.cookie_name()
        ))
        .unwrap_or(HeaderValue::from_static(""))
    }

    pub fn clear_cookie(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            self.cookie_name()
        ))
        .unwrap_or(HeaderValue::from_static(""))
    }
}

pub fn random_token() -> Result<String> {
    let mut b = [0u8; 32];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ServiceError::Crypto(CryptoError::Random))?;
    Ok(B64.encode(b))
}

fn hash(value: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, value.as_bytes()))
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Compares in time independent of where the strings differ.
pub fn same(a: &str, b: &str) -> bool {
    crate::crypto::same_secret(a.as_bytes(), b.as_bytes())
}

fn encode(data: &SessionData) -> Result<String> {
    serde_json::to_string(data).map_err(|_| ServiceError::Crypto(CryptoError::Seal))
}

impl Session {
    /// The session the request's cookie names, if it exists and has not timed out.
    pub async fn load(
        s: &Services,
        cfg: &SessionConfig,
        headers: &HeaderMap,
    ) -> Result<Option<Self>> {
        let Some(value) = cookie(headers, cfg.cookie_name()) else {
            return Ok(None);
        };
        if value.len() != 43 {
            return Ok(None);
        }
        let id_hash = hash(value);
        let Some(row) = s.session(&id_hash).await? else {
            return Ok(None);
        };
        let now = s.now();
        if now - row.touched_at > cfg.idle_ms || now - row.created_at > cfg.absolute_ms {
            s.end_session(&id_hash).await?;
            return Ok(None);
        }
        let Ok(data) = serde_json::from_str(&row.data) else {
            s.end_session(&id_hash).await?;
            return Ok(None);
        };
        Ok(Some(Self {
            id_hash,
            stored: row.data,
            touched_at: row.touched_at,
            data,
        }))
    }

    /// A new session; returns it and the cookie value to set.
    pub async fn create(s: &Services, mut data: SessionData) -> Result<(Self, String)> {
        let value = random_token()?;
        data.csrf = random_token()?;
        let stored = encode(&data)?;
        let id_hash = hash(&value);
        s.create_session(&id_hash, &stored).await?;
        Ok((
            Self {
                id_hash,
                stored,
                touched_at: s.now(),
                data,
            },
            value,
        ))
    }

    /// Saves `data` if no other request changed the session since it was loaded.
    pub async fn save(&mut self, s: &Services, data: SessionData) -> Result<bool> {
        let text = encode(&data)?;
        let saved = s.swap_session(&self.id_hash, &self.stored, &text).await?;
        if saved {
            self.touched_at = s.now();
            self.stored = text;
            self.data = data;
        }
        Ok(saved)
    }

    /// Marks the session used now (idle timeout), at most once a minute.
    pub async fn touch(&mut self, s: &Services) -> Result<()> {
        if s.now() - self.touched_at < 60_000 {
            return Ok(());
        }
        let data = self.data.clone();
        self.save(s, data).await.map(|_| ())
    }

    pub async fn destroy(self, s: &Services) -> Result<()> {
        s.end_session(&self.id_hash).await
    }

    pub fn csrf_ok(&self, sent: Option<&str>) -> bool {
        sent.is_some_and(|t| !self.data.csrf.is_empty() && same(t, &self.data.csrf))
    }
}
