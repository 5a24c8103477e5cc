use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use super::{Result, ServiceError, Services};
use crate::audit::Actor;
use crate::crypto::CryptoError;
use crate::domain::operator::AdminScope;
use crate::storage::CredentialRow;

fn sha256_hex(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// An admin credential as operators see it: never the token, never its hash.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AdminCredential {
    pub id: String,
    pub label: String,
    pub scope: AdminScope,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl From<CredentialRow> for AdminCredential {
    fn from(r: CredentialRow) -> Self {
        Self {
            scope: AdminScope::from_stored(&r.scope),
            id: r.id,
            label: r.label,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        }
    }
}

fn check_label(label: &str) -> Result<()> {
    let ok = (1..=64).contains(&label.chars().count())
        && label
            .chars()
            .all(|c| c.is_alphanumeric() || " .,_-()".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "label",
            "1-64 letters, digits, spaces and . , _ - ( )",
        ))
    }
}

impl Services {
    /// Mints an admin bearer token with every right (start-up, the CLI).
    pub async fn create_admin_token(&self, label: &str, by: &Actor) -> Result<String> {
        Ok(self
            .create_admin_credential(label, AdminScope::All, by)
            .await?
            .1)
    }

    /// Mints an admin bearer token. Only its hash is stored; the token is returned once.
    pub async fn create_admin_credential(
        &self,
        label: &str,
        scope: AdminScope,
        by: &Actor,
    ) -> Result<(AdminCredential, String)> {
        check_label(label)?;
        let mut raw = [0u8; 32];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| ServiceError::Crypto(CryptoError::Random))?;
        let token = format!("sam_admin_{}", B64.encode(raw));
        let mut tx = self.store.write().await?;
        let id = tx
            .insert_admin_token(&sha256_hex(&token), label, scope.as_str(), self.now())
            .await?;
        tx.chain(&[self.operator(
            by,
            "credential",
            json!({ "action": "admin credential created", "id": id, "label": label, "scope": scope }),
        )])
        .await?;
        let made = tx.admin_credential(&id).await?;
        tx.commit().await?;
        let made = made.ok_or(ServiceError::NotFound("admin credential"))?;
        Ok((made.into(), token))
    }

    /// Every admin credential, in force or revoked, newest first.
    pub async fn admin_credentials(&self) -> Result<Vec<AdminCredential>> {
        Ok(self
            .store
            .admin_credentials()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Revokes a credential at once, on every instance (each request checks the
    /// store). The last credential in force with every right is kept, so the API
    /// cannot lock its operators out; the CLI on the server can always mint one.
    pub async fn revoke_admin_credential(&self, id: &str, by: &Actor) -> Result<AdminCredential> {
        let mut tx = self.store.write().await?;
        let found = tx
            .admin_credential(id)
            .await?
            .ok_or(ServiceError::NotFound("admin credential"))?;
        if found.revoked_at.is_none() {
            if found.scope == AdminScope::All.as_str() && tx.full_admin_credentials().await? <= 1 {
                return Err(ServiceError::Conflict(
                    "this is the last credential with every right; mint another first".into(),
                ));
            }
            tx.revoke_admin_token(id, self.now()).await?;
            tx.chain(&[self.operator(
                by,
                "credential",
                json!({ "action": "admin credential revoked", "id": id, "label": found.label }),
            )])
            .await?;
        }
        let now = tx.admin_credential(id).await?;
        tx.commit().await?;
        Ok(now.unwrap_or(found).into())
    }

    /// The operator a valid admin credential stands for, and what it may do.
    pub async fn check_admin_token(&self, token: &str) -> Result<Option<(Actor, AdminScope)>> {
        if !token.starts_with("sam_admin_") || token.len() > 100 {
            return Ok(None);
        }
        Ok(self
            .store
            .admin_token(&sha256_hex(token))
            .await?
            .map(|(label, scope)| (Actor::Admin(label), AdminScope::from_stored(&scope))))
    }

    /// Whether no admin credential exists yet (a new installation mints one).
    pub async fn needs_first_admin(&self) -> Result<bool> {
        Ok(self.store.admin_token_count().await? == 0)
    }

    /// Whether the database answers and its schema is the one this release knows;
    /// `Err` says what is wrong, in words an operator can act on.
    pub async fn readiness(&self) -> std::result::Result<(), String> {
        use crate::storage::SchemaStatus;
        self.store
            .ping()
            .await
            .map_err(|_| "database unreachable".to_owned())?;
        match self.store.schema_status().await {
            Ok(SchemaStatus::Current) => Ok(()),
            Ok(SchemaStatus::Pending(v)) => Err(format!("migrations pending: {v:?}")),
            Ok(SchemaStatus::Unknown(v)) => Err(format!("unknown migrations in database: {v:?}")),
            Err(_) => Err("schema status unavailable".to_owned()),
        }
    }

    /// Closes the database connections (the last thing a stopping server does).
    pub async fn close(&self) {
        self.store.close().await;
    }
}
