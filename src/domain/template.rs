//! Agreement templates: the text the pupil reads, versioned and immutable once published.

use ring::digest;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Localized, Slug};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Draft,
    Published,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub id: Uuid,
    #[schema(value_type = String, example = "follow_up")]
    pub key: Slug,
    pub version: i64,
    pub title: Localized,
    pub body: Localized,
    pub status: TemplateStatus,
    /// Hex SHA-256 over the canonical content: what a consent points at.
    pub content_hash: String,
    pub published_at: Option<i64>,
    /// What the agreement states about how long consents on it last.
    pub terms: Terms,
}

/// What the agreement states about how long consents on it last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// A consent lasts until the period ends; absent, `consent_validity_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// Once this version is published, consents on an earlier version end this
    /// many days later unless the pupil signs this one; absent, they stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 365)]
    pub reconsent_days: Option<u32>,
}

impl Terms {
    /// The terms in words for the content hash: empty when there are none, so the
    /// hash of a text from before terms existed is what it was.
    fn canonical(&self) -> String {
        let mut s = String::new();
        if let Some(p) = self.period {
            s.push_str(&format!("period={};", p.as_str()));
        }
        if let Some(d) = self.reconsent_days {
            s.push_str(&format!("reconsent_days={d};"));
        }
        s
    }
}

/// A period an agreement may state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Until the school year ends (1 August, Europe/Oslo). Signed from 1 June on,
    /// until the end of the next one, so a consent given at the end of a year
    /// covers the year that follows.
    SchoolYear,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SchoolYear => "school_year",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        (s == "school_year").then_some(Self::SchoolYear)
    }

    /// When a consent signed at `signed_at` ends.
    pub fn ends(self, signed_at: i64) -> i64 {
        let day = crate::clock::oslo_date(signed_at);
        let year = if day.month() >= time::Month::June {
            day.year() + 1
        } else {
            day.year()
        };
        let first_of_august =
            time::Date::from_calendar_date(year, time::Month::August, 1).unwrap_or(time::Date::MAX);
        crate::clock::oslo_midnight(first_of_august)
    }
}

/// SHA-256 over a length-prefixed encoding of key, version and every text, so no two
/// different contents can collide by moving text between fields.
pub fn content_hash(key: &Slug, version: i64, title: &Localized, body: &Localized) -> String {
    content_hash_with(key, version, title, body, &Terms::default())
}

/// `content_hash` over the terms too, when there are any.
pub fn content_hash_with(
    key: &Slug,
    version: i64,
    title: &Localized,
    body: &Localized,
    terms: &Terms,
) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    let version = version.to_string();
    let parts: [&str; 8] = [
        key.as_str(),
        &version,
        &title.nb,
        &title.nn,
        &title.en,
        &body.nb,
        &body.nn,
        &body.en,
    ];
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p.as_bytes());
    }
    let terms = terms.canonical();
    if !terms.is_empty() {
        ctx.update(&(terms.len() as u64).to_be_bytes());
        ctx.update(terms.as_bytes());
    }
    hex::encode(ctx.finish().as_ref())
}

/// A line of "what changed" between two versions of an agreement text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    Same(String),
    Removed(String),
    Added(String),
}

/// What changed from `old` to `new`, paragraph by paragraph (paragraphs are
/// split on blank lines, as the agreement is shown): what a pupil reads before
/// signing a revised agreement.
pub fn what_changed(old: &str, new: &str) -> Vec<Changed> {
    use similar::{ChangeTag, TextDiff};
    // One paragraph a line, its own line breaks and spacing evened out.
    let flat = |text: &str| -> String {
        text.split("\n\n")
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|p| !p.is_empty())
            .map(|p| p + "\n")
            .collect()
    };
    let (old, new) = (flat(old), flat(new));
    TextDiff::from_lines(&old, &new)
        .iter_all_changes()
        .map(|c| {
            let p = c.value().trim_end().to_owned();
            match c.tag() {
                ChangeTag::Equal => Changed::Same(p),
                ChangeTag::Delete => Changed::Removed(p),
                ChangeTag::Insert => Changed::Added(p),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Localized {
        Localized {
            nb: s.into(),
            nn: s.into(),
            en: s.into(),
        }
    }

    #[test]
    fn hash_depends_on_every_field() {
        let key = Slug::parse("follow_up").unwrap();
        let base = content_hash(&key, 1, &text("t"), &text("b"));
        assert_ne!(base, content_hash(&key, 2, &text("t"), &text("b")));
        assert_ne!(base, content_hash(&key, 1, &text("tb"), &text("")));
        let mut body = text("b");
        body.nn = "c".into();
        assert_ne!(base, content_hash(&key, 1, &text("t"), &body));
        assert_eq!(base.len(), 64);
    }

    #[test]
    fn what_changed_reads_paragraph_by_paragraph() {
        let old = "Intro\n\nYou may\nwithdraw.\n\nShared for a year.\n";
        let new = "Intro\n\nYou may withdraw.\n\n\nShared for the school year.\n\nNew: guardians.";
        assert_eq!(
            what_changed(old, new),
            vec![
                Changed::Same("Intro".into()),
                Changed::Same("You may withdraw.".into()),
                Changed::Removed("Shared for a year.".into()),
                Changed::Added("Shared for the school year.".into()),
                Changed::Added("New: guardians.".into()),
            ]
        );
        assert!(what_changed(old, old)
            .iter()
            .all(|c| matches!(c, Changed::Same(_))));
    }

    #[test]
    fn terms_change_the_hash_and_none_keeps_the_old_one() {
        let key = Slug::parse("follow_up").unwrap();
        let old = content_hash(&key, 1, &text("t"), &text("b"));
        let none = content_hash_with(&key, 1, &text("t"), &text("b"), &Terms::default());
        assert_eq!(old, none);
        let year = Terms {
            period: Some(Period::SchoolYear),
            reconsent_days: None,
        };
        assert_ne!(
            old,
            content_hash_with(&key, 1, &text("t"), &text("b"), &year)
        );
    }

    #[test]
    fn a_school_year_ends_on_the_first_of_august_in_oslo() {
        let at = |y, m, d| {
            crate::clock::oslo_midnight(time::Date::from_calendar_date(y, m, d).unwrap())
                + 43_200_000
        };
        use time::Month::*;
        let cases = [
            (at(2026, September, 1), "2027-07-31T22:00:00Z"),
            (at(2027, May, 31), "2027-07-31T22:00:00Z"),
            // From June: the year that follows too.
            (at(2027, June, 1), "2028-07-31T22:00:00Z"),
            (at(2027, July, 31), "2028-07-31T22:00:00Z"),
        ];
        for (signed, ends) in cases {
            assert_eq!(crate::clock::rfc3339(Period::SchoolYear.ends(signed)), ends);
        }
    }
}
