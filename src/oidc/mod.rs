//! Pupil login: an OpenID Connect relying party for ID-porten (code flow with PKCE,
//! `state` and `nonce`), and the built-in development provider it also speaks to.
//! Nothing here knows about HTTP routing or the database.

pub mod dev_provider;
mod types;

use openidconnect::core::{CoreAuthenticationFlow, CoreJwsSigningAlgorithm};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    LanguageTag, LogoutRequest, Nonce, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    RedirectUrl, TokenResponse,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::RwLock;

use crate::domain::identity::IdentityNumber;
use crate::domain::Lang;
use types::{IdPortenIdToken, Metadata, RpClient};

/// The levels of assurance ID-porten issues, lowest first (with the older names).
pub fn acr_rank(acr: &str) -> Option<u8> {
    match acr {
        "idporten-loa-low" => Some(1),
        "idporten-loa-substantial" | "Level3" => Some(2),
        "idporten-loa-high" | "Level4" => Some(3),
        _ => None,
    }
}

/// ID token algorithms from a comma-separated list; only asymmetric ones.
pub fn parse_algs(list: &str) -> Result<Vec<CoreJwsSigningAlgorithm>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| match a {
            "RS256" => Ok(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256),
            "PS256" => Ok(CoreJwsSigningAlgorithm::RsaSsaPssSha256),
            "ES256" => Ok(CoreJwsSigningAlgorithm::EcdsaP256Sha256),
            "EdDSA" => Ok(CoreJwsSigningAlgorithm::EdDsa),
            other => Err(format!(
                "`{other}` is not accepted (RS256, PS256, ES256, EdDSA)"
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|v| {
            if v.is_empty() {
                Err("name at least one algorithm".into())
            } else {
                Ok(v)
            }
        })
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the login service cannot be reached: {0}")]
    ProviderUnavailable(String),
    #[error("the login provider refused: {0}")]
    Refused(String),
    #[error("the login did not start here, was already used, or is too old")]
    UnknownState,
    #[error("the login provider did not return a valid code exchange: {0}")]
    Exchange(String),
    #[error("the ID token is not valid: {0}")]
    InvalidIdToken(String),
    #[error("the ID token's signature does not verify: {0}")]
    BadSignature(String),
    #[error("the login level is too low")]
    AcrTooLow,
    #[error("the ID token carries no valid identity number")]
    NoPid,
}

impl LoginError {
    /// What the audit log keeps: a fixed code, never the provider's text.
    pub fn code(&self) -> &'static str {
        match self {
            LoginError::ProviderUnavailable(_) => "provider unavailable",
            LoginError::Refused(_) => "provider refused",
            LoginError::UnknownState => "unknown state",
            LoginError::Exchange(_) => "code exchange failed",
            LoginError::InvalidIdToken(_) => "invalid id token",
            LoginError::BadSignature(_) => "bad id token signature",
            LoginError::AcrTooLow => "login level too low",
            LoginError::NoPid => "no identity number",
        }
    }
}

/// What the relying party needs to finish a login it started. Kept server-side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginFlow {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub started_at: i64,
}

/// A verified login.
#[derive(Debug, Clone)]
pub struct Login {
    pub identity: IdentityNumber,
    pub acr: String,
    pub amr: Vec<String>,
    pub auth_time: Option<i64>,
}

pub struct RpSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub post_logout_uri: String,
    pub acr_required: String,
    pub algs: Vec<CoreJwsSigningAlgorithm>,
}

/// How long discovery and keys are trusted before they are fetched again; a
/// token signed with a key not seen yet triggers a fetch at once.
const METADATA_TTL_MS: i64 = 10 * 60 * 1000;

pub struct RelyingParty {
    settings: RpSettings,
    http: reqwest::Client,
    /// The provider's metadata and when (samtykke's clock, ms) it was fetched.
    metadata: RwLock<Option<(i64, Metadata)>>,
}

fn unavailable(e: impl std::fmt::Display) -> LoginError {
    LoginError::ProviderUnavailable(e.to_string())
}

fn ui_locale(lang: Lang) -> LanguageTag {
    LanguageTag::new(
        match lang {
            Lang::Nb => "nb",
            Lang::Nn => "nn",
            Lang::En => "en",
        }
        .into(),
    )
}

impl RelyingParty {
    pub fn new(settings: RpSettings) -> Result<Self, LoginError> {
        // No redirects: a provider's answer is taken from the provider itself (SSRF).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(unavailable)?;
        Ok(Self {
            settings,
            http,
            metadata: RwLock::new(None),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    async fn metadata(&self, refresh: bool, now: i64) -> Result<Metadata, LoginError> {
        if !refresh {
            if let Some((at, m)) = self.metadata.read().await.as_ref() {
                if (0..METADATA_TTL_MS).contains(&(now - at)) {
                    return Ok(m.clone());
                }
            }
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone()).map_err(unavailable)?;
        let m = Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(unavailable)?;
        *self.metadata.write().await = Some((now, m.clone()));
        Ok(m)
    }

    fn client(&self, m: Metadata) -> Result<RpClient, LoginError> {
        Ok(RpClient::from_provider_metadata(
            m,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(
            RedirectUrl::new(self.settings.redirect_uri.clone()).map_err(unavailable)?,
        ))
    }

    /// Where to send the pupil, and what to keep until they come back.
    pub async fn start(&self, lang: Lang, now: i64) -> Result<(url::Url, LoginFlow), LoginError> {
        let client = self.client(self.metadata(false, now).await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .add_auth_context_value(AuthenticationContextClass::new(
                self.settings.acr_required.clone(),
            ))
            .add_ui_locale(ui_locale(lang))
            .url();
        Ok((
            url,
            LoginFlow {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                started_at: now,
            },
        ))
    }

    /// Exchanges the code and checks the ID token: signature (pinned algorithms),
    /// issuer, audience, expiry, nonce, level of assurance and the `pid` claim.
    pub async fn finish(
        &self,
        flow: &LoginFlow,
        code: &str,
        now: i64,
    ) -> Result<Login, LoginError> {
        let client = self.client(self.metadata(false, now).await?)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| LoginError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::Request(e) => unavailable(e),
                other => LoginError::Exchange(other.to_string()),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| LoginError::InvalidIdToken("no ID token".into()))?
            .clone();
        match self.verify(&client, &id_token, flow, now) {
            Err(LoginError::BadSignature(_)) => {
                // The provider may have rotated its keys since they were fetched.
                let client = self.client(self.metadata(true, now).await?)?;
                self.verify(&client, &id_token, flow, now)
            }
            other => other,
        }
    }

    fn verify(
        &self,
        client: &RpClient,
        id_token: &IdPortenIdToken,
        flow: &LoginFlow,
        now: i64,
    ) -> Result<Login, LoginError> {
        let at = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default();
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(self.settings.algs.clone())
            .set_time_fn(move || at)
            // A token from the future is not one this login asked for (a minute
            // of clock difference allowed).
            .set_issue_time_verifier_fn(move |iat| {
                if iat > at + chrono::Duration::seconds(60) {
                    Err("issued in the future".to_owned())
                } else {
                    Ok(())
                }
            });
        let claims = id_token
            .claims(&verifier, &Nonce::new(flow.nonce.clone()))
            .map_err(|e| match e {
                openidconnect::ClaimsVerificationError::SignatureVerification(e) => {
                    LoginError::BadSignature(e.to_string())
                }
                other => LoginError::InvalidIdToken(other.to_string()),
            })?;
        let acr = claims
            .auth_context_ref()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let required = acr_rank(&self.settings.acr_required).unwrap_or(u8::MAX);
        if acr_rank(&acr).is_none_or(|r| r < required) {
            return Err(LoginError::AcrTooLow);
        }
        let identity = claims
            .additional_claims()
            .pid
            .as_deref()
            .and_then(|p| IdentityNumber::parse(p).ok())
            .ok_or(LoginError::NoPid)?;
        Ok(Login {
            identity,
            acr,
            amr: claims
                .auth_method_refs()
                .map(|v| v.iter().map(|m| m.as_str().to_owned()).collect())
                .unwrap_or_default(),
            auth_time: claims.auth_time().map(|t| t.timestamp_millis()),
        })
    }

    /// The provider's end-session URL (RP-initiated logout), if it has one. It
    /// names this client, never the ID token: that carries the identity number
    /// (`pid`), and a URL ends up in the browser's history and the provider's logs.
    pub async fn logout_url(&self, lang: Lang, now: i64) -> Option<url::Url> {
        let m = self.metadata(false, now).await.ok()?;
        let endpoint = m.additional_metadata().end_session_endpoint.clone()?;
        let mut req = LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.settings.client_id.clone()))
            .add_ui_locale(ui_locale(lang));
        if let Ok(uri) = PostLogoutRedirectUrl::new(self.settings.post_logout_uri.clone()) {
            req = req.set_post_logout_redirect_uri(uri);
        }
        Some(req.http_get_url())
    }
}
