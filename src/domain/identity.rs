//! The national identity number (fødselsnummer, D-number, synthetic test number).
//!
//! An [`IdentityNumber`] can only be built valid, and it never prints its digits:
//! `Debug` is redacted and there is no `Display`, so it cannot end up in a log line
//! or an error message by accident. The digits leave this type only through
//! [`IdentityNumber::expose_digits`], which the crypto vault uses to hash and seal.

use serde::{Deserialize, Deserializer};
use std::fmt;
use time::{Date, Month};

const W1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

/// Why a string is not an identity number. Never carries the digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityNumberError {
    #[error("an identity number has exactly 11 digits")]
    Length,
    #[error("an identity number has only digits")]
    NotDigits,
    #[error("the check digits do not match")]
    CheckDigit,
    #[error("the birth date part is not a date")]
    BirthDate,
}

/// What kind of number it is: people are registered with one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberKind {
    /// Fødselsnummer.
    Birth,
    /// D-number: 40 added to the day.
    DNumber,
    /// Synthetic test number: 80 added to the month (Tenor) or 40 (older test range).
    Synthetic,
}

#[derive(Clone, PartialEq, Eq)]
pub struct IdentityNumber {
    digits: [u8; 11],
    kind: NumberKind,
    birth_date: Date,
}

impl IdentityNumber {
    pub fn parse(input: &str) -> Result<Self, IdentityNumberError> {
        let s = input.trim();
        if s.len() != 11 {
            return Err(if s.bytes().all(|b| b.is_ascii_digit()) {
                IdentityNumberError::Length
            } else {
                IdentityNumberError::NotDigits
            });
        }
        let mut digits = [0u8; 11];
        for (slot, b) in digits.iter_mut().zip(s.bytes()) {
            if !b.is_ascii_digit() {
                return Err(IdentityNumberError::NotDigits);
            }
            *slot = b - b'0';
        }
        if check_digits(&digits) != Some((digits[9], digits[10])) {
            return Err(IdentityNumberError::CheckDigit);
        }
        let (kind, birth_date) = birth_date(&digits).ok_or(IdentityNumberError::BirthDate)?;
        Ok(Self {
            digits,
            kind,
            birth_date,
        })
    }

    /// Builds the synthetic test number (month + 80) for a birth date and a serial,
    /// trying serials upward until the check digits exist. For demo data and tests.
    pub fn synthetic(birth: Date, serial: u16) -> Option<Self> {
        let year = birth.year();
        // Individual-number ranges that map back to the right century.
        let range = match year {
            1900..=1999 => 0..500u16,
            2000..=2039 => 500..1000u16,
            _ => return None,
        };
        let start = range.start + serial % (range.end - range.start);
        for individual in (start..range.end).chain(range.start..start) {
            let s = format!(
                "{:02}{:02}{:02}{:03}",
                birth.day(),
                u8::from(birth.month()) + 80,
                year % 100,
                individual
            );
            let mut d = [0u8; 11];
            for (slot, b) in d.iter_mut().zip(s.bytes()) {
                *slot = b - b'0';
            }
            if let Some((k1, k2)) = check_digits(&d) {
                d[9] = k1;
                d[10] = k2;
                let text: String = d.iter().map(|x| char::from(b'0' + x)).collect();
                return Self::parse(&text).ok();
            }
        }
        None
    }

    pub fn kind(&self) -> NumberKind {
        self.kind
    }

    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    /// Whole years of age on `on`.
    pub fn age_on(&self, on: Date) -> u8 {
        let b = self.birth_date;
        let mut age = on.year() - b.year();
        if (on.month() as u8, on.day()) < (b.month() as u8, b.day()) {
            age -= 1;
        }
        u8::try_from(age.max(0)).unwrap_or(u8::MAX)
    }

    /// The digits, for hashing and sealing only. Never log or return them.
    pub fn expose_digits(&self) -> String {
        self.digits.iter().map(|d| char::from(b'0' + d)).collect()
    }
}

impl fmt::Debug for IdentityNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityNumber(***********)")
    }
}

impl<'de> Deserialize<'de> for IdentityNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s)
            .map_err(|e| serde::de::Error::custom(format!("not a valid identity number: {e}")))
    }
}

/// Both mod-11 check digits for the first nine digits, or `None` when a check
/// digit would be 10 (such a serial is never issued).
fn check_digits(d: &[u8; 11]) -> Option<(u8, u8)> {
    let k = |weights: &[u32], digits: &[u8]| -> Option<u8> {
        let sum: u32 = weights
            .iter()
            .zip(digits)
            .map(|(w, x)| w * u32::from(*x))
            .sum();
        match 11 - sum % 11 {
            11 => Some(0),
            10 => None,
            v => u8::try_from(v).ok(),
        }
    };
    let k1 = k(&W1, &d[..9])?;
    let mut with_k1 = [0u8; 10];
    with_k1[..9].copy_from_slice(&d[..9]);
    with_k1[9] = k1;
    let k2 = k(&W2, &with_k1)?;
    Some((k1, k2))
}

fn birth_date(d: &[u8; 11]) -> Option<(NumberKind, Date)> {
    let two = |i: usize| d[i] * 10 + d[i + 1];
    let (mut day, mut month, yy) = (two(0), two(2), i32::from(two(4)));
    let individual = u16::from(d[6]) * 100 + u16::from(d[7]) * 10 + u16::from(d[8]);
    let mut kind = NumberKind::Birth;
    if day > 40 {
        day -= 40;
        kind = NumberKind::DNumber;
    }
    if month > 80 {
        month -= 80;
        kind = NumberKind::Synthetic;
    } else if month > 40 {
        month -= 40;
        kind = NumberKind::Synthetic;
    }
    let year = match individual {
        0..=499 => 1900 + yy,
        500..=749 if yy >= 54 => 1800 + yy,
        500..=999 if yy < 40 => 2000 + yy,
        900..=999 if yy >= 40 => 1900 + yy,
        _ => return None,
    };
    let month = Month::try_from(month).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    Some((kind, date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn synthetic_numbers_round_trip() {
        let n = IdentityNumber::synthetic(date!(2008 - 03 - 14), 0).unwrap();
        assert_eq!(n.kind(), NumberKind::Synthetic);
        assert_eq!(n.birth_date(), date!(2008 - 03 - 14));
        assert_eq!(&n.expose_digits()[2..4], "83");
        assert_eq!(n.age_on(date!(2026 - 03 - 13)), 17);
        assert_eq!(n.age_on(date!(2026 - 03 - 14)), 18);
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        let good = IdentityNumber::synthetic(date!(2009 - 12 - 01), 7)
            .unwrap()
            .expose_digits();
        let mut wrong_check = good.clone().into_bytes();
        wrong_check[10] = if wrong_check[10] == b'9' {
            b'0'
        } else {
            wrong_check[10] + 1
        };
        let cases: [(&str, IdentityNumberError); 4] = [
            ("1234567890", IdentityNumberError::Length),
            ("1234567890a", IdentityNumberError::NotDigits),
            (
                std::str::from_utf8(&wrong_check).unwrap(),
                IdentityNumberError::CheckDigit,
            ),
            ("", IdentityNumberError::Length),
        ];
        for (input, want) in cases {
            assert_eq!(IdentityNumber::parse(input).unwrap_err(), want, "{input:?}");
        }
    }

    #[test]
    fn debug_never_prints_digits() {
        let n = IdentityNumber::synthetic(date!(2007 - 06 - 30), 3).unwrap();
        let shown = format!("{n:?}");
        assert!(!shown.contains(&n.expose_digits()));
    }

    #[test]
    fn d_numbers_parse() {
        // Take a synthetic number's structure and move 40 to the day instead.
        for serial in 0..50 {
            let base = format!("{:02}{:02}{:02}{:03}", 41, 5, 6, 500 + serial);
            let mut d = [0u8; 11];
            for (slot, b) in d.iter_mut().zip(base.bytes()) {
                *slot = b - b'0';
            }
            if let Some((k1, k2)) = check_digits(&d) {
                let s = format!("{base}{k1}{k2}");
                let n = IdentityNumber::parse(&s).unwrap();
                assert_eq!(n.kind(), NumberKind::DNumber);
                assert_eq!(n.birth_date(), date!(2006 - 05 - 01));
                return;
            }
        }
        panic!("no valid D-number serial found");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = IdentityNumber::parse(&s);
        }

        #[test]
        fn every_synthetic_number_parses(days in 0i64..14_000, serial in 0u16..500) {
            let birth = date!(1990 - 01 - 01) + time::Duration::days(days);
            if let Some(n) = IdentityNumber::synthetic(birth, serial) {
                prop_assert_eq!(n.birth_date(), birth);
                let again = IdentityNumber::parse(&n.expose_digits()).unwrap();
                prop_assert_eq!(again, n);
            }
        }

        #[test]
        fn a_changed_digit_is_caught(days in 0i64..10_000, pos in 0usize..11, delta in 1u8..10) {
            let birth = date!(2000 - 01 - 01) + time::Duration::days(days);
            let n = IdentityNumber::synthetic(birth, 0).unwrap();
            let mut bytes = n.expose_digits().into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(IdentityNumber::parse(&changed).is_err());
        }
    }
}
