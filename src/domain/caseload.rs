//! The tutor's work with a pupil, as rules without storage: how a recorded
//! disclosure is described, what an invitation code looks like, and which school
//! year a day belongs to.

use time::{Date, Month};

/// Which way a recorded disclosure went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The tutor told the counterpart.
    Told,
    /// The tutor asked, and the counterpart told the tutor.
    Asked,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "told" => Some(Self::Told),
            "asked" => Some(Self::Asked),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Told => "told",
            Self::Asked => "asked",
        }
    }
}

/// Where it was said: most sharing happens in meetings and on the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occasion {
    Meeting,
    Phone,
    Written,
}

impl Occasion {
    pub const ALL: [Occasion; 3] = [Self::Meeting, Self::Phone, Self::Written];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Meeting => "meeting",
            Self::Phone => "phone",
            Self::Written => "written",
        }
    }
}

/// Letters and digits that cannot be mistaken for each other when read aloud or
/// typed from a phone (no 0/O, 1/I/L).
const ALPHABET: &[u8; 31] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// An invitation code from 10 random bytes: 10 characters (about 49 bits),
/// shown as `ABCDE-FGHJK`. Single use and short-lived, so guessing is hopeless.
pub fn invitation_code(random: &[u8; 10]) -> String {
    let mut out = String::with_capacity(11);
    for (i, b) in random.iter().enumerate() {
        if i == 5 {
            out.push('-');
        }
        // 256 is not a multiple of 31: the bias (under 1 in 8) costs under a bit.
        out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
    }
    out
}

/// A code as typed: case, spaces and dashes do not matter; `None` if it cannot
/// be one.
pub fn normalise_code(typed: &str) -> Option<String> {
    let chars: Vec<char> = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if chars.len() != 10
        || !chars
            .iter()
            .all(|c| c.is_ascii() && ALPHABET.contains(&(*c as u8)))
    {
        return None;
    }
    let (a, b) = chars.split_at(5);
    Some(format!(
        "{}-{}",
        a.iter().collect::<String>(),
        b.iter().collect::<String>()
    ))
}

/// The school year a day belongs to, named by the year it began: August to July.
pub fn school_year(day: Date) -> i32 {
    if day.month() >= Month::August {
        day.year()
    } else {
        day.year() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn school_years_run_from_august_to_july() {
        let cases = [
            (date!(2026 - 07 - 31), 2025),
            (date!(2026 - 08 - 01), 2026),
            (date!(2026 - 12 - 31), 2026),
            (date!(2027 - 01 - 01), 2026),
        ];
        for (day, year) in cases {
            assert_eq!(school_year(day), year, "{day}");
        }
    }

    #[test]
    fn parties_and_occasions_read_back() {
        for o in Occasion::ALL {
            assert_eq!(Occasion::parse(o.as_str()), Some(o));
        }
        assert_eq!(Occasion::parse("email"), None);
        assert_eq!(Direction::parse("told"), Some(Direction::Told));
        assert_eq!(Direction::parse("TOLD"), None);
    }

    proptest! {
        #[test]
        fn every_code_reads_back_however_it_is_typed(random in any::<[u8; 10]>()) {
            let code = invitation_code(&random);
            prop_assert_eq!(code.len(), 11);
            prop_assert_eq!(normalise_code(&code), Some(code.clone()));
            let typed = code.to_lowercase().replace('-', " ");
            prop_assert_eq!(normalise_code(&typed), Some(code));
        }

        #[test]
        fn anything_else_is_no_code(s in ".{0,40}") {
            if let Some(c) = normalise_code(&s) {
                prop_assert!(c.chars().filter(|c| *c != '-').all(|c| ALPHABET.contains(&(c as u8))));
            }
        }
    }
}
