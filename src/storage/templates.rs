//! Agreement templates.

use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::rows::{slug, uuid};
use super::{Result, Store, StoreError, WriteTx};
use crate::domain::template::{Period, Template, TemplateStatus, Terms};
use crate::domain::{Localized, Slug};

const COLS: &str = "id, key, version, title_nb, title_nn, title_en, body_nb, body_nn, body_en, status, content_hash, published_at, period, reconsent_days";

fn from_row(row: &AnyRow) -> Result<Template> {
    let text = |p: &str| -> Result<Localized> {
        Ok(Localized {
            nb: row.try_get(format!("{p}_nb").as_str())?,
            nn: row.try_get(format!("{p}_nn").as_str())?,
            en: row.try_get(format!("{p}_en").as_str())?,
        })
    };
    let status: String = row.try_get("status")?;
    Ok(Template {
        id: uuid(row, "id")?,
        key: slug(row, "key")?,
        version: row.try_get("version")?,
        title: text("title")?,
        body: text("body")?,
        status: match status.as_str() {
            "draft" => TemplateStatus::Draft,
            "published" => TemplateStatus::Published,
            other => return Err(StoreError::Corrupt(format!("template status {other}"))),
        },
        content_hash: row.try_get("content_hash")?,
        published_at: row.try_get("published_at")?,
        terms: Terms {
            period: row
                .try_get::<Option<String>, _>("period")?
                .map(|p| {
                    Period::parse(&p).ok_or_else(|| StoreError::Corrupt(format!("period {p}")))
                })
                .transpose()?,
            reconsent_days: row
                .try_get::<Option<i64>, _>("reconsent_days")?
                .map(|d| u32::try_from(d).map_err(|_| StoreError::Corrupt("reconsent_days".into())))
                .transpose()?,
        },
    })
}

impl WriteTx<'_> {
    pub async fn next_template_version(&mut self, key: &Slug) -> Result<i64> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM templates WHERE key = $1")
                .bind(key.as_str())
                .fetch_one(self.conn())
                .await?;
        Ok(v.unwrap_or(0) + 1)
    }

    pub async fn insert_template(&mut self, t: &Template, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO templates (id, key, version, title_nb, title_nn, title_en, body_nb, body_nn, body_en, status, content_hash, created_at, published_at, period, reconsent_days) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(t.id.to_string())
        .bind(t.key.as_str())
        .bind(t.version)
        .bind(&t.title.nb)
        .bind(&t.title.nn)
        .bind(&t.title.en)
        .bind(&t.body.nb)
        .bind(&t.body.nn)
        .bind(&t.body.en)
        .bind(status_str(t.status))
        .bind(&t.content_hash)
        .bind(at)
        .bind(t.published_at)
        .bind(t.terms.period.map(Period::as_str))
        .bind(t.terms.reconsent_days.map(i64::from))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Rewrites a draft's text. Published templates are refused here and by the schema.
    pub async fn update_draft(&mut self, t: &Template) -> Result<()> {
        let done = sqlx::query(
            "UPDATE templates SET title_nb = $1, title_nn = $2, title_en = $3, body_nb = $4, body_nn = $5, body_en = $6, content_hash = $7 \
             WHERE id = $8 AND status = 'draft'",
        )
        .bind(&t.title.nb)
        .bind(&t.title.nn)
        .bind(&t.title.en)
        .bind(&t.body.nb)
        .bind(&t.body.nn)
        .bind(&t.body.en)
        .bind(&t.content_hash)
        .bind(t.id.to_string())
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("only drafts can be changed".into()));
        }
        Ok(())
    }

    pub async fn publish_template(&mut self, id: Uuid, at: i64) -> Result<()> {
        let done = sqlx::query("UPDATE templates SET status = 'published', published_at = $1 WHERE id = $2 AND status = 'draft'")
            .bind(at)
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("only drafts can be published".into()));
        }
        Ok(())
    }

    pub async fn template_in_tx(&mut self, id: Uuid) -> Result<Template> {
        let q = format!("SELECT {COLS} FROM templates WHERE id = $1");
        from_row(
            &sqlx::query(&q)
                .bind(id.to_string())
                .fetch_one(self.conn())
                .await?,
        )
    }
}

fn status_str(s: TemplateStatus) -> &'static str {
    match s {
        TemplateStatus::Draft => "draft",
        TemplateStatus::Published => "published",
    }
}

impl Store {
    pub async fn templates(&self) -> Result<Vec<Template>> {
        let mut c = self.read().await?;
        let q = format!("SELECT {COLS} FROM templates ORDER BY key, version");
        sqlx::query(&q)
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    pub async fn template(&self, id: Uuid) -> Result<Template> {
        let mut c = self.read().await?;
        let q = format!("SELECT {COLS} FROM templates WHERE id = $1");
        from_row(
            &sqlx::query(&q)
                .bind(id.to_string())
                .fetch_one(&mut *c)
                .await?,
        )
    }

    /// The newest published version of a template key.
    pub async fn current_template(&self, key: &Slug) -> Result<Template> {
        let mut c = self.read().await?;
        let q = format!("SELECT {COLS} FROM templates WHERE key = $1 AND status = 'published' ORDER BY version DESC LIMIT 1");
        from_row(
            &sqlx::query(&q)
                .bind(key.as_str())
                .fetch_one(&mut *c)
                .await?,
        )
    }
}
