//! The words on the pupil pages in bokmål, nynorsk and English, and which language
//! a request gets: `?lang=`, then the remembered choice, then `Accept-Language`.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::domain::Lang;

const SOURCES: [(Lang, &str); 3] = [
    (Lang::Nb, include_str!("i18n/nb.toml")),
    (Lang::Nn, include_str!("i18n/nn.toml")),
    (Lang::En, include_str!("i18n/en.toml")),
];

type Table = HashMap<String, String>;

fn tables() -> &'static [(Lang, Table); 3] {
    static TABLES: OnceLock<[(Lang, Table); 3]> = OnceLock::new();
    TABLES.get_or_init(|| {
        // The files are part of the binary and checked by a test; an unreadable one
        // would show every text as its key rather than stop the service.
        SOURCES.map(|(lang, text)| (lang, toml::from_str(text).unwrap_or_default()))
    })
}

pub fn code(lang: Lang) -> &'static str {
    match lang {
        Lang::Nb => "nb",
        Lang::Nn => "nn",
        Lang::En => "en",
    }
}

pub fn parse(code: &str) -> Option<Lang> {
    match code.trim().to_ascii_lowercase().as_str() {
        "nb" | "no" | "nb-no" | "no-no" => Some(Lang::Nb),
        "nn" | "nn-no" => Some(Lang::Nn),
        "en" | "en-gb" | "en-us" => Some(Lang::En),
        _ => None,
    }
}

/// The best of our languages in an `Accept-Language` header, by q-value.
pub fn from_accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for part in header.split(',').take(20) {
        let mut it = part.split(';');
        let tag = it.next().unwrap_or("").trim();
        let q = it
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let lang = parse(tag).or_else(|| parse(tag.split('-').next().unwrap_or("")));
        if let Some(l) = lang {
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, l));
            }
        }
    }
    best.map(|(_, l)| l)
}

/// The texts of one language, as the templates see them.
#[derive(Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn t(&self, key: &str) -> &'static str {
        tables()
            .iter()
            .find(|(l, _)| *l == self.lang)
            .and_then(|(_, t)| t.get(key))
            .map_or("⟦missing text⟧", String::as_str)
    }

    /// A text with `{name}` placeholders filled in.
    pub fn f(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.t(key).to_owned();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    pub fn code(&self) -> &'static str {
        code(self.lang)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_language_has_every_text() {
        let keys: Vec<BTreeSet<&String>> =
            tables().iter().map(|(_, t)| t.keys().collect()).collect();
        assert!(keys[0].len() > 100, "the bokmål file parses");
        assert_eq!(keys[0], keys[1], "nb and nn have the same keys");
        assert_eq!(keys[0], keys[2], "nb and en have the same keys");
        for (_, t) in tables() {
            assert!(t.values().all(|v| !v.trim().is_empty()));
        }
    }

    #[test]
    fn accept_language_is_negotiated() {
        let cases = [
            ("en-GB,en;q=0.9", Some(Lang::En)),
            ("nn-NO, nb;q=0.8", Some(Lang::Nn)),
            ("de, nb;q=0.5, en;q=0.7", Some(Lang::En)),
            ("no", Some(Lang::Nb)),
            ("fr, de", None),
            ("en;q=0", None),
            ("", None),
        ];
        for (header, want) in cases {
            assert_eq!(from_accept_language(header), want, "{header}");
        }
    }
}
