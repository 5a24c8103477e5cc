//! The catalogue: organisation types and their roles, data categories with their
//! age rules, purposes, what a pupil may choose (who may tell whom what), and what
//! is shared by a duty in law. It is data the data controller reviews
//! (`policies/catalogue.toml`), stored as one versioned document; every legal basis
//! in it names its provision.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::category::{Category, CategoryKey};
use super::org::OrgType;
use super::{Localized, Slug};

/// A role inside an organisation type (the school's counsellor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInfo {
    #[schema(value_type = String, example = "counsellor")]
    pub key: Slug,
    pub name: Localized,
}

/// Whose services of a type a pupil is offered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Local {
    /// Those of the school's network.
    #[default]
    School,
    /// Those of the municipality the pupil lives in.
    Home,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgTypeInfo {
    #[schema(value_type = String, example = "ppt")]
    pub key: OrgType,
    pub name: Localized,
    /// Who is responsible for it (the county, the municipality, the health trust).
    #[serde(default)]
    pub legal_entity: Option<Localized>,
    /// The basis on which this type of recipient processes what it is told: the
    /// GDPR Art. 6 basis and the act.
    #[serde(alias = "legal_basis")]
    pub processing: String,
    /// The duty of confidentiality this type holds, which a pupil's consent lifts
    /// when it tells (and the provision that lets consent lift it).
    #[serde(default)]
    pub confidentiality: String,
    #[serde(default)]
    pub local: Local,
    #[serde(default)]
    pub roles: Vec<RoleInfo>,
    /// Shown apart from the ordinary choices and explained (the rest of the local
    /// NAV office); never a data holder for partners.
    #[serde(default)]
    pub separate: bool,
    /// A party of its own rather than a kind of organisation (the NAV tutor).
    #[serde(default)]
    pub party: bool,
}

impl OrgTypeInfo {
    pub fn role(&self, key: &Slug) -> Option<&RoleInfo> {
        self.roles.iter().find(|r| &r.key == key)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    #[schema(value_type = String, example = "follow_up")]
    pub key: Slug,
    pub name: Localized,
}

/// What a pupil may let the tutor get from (`obtain`) and tell (`tell`) one kind of
/// service, and why, in the pupil's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    #[schema(value_type = String)]
    pub counterpart: OrgType,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub obtain: Vec<CategoryKey>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub tell: Vec<CategoryKey>,
    pub why: Localized,
}

/// What two kinds of service may exchange without the tutor, if the pupil says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Direct {
    #[schema(value_type = String)]
    pub discloser: OrgType,
    #[schema(value_type = String)]
    pub recipient: OrgType,
    #[schema(value_type = Vec<String>)]
    pub categories: Vec<CategoryKey>,
}

/// A flow that rests on a duty in law: decided `permit` with reason `statutory`,
/// recorded, shown to the pupil as shared by law, and never a choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatutoryDuty {
    /// Who must tell; absent in catalogues from before disclosures were modelled.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub discloser: Option<OrgType>,
    #[serde(alias = "org_type")]
    #[schema(value_type = String)]
    pub recipient: OrgType,
    #[schema(value_type = String)]
    pub category: CategoryKey,
    pub provision: String,
    /// When it happens, in the pupil's words.
    #[serde(default)]
    pub when: Option<Localized>,
}

/// A duty to report or to prevent harm that applies whatever the pupil chose; the
/// agreement tells the pupil about each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Duty {
    pub provision: String,
    pub text: Localized,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// 1: organisations receive categories; 2: grants are disclosures.
    #[serde(default = "one")]
    pub version: u32,
    #[serde(default, rename = "org_type")]
    pub org_types: Vec<OrgTypeInfo>,
    #[serde(default, rename = "category")]
    pub categories: Vec<Category>,
    #[serde(default, rename = "purpose")]
    pub purposes: Vec<Purpose>,
    #[serde(default, rename = "offer")]
    pub offers: Vec<Offer>,
    #[serde(default, rename = "direct")]
    pub directs: Vec<Direct>,
    #[serde(default)]
    pub statutory: Vec<StatutoryDuty>,
    #[serde(default, rename = "duty")]
    pub duties: Vec<Duty>,
}

fn one() -> u32 {
    1
}

/// The catalogue version this release writes (`policies/catalogue.toml`).
pub const CURRENT_VERSION: u32 = 2;

/// The org type of the NAV tutor, as the baseline and decisions name the tutor.
pub const TUTOR: &str = "tutor";

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
    #[error("{place} names unknown {what} {key:?}")]
    UnknownReference {
        place: &'static str,
        what: &'static str,
        key: String,
    },
    #[error("{place} offers the retired category {key:?}")]
    Retired { place: &'static str, key: String },
    #[error("the catalogue names no purpose")]
    NoPurpose,
    #[error("the tutor's type {TUTOR:?} must be the one party type")]
    Party,
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

    pub fn offer(&self, counterpart: &OrgType) -> Option<&Offer> {
        self.offers.iter().find(|o| &o.counterpart == counterpart)
    }

    /// The flow in law from `discloser` to `recipient` of `category`. A duty that
    /// names no discloser (catalogues from before disclosures were modelled) holds
    /// for any; one that names one holds only when that one is asked about.
    pub fn statutory_flow(
        &self,
        discloser: Option<&OrgType>,
        recipient: &OrgType,
        category: &CategoryKey,
    ) -> Option<&StatutoryDuty> {
        self.statutory.iter().find(|s| {
            &s.recipient == recipient
                && &s.category == category
                && match (&s.discloser, discloser) {
                    (None, _) => true,
                    (Some(a), Some(b)) => a == b,
                    (Some(_), None) => false,
                }
        })
    }

    /// Whether a pupil may choose that `discloser` tells `recipient` `category`
    /// (org types; `TUTOR` for the tutor): the tutor with a counterpart as its
    /// offer says, or two services as a direct flow allows.
    pub fn offers(&self, discloser: &OrgType, recipient: &OrgType, category: &CategoryKey) -> bool {
        let tutor = |t: &OrgType| t.as_str() == TUTOR;
        match (tutor(discloser), tutor(recipient)) {
            (true, false) => self
                .offer(recipient)
                .is_some_and(|o| o.tell.contains(category)),
            (false, true) => self
                .offer(discloser)
                .is_some_and(|o| o.obtain.contains(category)),
            (false, false) => self.directs.iter().any(|d| {
                &d.discloser == discloser
                    && &d.recipient == recipient
                    && d.categories.contains(category)
            }),
            (true, true) => false,
        }
    }

    /// Checks the whole document; a catalogue is stored only if this passes.
    pub fn validate(&self) -> Result<(), CatalogueError> {
        let mut seen = BTreeSet::new();
        let keys = self
            .org_types
            .iter()
            .map(|t| ("org_type", &t.key))
            .chain(self.categories.iter().map(|c| ("category", &c.key)))
            .chain(self.purposes.iter().map(|p| ("purpose", &p.key)))
            .chain(self.offers.iter().map(|o| ("offer", &o.counterpart)));
        for (kind, key) in keys {
            if !seen.insert((kind, key.as_str())) {
                return Err(CatalogueError::Duplicate(key.to_string()));
            }
        }
        self.texts()?;
        let known_type = |place, t: &OrgType| match self.org_type(t) {
            Some(_) => Ok(()),
            None => Err(CatalogueError::UnknownReference {
                place,
                what: "organisation type",
                key: t.to_string(),
            }),
        };
        let offered = |place, c: &CategoryKey| match self.category(c) {
            None => Err(CatalogueError::UnknownReference {
                place,
                what: "category",
                key: c.to_string(),
            }),
            Some(k) if k.retired => Err(CatalogueError::Retired {
                place,
                key: c.to_string(),
            }),
            Some(_) => Ok(()),
        };
        for s in &self.statutory {
            known_type("statutory", &s.recipient)?;
            if let Some(d) = &s.discloser {
                known_type("statutory", d)?;
            }
            if self.category(&s.category).is_none() {
                return Err(CatalogueError::UnknownReference {
                    place: "statutory",
                    what: "category",
                    key: s.category.to_string(),
                });
            }
        }
        for o in &self.offers {
            known_type("offer", &o.counterpart)?;
            for c in o.obtain.iter().chain(&o.tell) {
                offered("offer", c)?;
            }
        }
        for d in &self.directs {
            known_type("direct", &d.discloser)?;
            known_type("direct", &d.recipient)?;
            for c in &d.categories {
                offered("direct", c)?;
            }
        }
        let parties: Vec<&OrgTypeInfo> = self.org_types.iter().filter(|t| t.party).collect();
        if self.version >= 2 && !matches!(parties.as_slice(), [t] if t.key.as_str() == TUTOR) {
            return Err(CatalogueError::Party);
        }
        if self.purposes.is_empty() {
            return Err(CatalogueError::NoPurpose);
        }
        Ok(())
    }

    /// This release's catalogue in place of an older stored one: what the older one
    /// had that this one lacks is kept (categories retired, so that grants given
    /// with them still read and decide as they did; organisation types as they
    /// were, so that registered organisations keep their type).
    pub fn upgrade_from(mut self, old: &Catalogue) -> Catalogue {
        for c in &old.categories {
            if self.category(&c.key).is_none() {
                self.categories.push(Category {
                    retired: true,
                    ..c.clone()
                });
            }
        }
        for t in &old.org_types {
            if self.org_type(&t.key).is_none() {
                self.org_types.push(t.clone());
            }
        }
        self
    }

    /// Every text the pupil reads exists in every language.
    fn texts(&self) -> Result<(), CatalogueError> {
        let texts = self
            .org_types
            .iter()
            .map(|t| (t.key.as_str(), "name", &t.name))
            .chain(self.org_types.iter().flat_map(|t| {
                t.roles
                    .iter()
                    .map(|r| (r.key.as_str(), "role name", &r.name))
            }))
            .chain(
                self.purposes
                    .iter()
                    .map(|p| (p.key.as_str(), "name", &p.name)),
            )
            .chain(self.categories.iter().flat_map(|c| {
                [
                    (c.key.as_str(), "name", &c.name),
                    (c.key.as_str(), "description", &c.description),
                ]
            }))
            .chain(
                self.offers
                    .iter()
                    .map(|o| (o.counterpart.as_str(), "why", &o.why)),
            )
            .chain(
                self.duties
                    .iter()
                    .map(|d| (d.provision.as_str(), "text", &d.text)),
            );
        for (key, field, text) in texts {
            if let Some(lang) = text.missing() {
                return Err(CatalogueError::MissingText {
                    key: key.to_string(),
                    field,
                    lang,
                });
            }
        }
        Ok(())
    }
}
