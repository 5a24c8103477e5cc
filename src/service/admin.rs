use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use super::{Result, ServiceError, Services};
use crate::audit::Actor;
use crate::crypto::CryptoError;

fn sha256_hex(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

impl Services {
    /// Mints an admin bearer token. Only its hash is stored; the token is returned once.
    pub async fn create_admin_token(&self, label: &str, by: &Actor) -> Result<String> {
        let mut raw = [0u8; 32];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| ServiceError::Crypto(CryptoError::Random))?;
        let token = format!("sam_admin_{}", B64.encode(raw));
        let mut tx = self.store.write().await?;
        tx.insert_admin_token(&sha256_hex(&token), label, self.now())
            .await?;
        tx.chain(&[self.operator(
            by,
            "credential",
            json!({ "action": "admin credential created", "label": label }),
        )])
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The operator a valid admin credential stands for.
    pub async fn check_admin_token(&self, token: &str) -> Result<Option<Actor>> {
        if !token.starts_with("sam_admin_") || token.len() > 100 {
            return Ok(None);
        }
        Ok(self
            .store
            .admin_token_label(&sha256_hex(token))
            .await?
            .map(Actor::Admin))
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
