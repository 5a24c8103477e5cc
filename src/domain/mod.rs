//! Domain types and rules. Nothing here knows about HTTP or SQL: handlers and the
//! storage layer translate to and from these types.

pub mod caseload;
pub mod catalogue;
pub mod category;
pub mod client;
pub mod consent;
pub mod dispute;
pub mod guardian;
pub mod identity;
pub mod operator;
pub mod org;
pub mod statistics;
pub mod template;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A lowercase key such as a category (`attendance`) or organisation type (`ot`):
/// 2–40 characters of `a-z`, `0-9` and `_`, starting with a letter.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a key is 2-40 characters of a-z, 0-9 and _, starting with a letter")]
pub struct SlugError;

impl Slug {
    pub fn parse(s: &str) -> Result<Self, SlugError> {
        let ok = (2..=40).contains(&s.len())
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(SlugError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The purpose every agreement names by default.
    pub fn follow_up() -> Self {
        Self("follow_up".to_owned())
    }

    /// The NAV tutor's type, as the catalogue and the baseline name the tutor.
    pub fn tutor() -> Self {
        Self(catalogue::TUTOR.to_owned())
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl Serialize for Slug {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The three written languages every text the pupil sees must come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Nb,
    Nn,
    En,
}

/// Text in bokmål, nynorsk and English; none may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    pub nb: String,
    pub nn: String,
    pub en: String,
}

impl Localized {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Nb => &self.nb,
            Lang::Nn => &self.nn,
            Lang::En => &self.en,
        }
    }

    /// The first language whose text is blank, if any.
    pub fn missing(&self) -> Option<&'static str> {
        [("nb", &self.nb), ("nn", &self.nn), ("en", &self.en)]
            .into_iter()
            .find(|(_, t)| t.trim().is_empty())
            .map(|(l, _)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["ot", "child_welfare", "a1", "health_data_2"] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Slug::parse("follow_up"), Ok(Slug::follow_up()));
        for bad in ["", "a", "1abc", "Abc", "a-b", "a b", "ø_x", &"a".repeat(41)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }
}
