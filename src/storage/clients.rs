//! Partner clients.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::rows::{json, to_json, uuid};
use super::{Result, Store, StoreError, WriteTx};
use crate::domain::client::{ClientId, PartnerClient};

const COLS: &str =
    "id, client_id, org_id, name, scopes, jwks, jwks_uri, webhook_url, enabled, created_at";

fn from_row(row: &AnyRow) -> Result<PartnerClient> {
    let client_id: String = row.try_get("client_id")?;
    let jwks: Option<String> = row.try_get("jwks")?;
    Ok(PartnerClient {
        id: uuid(row, "id")?,
        client_id: ClientId::parse(&client_id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        org_id: uuid(row, "org_id")?,
        name: row.try_get("name")?,
        scopes: json(row, "scopes")?,
        jwks: jwks
            .map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?,
        jwks_uri: row.try_get("jwks_uri")?,
        webhook_url: row.try_get("webhook_url")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

impl WriteTx<'_> {
    pub async fn set_client_keys(
        &mut self,
        client_id: &ClientId,
        jwks: Option<&serde_json::Value>,
        jwks_uri: Option<&str>,
    ) -> Result<()> {
        let done = sqlx::query("UPDATE clients SET jwks = $1, jwks_uri = $2 WHERE client_id = $3")
            .bind(jwks.map(to_json).transpose()?)
            .bind(jwks_uri.map(str::to_owned))
            .bind(client_id.as_str())
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn set_client_enabled(&mut self, client_id: &ClientId, enabled: bool) -> Result<()> {
        let done = sqlx::query("UPDATE clients SET enabled = $1 WHERE client_id = $2")
            .bind(i64::from(enabled))
            .bind(client_id.as_str())
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn insert_client(&mut self, c: &PartnerClient) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO clients ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(c.id.to_string())
        .bind(c.client_id.as_str())
        .bind(c.org_id.to_string())
        .bind(&c.name)
        .bind(to_json(&c.scopes)?)
        .bind(c.jwks.as_ref().map(to_json).transpose()?)
        .bind(c.jwks_uri.clone())
        .bind(c.webhook_url.clone())
        .bind(i64::from(c.enabled))
        .bind(c.created_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    pub async fn clients(&self) -> Result<Vec<PartnerClient>> {
        let mut c = self.read().await?;
        let q = format!("SELECT {COLS} FROM clients ORDER BY client_id");
        sqlx::query(&q)
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    pub async fn client(&self, client_id: &ClientId) -> Result<PartnerClient> {
        let mut c = self.read().await?;
        let q = format!("SELECT {COLS} FROM clients WHERE client_id = $1");
        from_row(
            &sqlx::query(&q)
                .bind(client_id.as_str())
                .fetch_one(&mut *c)
                .await?,
        )
    }
}
