use serde_json::json;
use std::sync::Arc;

use super::{Result, ServiceError, Services};
use crate::audit::Actor;
use crate::domain::catalogue::Catalogue;
use crate::domain::category::Category;

impl Services {
    /// The catalogue in force (cached; loaded from the store at start).
    pub fn catalogue(&self) -> Arc<Catalogue> {
        match self.catalogue.read() {
            Ok(c) => c.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// Keeps `c` unless a newer version is already in force (two instances, or a
    /// reload that read before a change this instance made).
    fn set_catalogue(&self, version: i64, c: Catalogue) {
        let mut slot = match self.catalogue.write() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        if version >= slot.0 {
            *slot = (version, Arc::new(c));
        }
    }

    /// Loads the newest stored catalogue; returns false if none is stored yet.
    pub async fn load_catalogue(&self) -> Result<bool> {
        match self.store.catalogue().await? {
            Some((version, c)) => {
                self.set_catalogue(version, c);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Validates and stores a whole catalogue as the next version.
    pub async fn replace_catalogue(&self, c: Catalogue, by: &Actor) -> Result<i64> {
        c.validate()?;
        let mut tx = self.store.write().await?;
        let version = tx.insert_catalogue(&c, self.now()).await?;
        tx.notify(self.store.backend(), "catalogue").await?;
        tx.chain(&[self.operator(
            by,
            "catalogue",
            json!({ "action": "new version", "version": version }),
        )])
        .await?;
        tx.commit().await?;
        self.set_catalogue(version, c);
        // New categories or types change the baseline table too.
        if !self.policy.baseline().rules.is_empty() {
            self.reload_policy().await?;
        }
        Ok(version)
    }

    pub async fn add_category(&self, cat: Category, by: &Actor) -> Result<i64> {
        let mut c = (*self.catalogue()).clone();
        if c.category(&cat.key).is_some() {
            return Err(ServiceError::Conflict(format!(
                "category {} exists",
                cat.key
            )));
        }
        c.categories.push(cat);
        self.replace_catalogue(c, by).await
    }
}
