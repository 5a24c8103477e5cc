use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Found, Result, ServiceError, Services};
use crate::audit::Actor;
use crate::domain::template::{content_hash_with, Template, TemplateStatus, Terms};
use crate::domain::{Localized, Slug};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    #[schema(value_type = String, example = "follow_up")]
    pub key: Slug,
    pub title: Localized,
    pub body: Localized,
    /// How long consents on it last, and whether consents on earlier versions
    /// end once it is published (none: the configured validity, and they stay).
    #[serde(default)]
    pub terms: Terms,
}

fn check_text(t: &NewTemplate) -> Result<()> {
    if t.terms
        .reconsent_days
        .is_some_and(|d| !(1..=365).contains(&d))
    {
        return Err(ServiceError::invalid(
            "reconsent_days",
            "between 1 and 365 days",
        ));
    }
    for (field, text) in [("title", &t.title), ("body", &t.body)] {
        if let Some(lang) = text.missing() {
            return Err(ServiceError::invalid(
                format!("{field}.{lang}"),
                "the text is empty",
            ));
        }
    }
    Ok(())
}

impl Services {
    pub async fn templates(&self) -> Result<Vec<Template>> {
        Ok(self.store.templates().await?)
    }

    pub async fn template(&self, id: Uuid) -> Result<Template> {
        self.store.template(id).await.found("template")
    }

    /// The newest published version of a template key.
    pub async fn current_template(&self, key: &Slug) -> Result<Template> {
        self.store.current_template(key).await.found("agreement")
    }

    /// Adds the next version of a template key as a draft.
    pub async fn add_template(&self, new: NewTemplate, by: &Actor) -> Result<Template> {
        check_text(&new)?;
        let mut tx = self.store.write().await?;
        let version = tx.next_template_version(&new.key).await?;
        let t = Template {
            id: Uuid::new_v4(),
            content_hash: content_hash_with(&new.key, version, &new.title, &new.body, &new.terms),
            key: new.key,
            version,
            title: new.title,
            body: new.body,
            status: TemplateStatus::Draft,
            published_at: None,
            terms: new.terms,
        };
        tx.insert_template(&t, self.now()).await?;
        tx.chain(&[self.operator(
            by,
            "template",
            json!({ "action": "added", "template": t.id, "key": t.key, "version": t.version }),
        )])
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Rewrites a draft. A published template is immutable: Conflict.
    pub async fn edit_template(
        &self,
        id: Uuid,
        title: crate::domain::Localized,
        body: crate::domain::Localized,
        by: &Actor,
    ) -> Result<Template> {
        let mut tx = self.store.write().await?;
        let mut t = tx.template_in_tx(id).await.found("template")?;
        if t.status == TemplateStatus::Published {
            return Err(ServiceError::Conflict(
                "a published template cannot be changed; add a new version".into(),
            ));
        }
        check_text(&NewTemplate {
            key: t.key.clone(),
            title: title.clone(),
            body: body.clone(),
            terms: t.terms,
        })?;
        t.content_hash = content_hash_with(&t.key, t.version, &title, &body, &t.terms);
        t.title = title;
        t.body = body;
        tx.update_draft(&t).await?;
        tx.chain(&[self.operator(
            by,
            "template",
            json!({ "action": "edited", "template": id }),
        )])
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    pub async fn publish_template(&self, id: Uuid, by: &Actor) -> Result<Template> {
        let mut tx = self.store.write().await?;
        let t = tx.template_in_tx(id).await.found("template")?;
        if t.status == TemplateStatus::Published {
            return Err(ServiceError::Conflict(
                "the template is published already".into(),
            ));
        }
        tx.publish_template(id, self.now()).await?;
        let t = tx.template_in_tx(id).await?;
        if t.terms.reconsent_days.is_some() {
            tx.notify(self.store.backend(), super::INDEX_CHANGED)
                .await?;
        }
        tx.chain(&[self.operator(
            by,
            "template",
            json!({ "action": "published", "template": id }),
        )])
        .await?;
        // Consents on earlier versions now end on a date: decisions read it at once,
        // here and (through the notification) on every other instance.
        if t.terms.reconsent_days.is_some() {
            self.commit_and_forget(tx, None).await?;
        } else {
            tx.commit().await?;
        }
        Ok(t)
    }
}
