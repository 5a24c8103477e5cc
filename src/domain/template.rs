//! Agreement templates: the text the pupil reads, versioned and immutable once published.

use ring::digest;
use serde::Serialize;
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
}

/// SHA-256 over a length-prefixed encoding of key, version and every text, so no two
/// different contents can collide by moving text between fields.
pub fn content_hash(key: &Slug, version: i64, title: &Localized, body: &Localized) -> String {
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
}
