//! Organisations and school networks.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::rows::{slug, uuid};
use super::{Result, Store, StoreError, WriteTx};
use crate::domain::org::{Municipality, Network, OrgNumber, Organisation};
use crate::domain::Slug;

fn org_from(row: &AnyRow) -> Result<Organisation> {
    let number: String = row.try_get("org_number")?;
    Ok(Organisation {
        id: uuid(row, "id")?,
        name: row.try_get("name")?,
        number: OrgNumber::parse(&number).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        org_type: slug(row, "org_type")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        municipality: row
            .try_get::<Option<String>, _>("municipality")?
            .map(|m| Municipality::parse(&m).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?,
    })
}

const ORG_COLS: &str = "id, name, org_number, org_type, enabled, municipality";

impl WriteTx<'_> {
    pub async fn insert_org(&mut self, org: &Organisation, at: i64) -> Result<()> {
        sqlx::query("INSERT INTO organisations (id, name, org_number, org_type, enabled, created_at, municipality) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(org.id.to_string())
            .bind(&org.name)
            .bind(org.number.as_str())
            .bind(org.org_type.as_str())
            .bind(i64::from(org.enabled))
            .bind(at)
            .bind(org.municipality.as_ref().map(|m| m.as_str().to_owned()))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn set_org_enabled(&mut self, id: Uuid, enabled: bool) -> Result<()> {
        let done = sqlx::query("UPDATE organisations SET enabled = $1 WHERE id = $2")
            .bind(i64::from(enabled))
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn insert_network(&mut self, n: &Network, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO networks (id, name, school_id, created_at, controller, dpo, template_key) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(n.id.to_string())
        .bind(&n.name)
        .bind(n.school_id.to_string())
        .bind(at)
        .bind(n.controller.as_deref())
        .bind(n.dpo.as_deref())
        .bind(n.template_key.as_ref().map(|k| k.as_str().to_owned()))
        .execute(self.conn())
        .await?;
        for m in &n.member_ids {
            self.add_member(n.id, *m).await?;
        }
        Ok(())
    }

    pub async fn add_member(&mut self, network: Uuid, org: Uuid) -> Result<()> {
        sqlx::query("INSERT INTO network_members (network_id, org_id) VALUES ($1, $2)")
            .bind(network.to_string())
            .bind(org.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn network_in_tx(&mut self, id: Uuid) -> Result<Network> {
        network(self.conn(), id).await
    }

    pub async fn orgs_in_tx(&mut self, ids: &[Uuid]) -> Result<Vec<Organisation>> {
        orgs_by_id(self.conn(), ids).await
    }
}

impl Store {
    pub async fn orgs(&self) -> Result<Vec<Organisation>> {
        let mut c = self.read().await?;
        let q = format!("SELECT {ORG_COLS} FROM organisations ORDER BY name, id");
        sqlx::query(&q)
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(org_from)
            .collect()
    }

    /// The organisations that serve a municipality (the caller keeps the types it offers there).
    pub async fn orgs_in_municipality(&self, m: &Municipality) -> Result<Vec<Organisation>> {
        let mut c = self.read().await?;
        let q = format!(
            "SELECT {ORG_COLS} FROM organisations WHERE municipality = $1 ORDER BY name, id"
        );
        sqlx::query(&q)
            .bind(m.as_str())
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(org_from)
            .collect()
    }

    pub async fn org(&self, id: Uuid) -> Result<Organisation> {
        let mut c = self.read().await?;
        let q = format!("SELECT {ORG_COLS} FROM organisations WHERE id = $1");
        org_from(
            &sqlx::query(&q)
                .bind(id.to_string())
                .fetch_one(&mut *c)
                .await?,
        )
    }

    pub async fn org_by_number(&self, number: &OrgNumber) -> Result<Organisation> {
        let mut c = self.read().await?;
        let q = format!("SELECT {ORG_COLS} FROM organisations WHERE org_number = $1");
        org_from(
            &sqlx::query(&q)
                .bind(number.as_str())
                .fetch_one(&mut *c)
                .await?,
        )
    }

    pub async fn networks(&self) -> Result<Vec<Network>> {
        let mut c = self.read().await?;
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM networks ORDER BY name, id")
            .fetch_all(&mut *c)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let id = Uuid::parse_str(&id).map_err(|_| StoreError::Corrupt("network id".into()))?;
            out.push(network(&mut c, id).await?);
        }
        Ok(out)
    }

    pub async fn network(&self, id: Uuid) -> Result<Network> {
        let mut c = self.read().await?;
        network(&mut c, id).await
    }

    pub async fn network_by_name(&self, name: &str) -> Result<Network> {
        let mut c = self.read().await?;
        let id: String = sqlx::query_scalar("SELECT id FROM networks WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *c)
            .await?;
        let id = Uuid::parse_str(&id).map_err(|_| StoreError::Corrupt("network id".into()))?;
        network(&mut c, id).await
    }
}

async fn network(c: &mut AnyConnection, id: Uuid) -> Result<Network> {
    let row = sqlx::query(
        "SELECT id, name, school_id, controller, dpo, template_key FROM networks WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_one(&mut *c)
    .await?;
    let members =
        sqlx::query("SELECT org_id FROM network_members WHERE network_id = $1 ORDER BY org_id")
            .bind(id.to_string())
            .fetch_all(&mut *c)
            .await?;
    Ok(Network {
        id: uuid(&row, "id")?,
        name: row.try_get("name")?,
        school_id: uuid(&row, "school_id")?,
        member_ids: members
            .iter()
            .map(|r| uuid(r, "org_id"))
            .collect::<Result<_>>()?,
        controller: row.try_get("controller")?,
        dpo: row.try_get("dpo")?,
        template_key: row
            .try_get::<Option<String>, _>("template_key")?
            .map(|k| Slug::parse(&k).map_err(|_| StoreError::Corrupt("template_key".into())))
            .transpose()?,
    })
}

async fn orgs_by_id(c: &mut AnyConnection, ids: &[Uuid]) -> Result<Vec<Organisation>> {
    let q = format!("SELECT {ORG_COLS} FROM organisations WHERE id = $1");
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(row) = sqlx::query(&q)
            .bind(id.to_string())
            .fetch_optional(&mut *c)
            .await?
        {
            out.push(org_from(&row)?);
        }
    }
    Ok(out)
}
