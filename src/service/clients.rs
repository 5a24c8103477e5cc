use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Found, Result, ServiceError, Services};
use crate::audit::Actor;
use crate::domain::client::{check_scope, ClientId, PartnerClient};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    #[schema(value_type = String, example = "ot-case-system")]
    pub client_id: ClientId,
    pub org_id: Uuid,
    pub name: String,
    /// Scopes the client may ever ask for, e.g. `pupil:attendance:read`.
    pub scopes: Vec<String>,
    /// A JWK set (`{"keys": [...]}`) with the client's public keys.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// HTTPS, or plain HTTP on this machine's loopback only (development and tests).
fn check_url(field: &str, u: &str) -> Result<()> {
    let loopback = |p: &url::Url| matches!(p.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url::Url::parse(u) {
        Ok(p) if p.scheme() == "https" && p.host().is_some() => Ok(()),
        Ok(p) if p.scheme() == "http" && loopback(&p) => Ok(()),
        _ => Err(ServiceError::invalid(field, "must be an https URL")),
    }
}

fn check_jwks(jwks: &serde_json::Value) -> Result<()> {
    let keys = jwks.get("keys").and_then(|k| k.as_array()).ok_or_else(|| {
        ServiceError::invalid("jwks", "must be a JWK set: an object with a `keys` array")
    })?;
    if keys.is_empty() || keys.len() > 10 {
        return Err(ServiceError::invalid("jwks.keys", "must hold 1-10 keys"));
    }
    for (i, k) in keys.iter().enumerate() {
        let kty = k.get("kty").and_then(|v| v.as_str());
        if !matches!(kty, Some("EC" | "OKP" | "RSA")) {
            return Err(ServiceError::invalid(
                format!("jwks.keys[{i}].kty"),
                "must be EC, OKP or RSA",
            ));
        }
        if k.get("kid")
            .and_then(|v| v.as_str())
            .is_none_or(str::is_empty)
        {
            return Err(ServiceError::invalid(
                format!("jwks.keys[{i}].kid"),
                "every key needs a kid",
            ));
        }
        if ["d", "p", "q", "dp", "dq", "qi"]
            .iter()
            .any(|f| k.get(f).is_some())
        {
            return Err(ServiceError::invalid(
                format!("jwks.keys[{i}]"),
                "a private key was sent; register only the public key",
            ));
        }
    }
    Ok(())
}

/// A withdrawal notice and how its delivery stands (never the signed event).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Notice)]
pub struct NoticeView {
    pub id: Uuid,
    pub client_id: String,
    pub pupil_id: Uuid,
    pub consent_id: Uuid,
    pub scopes: Vec<String>,
    /// `withdrawn`, `superseded`, `expired` or `erased`.
    pub reason: String,
    pub webhook_url: Option<String>,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub gave_up_at: Option<i64>,
}

impl Services {
    pub async fn clients(&self) -> Result<Vec<PartnerClient>> {
        Ok(self.store.clients().await?)
    }

    pub async fn client(&self, id: &ClientId) -> Result<PartnerClient> {
        self.store.client(id).await.found("client")
    }

    /// Withdrawal notices to partners, all or only those not acknowledged yet.
    pub async fn notices(&self, unacknowledged_only: bool) -> Result<Vec<NoticeView>> {
        Ok(self
            .store
            .notices(unacknowledged_only)
            .await?
            .into_iter()
            .map(|n| NoticeView {
                id: n.id,
                client_id: n.client_id,
                pupil_id: n.pupil_id,
                consent_id: n.consent_id,
                scopes: n.scopes,
                reason: n.reason,
                webhook_url: n.webhook_url,
                created_at: n.created_at,
                attempts: n.attempts,
                next_attempt_at: n.next_attempt_at,
                last_error: n.last_error,
                acknowledged_at: n.acknowledged_at,
                gave_up_at: n.gave_up_at,
            })
            .collect())
    }

    pub async fn add_client(&self, new: NewClient, by: &Actor) -> Result<PartnerClient> {
        let org = self.store.org(new.org_id).await.found("organisation")?;
        if !org.enabled {
            return Err(ServiceError::invalid(
                "org_id",
                "the organisation is disabled",
            ));
        }
        let name = new.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(ServiceError::invalid("name", "must be 1-200 characters"));
        }
        if new.scopes.is_empty() {
            return Err(ServiceError::invalid("scopes", "name at least one scope"));
        }
        let catalogue = self.catalogue();
        for (i, s) in new.scopes.iter().enumerate() {
            check_scope(s).map_err(|e| ServiceError::invalid(format!("scopes[{i}]"), e))?;
            if !s.ends_with(":read") {
                return Err(ServiceError::invalid(
                    format!("scopes[{i}]"),
                    "a consent lets a partner see data, never change it: register pupil:<category>:read",
                ));
            }
            let category = s.split(':').nth(1).unwrap_or_default();
            if !catalogue
                .categories
                .iter()
                .any(|c| c.key.as_str() == category)
            {
                return Err(ServiceError::invalid(
                    format!("scopes[{i}]"),
                    format!("unknown category {category}"),
                ));
            }
        }
        match (&new.jwks, &new.jwks_uri) {
            (Some(j), None) => check_jwks(j)?,
            (None, Some(u)) => check_url("jwks_uri", u)?,
            _ => {
                return Err(ServiceError::invalid(
                    "jwks",
                    "give exactly one of `jwks` and `jwks_uri`",
                ))
            }
        }
        if let Some(u) = &new.webhook_url {
            check_url("webhook_url", u)?;
        }
        let client = PartnerClient {
            id: Uuid::new_v4(),
            client_id: new.client_id,
            org_id: org.id,
            name: name.to_owned(),
            scopes: new.scopes,
            jwks: new.jwks,
            jwks_uri: new.jwks_uri,
            webhook_url: new.webhook_url,
            enabled: true,
            created_at: self.now(),
        };
        let mut tx = self.store.write().await?;
        tx.insert_client(&client).await.map_err(|e| match e {
            crate::storage::StoreError::Conflict(_) => {
                ServiceError::Conflict(format!("client id {} is taken", client.client_id))
            }
            other => other.into(),
        })?;
        tx.notify(self.store.backend(), super::DIRECTORY_CHANGED)
            .await?;
        tx.chain(&[self.operator(by, "client", json!({ "action": "added", "client": client.client_id.as_str(), "org": client.org_id, "scopes": client.scopes }))])
            .await?;
        tx.commit().await?;
        self.forget_directory();
        Ok(client)
    }

    /// Turns a client off (or on again), at once on every instance: a disabled
    /// client is refused, and its tokens are inactive at introspection.
    pub async fn set_client_enabled(
        &self,
        client_id: &ClientId,
        enabled: bool,
        by: &Actor,
    ) -> Result<PartnerClient> {
        let mut tx = self.store.write().await?;
        tx.set_client_enabled(client_id, enabled)
            .await
            .found("client")?;
        tx.notify(self.store.backend(), super::DIRECTORY_CHANGED)
            .await?;
        let action = if enabled { "enabled" } else { "disabled" };
        tx.chain(&[self.operator(
            by,
            "client",
            json!({ "action": action, "client": client_id.as_str() }),
        )])
        .await?;
        tx.commit().await?;
        self.forget_directory();
        self.store.client(client_id).await.found("client")
    }

    /// Replaces a client's public keys: rotation with overlap is registering old and
    /// new keys together, then the new ones alone.
    pub async fn set_client_keys(
        &self,
        client_id: &ClientId,
        keys: ClientKeys,
        by: &Actor,
    ) -> Result<PartnerClient> {
        match (&keys.jwks, &keys.jwks_uri) {
            (Some(j), None) => check_jwks(j)?,
            (None, Some(u)) => check_url("jwks_uri", u)?,
            _ => {
                return Err(ServiceError::invalid(
                    "jwks",
                    "give exactly one of `jwks` and `jwks_uri`",
                ))
            }
        }
        let mut tx = self.store.write().await?;
        tx.set_client_keys(client_id, keys.jwks.as_ref(), keys.jwks_uri.as_deref())
            .await
            .found("client")?;
        tx.notify(self.store.backend(), super::DIRECTORY_CHANGED)
            .await?;
        tx.chain(&[self.operator(
            by,
            "client",
            json!({ "action": "keys replaced", "client": client_id.as_str() }),
        )])
        .await?;
        tx.commit().await?;
        self.forget_directory();
        self.forget_jwks(client_id.as_str());
        self.store.client(client_id).await.found("client")
    }
}

/// New public keys for a client.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientKeys {
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
}
