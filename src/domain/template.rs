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
}
