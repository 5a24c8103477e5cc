//! The catalogue of data categories a pupil may share, with their age rules.

use serde::{Deserialize, Serialize};

use super::{Localized, Slug};

pub type CategoryKey = Slug;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    Ordinary,
    /// A special category under GDPR Art. 9 (here: health). Social-services data are
    /// confidential (`Category::confidential`), not an Art. 9 category.
    Special,
}

/// Who may consent to sharing a category, by age. Configuration the data controller
/// reviews (see `policies/catalogue.toml`), never a constant in code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgeRule {
    /// From this age the pupil consents alone.
    pub alone_from: u8,
    /// Below `alone_from`: true if a guardian may co-consent, false if the category
    /// cannot be shared at all.
    pub guardian_below: bool,
    /// The provision the age rests on, or the controller's reason for it.
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeVerdict {
    Alone,
    NeedsGuardian,
    NotAllowed,
}

impl AgeRule {
    pub fn verdict(&self, age: u8) -> AgeVerdict {
        if age >= self.alone_from {
            AgeVerdict::Alone
        } else if self.guardian_below {
            AgeVerdict::NeedsGuardian
        } else {
            AgeVerdict::NotAllowed
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Category {
    #[schema(value_type = String, example = "attendance")]
    pub key: CategoryKey,
    pub name: Localized,
    pub description: Localized,
    pub sensitivity: Sensitivity,
    /// The GDPR Art. 9 condition, for a special category.
    #[serde(default)]
    pub special: Option<String>,
    /// The provision that makes the data confidential, where the category is.
    #[serde(default)]
    pub confidential: Option<String>,
    pub age: AgeRule,
    /// Never offered again; kept so that consents given with it still read.
    #[serde(default)]
    pub retired: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_verdicts() {
        let special = AgeRule {
            alone_from: 18,
            guardian_below: true,
            source: String::new(),
        };
        let strict = AgeRule {
            alone_from: 16,
            guardian_below: false,
            source: String::new(),
        };
        let cases = [
            (special.clone(), 17, AgeVerdict::NeedsGuardian),
            (special, 18, AgeVerdict::Alone),
            (strict.clone(), 15, AgeVerdict::NotAllowed),
            (strict, 16, AgeVerdict::Alone),
        ];
        for (rule, age, want) in &cases {
            assert_eq!(rule.verdict(*age), *want, "{rule:?} at {age}");
        }
    }
}
