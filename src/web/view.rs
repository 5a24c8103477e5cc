//! Turning records into the words a pupil reads: times in Norwegian time, names of
//! organisations and categories, the agreement's paragraphs.

use time::{Date, Month, OffsetDateTime, UtcOffset, Weekday};
use uuid::Uuid;

use crate::domain::catalogue::Catalogue;
use crate::domain::consent::Choice;
use crate::domain::org::Organisation;
use crate::domain::{Lang, Slug};

fn last_sunday(year: i32, month: Month) -> Option<Date> {
    let mut d = Date::from_calendar_date(year, month, month.length(year)).ok()?;
    while d.weekday() != Weekday::Sunday {
        d = d.previous_day()?;
    }
    Some(d)
}

/// Norwegian time: UTC+2 from the last Sunday of March to the last Sunday of
/// October (at 01:00 UTC), else UTC+1.
pub fn oslo_time(ms: i64) -> String {
    let Ok(utc) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    let y = utc.year();
    let at_one = |d: Option<Date>| d.map(|d| d.with_hms(1, 0, 0).map(|t| t.assume_utc()));
    let summer = match (
        at_one(last_sunday(y, Month::March)),
        at_one(last_sunday(y, Month::October)),
    ) {
        (Some(Ok(start)), Some(Ok(end))) => utc >= start && utc < end,
        _ => false,
    };
    let offset = UtcOffset::from_hms(if summer { 2 } else { 1 }, 0, 0).unwrap_or(UtcOffset::UTC);
    let t = utc.to_offset(offset);
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

/// Choices grouped by organisation, in the order the organisations come.
pub fn by_org(
    orgs: &[Organisation],
    cat: &Catalogue,
    lang: Lang,
    pairs: &[(Uuid, String)],
) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(Uuid, String, Vec<String>)> = Vec::new();
    for (org, key) in pairs {
        let name = category_name(cat, key, lang);
        match out.iter_mut().find(|(id, _, _)| id == org) {
            Some((_, _, v)) => v.push(name),
            None => out.push((*org, org_name(orgs, *org), vec![name])),
        }
    }
    out.into_iter().map(|(_, o, v)| (o, v)).collect()
}

/// `org:category` as the choose form sends it.
pub fn choice_value(org: Uuid, category: &str) -> String {
    format!("{org}:{category}")
}

pub fn parse_choice(v: &str) -> Option<Choice> {
    let (org, cat) = v.split_once(':')?;
    Some(Choice {
        org_id: Uuid::parse_str(org).ok()?,
        category: Slug::parse(cat).ok()?,
    })
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
        assert!(parse_choice(&choice_value(id, "attendance")).is_some());
        for bad in [
            "",
            ":",
            "x:attendance",
            &format!("{id}:"),
            &format!("{id}:Bad Cat"),
            &format!("{id}"),
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
