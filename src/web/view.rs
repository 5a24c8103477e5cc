//! Turning records into the words a pupil reads: times in Norwegian time, names of
//! organisations and categories, the agreement's paragraphs.

use uuid::Uuid;

use crate::domain::catalogue::{Catalogue, TUTOR};
use crate::domain::consent::{Choice, Grant, Party};

/// A grant as `flows` groups it: its parties, category, and whether it is from
/// before disclosures were modelled.
pub fn flow_of(g: &Grant) -> (&Party, &Party, &Slug, bool) {
    (&g.discloser, &g.recipient, &g.category, g.legacy)
}
use crate::domain::org::Organisation;
use crate::domain::{Lang, Slug};
use crate::web::i18n::Tr;

/// Norwegian time (`clock::oslo`), as people read it.
pub fn oslo_time(ms: i64) -> String {
    let Some(t) = crate::clock::oslo(ms) else {
        return String::new();
    };
    format!(
        "{:02}.{:02}.{} {:02}:{:02}",
        t.day(),
        u8::from(t.month()),
        t.year(),
        t.hour(),
        t.minute()
    )
}

pub fn oslo_date(ms: i64) -> String {
    oslo_time(ms)
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned()
}

pub fn category_name(cat: &Catalogue, key: &str, lang: Lang) -> String {
    cat.categories
        .iter()
        .find(|c| c.key.as_str() == key)
        .map_or_else(|| key.to_owned(), |c| c.name.get(lang).to_owned())
}

pub fn org_name(orgs: &[Organisation], id: Uuid) -> String {
    orgs.iter()
        .find(|o| o.id == id)
        .map_or_else(|| "–".to_owned(), |o| o.name.clone())
}

/// "X may tell Y", in the page's language.
pub fn flow_line(
    from: &Party,
    to: &Party,
    orgs: &[Organisation],
    cat: &Catalogue,
    tr: Tr,
) -> String {
    tr.f(
        "flow",
        &[
            ("from", &party_name(from, orgs, cat, tr.lang)),
            ("to", &party_name(to, orgs, cat, tr.lang)),
        ],
    )
}

/// A grant's line: "X may tell Y", or for a grant from before disclosures were
/// modelled, what the pupil signed then: "Y may see".
pub fn grant_line(g: &Grant, orgs: &[Organisation], cat: &Catalogue, tr: Tr) -> String {
    if g.legacy {
        tr.f(
            "review_may_see",
            &[("org", &party_name(&g.recipient, orgs, cat, tr.lang))],
        )
    } else {
        flow_line(&g.discloser, &g.recipient, orgs, cat, tr)
    }
}

/// One grant as a sentence: "X may tell Y: what".
pub fn grant_sentence(g: &Grant, orgs: &[Organisation], cat: &Catalogue, tr: Tr) -> String {
    format!(
        "{} {}",
        grant_line(g, orgs, cat, tr),
        category_name(cat, g.category.as_str(), tr.lang)
    )
}

/// Grants grouped by who tells whom, in the order they come: each group's line
/// ("X may tell Y") and its category names.
pub fn flows<'a>(
    grants: impl IntoIterator<Item = (&'a Party, &'a Party, &'a Slug, bool)>,
    orgs: &[Organisation],
    cat: &Catalogue,
    tr: Tr,
) -> Vec<(String, Vec<String>)> {
    // (discloser, recipient, from before disclosures) and the category names.
    type Group<'g> = ((&'g Party, &'g Party, bool), Vec<String>);
    let mut out: Vec<Group<'a>> = Vec::new();
    for (from, to, key, legacy) in grants {
        let name = category_name(cat, key.as_str(), tr.lang);
        match out
            .iter_mut()
            .find(|(k, _)| k.0 == from && k.1 == to && k.2 == legacy)
        {
            Some((_, v)) => v.push(name),
            None => out.push(((from, to, legacy), vec![name])),
        }
    }
    out.into_iter()
        .map(|((from, to, legacy), cats)| {
            let line = if legacy {
                tr.f(
                    "review_may_see",
                    &[("org", &party_name(to, orgs, cat, tr.lang))],
                )
            } else {
                flow_line(from, to, orgs, cat, tr)
            };
            (line, cats)
        })
        .collect()
}

/// A party as the choose form sends it: `tutor`, `<org id>` or `<org id>.<role>`.
pub fn party_value(p: &Party) -> String {
    match p {
        Party::Tutor => TUTOR.to_owned(),
        Party::Org { org_id, role: None } => org_id.to_string(),
        Party::Org {
            org_id,
            role: Some(r),
        } => format!("{org_id}.{r}"),
    }
}

pub fn parse_party(v: &str) -> Option<Party> {
    if v == TUTOR {
        return Some(Party::Tutor);
    }
    let (org, role) = match v.split_once('.') {
        Some((o, r)) => (o, Some(Slug::parse(r).ok()?)),
        None => (v, None),
    };
    Some(Party::Org {
        org_id: Uuid::parse_str(org).ok()?,
        role,
    })
}

/// `discloser>recipient:category` as the choose form sends a choice.
pub fn choice_value(c: &Choice) -> String {
    let (from, to) = c.parties().unwrap_or((Party::Tutor, Party::Tutor));
    format!("{}>{}:{}", party_value(&from), party_value(&to), c.category)
}

pub fn parse_choice(v: &str) -> Option<Choice> {
    let (parties, cat) = v.split_once(':')?;
    let (from, to) = parties.split_once('>')?;
    Some(Choice::new(
        parse_party(from)?,
        parse_party(to)?,
        Slug::parse(cat).ok()?,
    ))
}

/// A party in words: the tutor, or an organisation's name (and the role in it).
pub fn party_name(p: &Party, orgs: &[Organisation], cat: &Catalogue, lang: Lang) -> String {
    match p {
        Party::Tutor => cat
            .org_type(&Slug::tutor())
            .map_or_else(|| TUTOR.to_owned(), |t| t.name.get(lang).to_owned()),
        Party::Org { org_id, role } => {
            let org = orgs.iter().find(|o| o.id == *org_id);
            let name = org.map_or_else(|| "–".to_owned(), |o| o.name.clone());
            let role = role.as_ref().and_then(|r| {
                let t = cat.org_type(&org?.org_type)?;
                Some(t.role(r)?.name.get(lang).to_owned())
            });
            match role {
                Some(r) => format!("{r}, {name}"),
                None => name,
            }
        }
    }
}

pub struct Paragraph {
    pub strong: Option<String>,
    pub text: String,
}

/// The agreement's text: paragraphs split on blank lines, a leading `**…**` bold.
/// Everything else is shown as written (and escaped by the template).
pub fn paragraphs(body: &str) -> Vec<Paragraph> {
    body.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .map(|p| {
            if let Some(rest) = p.strip_prefix("**") {
                if let Some((strong, text)) = rest.split_once("**") {
                    return Paragraph {
                        strong: Some(strong.trim().to_owned()),
                        text: text.trim().to_owned(),
                    };
                }
            }
            Paragraph {
                strong: None,
                text: p,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norwegian_time_follows_summer_time() {
        // 2026-11-23 12:00 UTC is 13:00 in winter; 2026-07-01 12:00 UTC is 14:00.
        assert_eq!(oslo_time(1_795_435_200_000), "23.11.2026 13:00");
        assert_eq!(oslo_time(1_782_907_200_000), "01.07.2026 14:00");
        // The switch: 2026-03-29 00:59 UTC is winter time, 01:00 UTC summer time.
        assert_eq!(oslo_time(1_774_745_940_000), "29.03.2026 01:59");
        assert_eq!(oslo_time(1_774_746_000_000), "29.03.2026 03:00");
    }

    #[test]
    fn choices_parse_or_are_refused() {
        let id = Uuid::new_v4();
        let cat = Slug::parse("attendance").unwrap();
        let role = Party::Org {
            org_id: id,
            role: Some(Slug::parse("counsellor").unwrap()),
        };
        for c in [
            Choice::new(Party::org(id), Party::Tutor, cat.clone()),
            Choice::new(Party::Tutor, role, cat.clone()),
            Choice::new(Party::org(id), Party::org(Uuid::new_v4()), cat),
        ] {
            assert_eq!(parse_choice(&choice_value(&c)), Some(c));
        }
        for bad in [
            "",
            ":",
            "x:attendance",
            "tutor>x:attendance",
            &format!("{id}:attendance"),
            &format!("tutor>{id}:"),
            &format!("tutor>{id}:Bad Cat"),
            &format!("tutor>{id}.Bad Role:attendance"),
            &format!("tutor>{id}"),
        ] {
            assert!(parse_choice(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn agreement_paragraphs_keep_their_bold_lead() {
        let p = paragraphs("First line\ncontinues.\n\n**Lead:** rest of it.\n\n\n");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].text, "First line continues.");
        assert_eq!(p[1].strong.as_deref(), Some("Lead:"));
        assert_eq!(p[1].text, "rest of it.");
    }
}
