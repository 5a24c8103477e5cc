//! The catalogue: organisation types, data categories, purposes and the pairs that
//! are shared by a duty in law rather than by consent. It is data the data controller
//! reviews (`policies/catalogue.toml`), stored as one versioned document.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::category::{Category, CategoryKey};
use super::org::OrgType;
use super::{Localized, Slug};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgTypeInfo {
    #[schema(value_type = String, example = "ppt")]
    pub key: OrgType,
    pub name: Localized,
    /// The statutory basis on which this type of recipient processes what it receives.
    pub legal_basis: String,
    /// Shown apart from the ordinary choices and explained (the local NAV office).
    #[serde(default)]
    pub separate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    #[schema(value_type = String, example = "follow_up")]
    pub key: Slug,
    pub name: Localized,
}

/// An organisation type receives a category by a duty in law, whatever the pupil
/// chooses. Such a pair is never offered or stored as a revocable consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatutoryDuty {
    #[schema(value_type = String)]
    pub org_type: OrgType,
    #[schema(value_type = String)]
    pub category: CategoryKey,
    pub provision: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(default, rename = "org_type")]
    pub org_types: Vec<OrgTypeInfo>,
    #[serde(default, rename = "category")]
    pub categories: Vec<Category>,
    #[serde(default, rename = "purpose")]
    pub purposes: Vec<Purpose>,
    #[serde(default)]
    pub statutory: Vec<StatutoryDuty>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("{0:?} is defined twice")]
    Duplicate(String),
    #[error("{field} of {key:?} is missing the {lang} text")]
    MissingText {
        key: String,
        field: &'static str,
        lang: &'static str,
    },
    #[error("statutory duty names unknown {what} {key:?}")]
    UnknownReference { what: &'static str, key: String },
    #[error("the catalogue names no purpose")]
    NoPurpose,
}

impl Catalogue {
    pub fn category(&self, key: &CategoryKey) -> Option<&Category> {
        self.categories.iter().find(|c| &c.key == key)
    }

    pub fn org_type(&self, key: &OrgType) -> Option<&OrgTypeInfo> {
        self.org_types.iter().find(|t| &t.key == key)
    }

    pub fn has_purpose(&self, key: &Slug) -> bool {
        self.purposes.iter().any(|p| &p.key == key)
    }

    pub fn is_statutory(&self, org_type: &OrgType, category: &CategoryKey) -> bool {
        self.statutory
            .iter()
            .any(|s| &s.org_type == org_type && &s.category == category)
    }

    /// Checks the whole document; a catalogue is stored only if this passes.
    pub fn validate(&self) -> Result<(), CatalogueError> {
        let mut seen = BTreeSet::new();
        let keys = self
            .org_types
            .iter()
            .map(|t| ("org_type", &t.key))
            .chain(self.categories.iter().map(|c| ("category", &c.key)))
            .chain(self.purposes.iter().map(|p| ("purpose", &p.key)));
        for (kind, key) in keys {
            if !seen.insert((kind, key.as_str())) {
                return Err(CatalogueError::Duplicate(key.to_string()));
            }
        }
        let texts = self
            .org_types
            .iter()
            .map(|t| (&t.key, "name", &t.name))
            .chain(self.purposes.iter().map(|p| (&p.key, "name", &p.name)))
            .chain(self.categories.iter().flat_map(|c| {
                [
                    (&c.key, "name", &c.name),
                    (&c.key, "description", &c.description),
                ]
            }));
        for (key, field, text) in texts {
            if let Some(lang) = text.missing() {
                return Err(CatalogueError::MissingText {
                    key: key.to_string(),
                    field,
                    lang,
                });
            }
        }
        for s in &self.statutory {
            if self.org_type(&s.org_type).is_none() {
                return Err(CatalogueError::UnknownReference {
                    what: "organisation type",
                    key: s.org_type.to_string(),
                });
            }
            if self.category(&s.category).is_none() {
                return Err(CatalogueError::UnknownReference {
                    what: "category",
                    key: s.category.to_string(),
                });
            }
        }
        if self.purposes.is_empty() {
            return Err(CatalogueError::NoPurpose);
        }
        Ok(())
    }
}
