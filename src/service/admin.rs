use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use super::{Result, ServiceError, Services};
use crate::crypto::CryptoError;

fn sha256_hex(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

impl Services {
    /// Mints an admin bearer token. Only its hash is stored; the token is returned once.
    pub async fn create_admin_token(&self, label: &str) -> Result<String> {
        let mut raw = [0u8; 32];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| ServiceError::Crypto(CryptoError::Random))?;
        let token = format!("sam_admin_{}", B64.encode(raw));
        let mut tx = self.store.write().await?;
        tx.insert_admin_token(&sha256_hex(&token), label, self.now())
            .await?;
        tx.chain_admin(
            self.now(),
            "credential",
            json!({ "action": "admin credential created", "label": label }),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The credential's label if the token is a valid admin credential.
    pub async fn check_admin_token(&self, token: &str) -> Result<Option<String>> {
        if !token.starts_with("sam_admin_") || token.len() > 100 {
            return Ok(None);
        }
        Ok(self.store.admin_token_label(&sha256_hex(token)).await?)
    }
}
