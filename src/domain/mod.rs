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
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

/// A lowercase key such as a category (`attendance`) or organisation type (`ot`):
/// 2–40 characters of `a-z`, `0-9` and `_`, starting with a letter.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(Arc<str>);

/// How many distinct keys [`Slug::shared`] keeps: far more than a catalogue's
/// categories, purposes and roles, and a bound whatever is stored.
const SHARED_KEYS: usize = 10_000;

static SHARED: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();

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
            Ok(Self(Arc::from(s)))
        } else {
            Err(SlugError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same key, sharing its text with every other copy the decision index
    /// keeps: every pupil's grants then point at the same few strings, which stay
    /// in the CPU's cache, instead of one allocation of their own per grant (a
    /// profile of the decision showed those reads as its largest cost after the
    /// index lookup).
    pub fn shared(&self) -> Self {
        let Ok(mut keys) = SHARED.get_or_init(Default::default).lock() else {
            return self.clone();
        };
        if let Some(k) = keys.get(&*self.0) {
            return Self(k.clone());
        }
        if keys.len() < SHARED_KEYS {
            keys.insert(self.0.clone());
        }
        self.clone()
    }

    /// The purpose every agreement names by default.
    pub fn follow_up() -> Self {
        Self(Arc::from("follow_up"))
    }

    /// The NAV tutor's type, as the catalogue and the baseline name the tutor.
    pub fn tutor() -> Self {
        Self(Arc::from(catalogue::TUTOR))
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

    #[test]
    fn a_shared_key_is_the_same_key_with_one_text() {
        let (a, b) = (Slug(Arc::from("shared_key")), Slug(Arc::from("shared_key")));
        assert!(!Arc::ptr_eq(&a.0, &b.0), "two parses are two texts");
        let (sa, sb) = (a.shared(), b.shared());
        assert_eq!(sa, a);
        assert!(Arc::ptr_eq(&sa.0, &sb.0), "shared copies share one text");
    }
}
