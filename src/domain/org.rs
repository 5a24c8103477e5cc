//! Organisations that may receive a pupil's data, and the school networks they form.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use uuid::Uuid;

use super::Slug;

const ORG_WEIGHTS: [u32; 8] = [3, 2, 7, 6, 5, 4, 3, 2];

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrgNumberError {
    #[error("an organisation number has exactly 9 digits")]
    Length,
    #[error("an organisation number has only digits")]
    NotDigits,
    #[error("the check digit does not match (mod 11)")]
    CheckDigit,
}

/// A 9-digit organisation number (organisasjonsnummer) with a valid mod-11 check digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgNumber(String);

impl OrgNumber {
    pub fn parse(input: &str) -> Result<Self, OrgNumberError> {
        let s: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(OrgNumberError::NotDigits);
        }
        if s.len() != 9 {
            return Err(OrgNumberError::Length);
        }
        let digits: Vec<u32> = s.bytes().map(|b| u32::from(b - b'0')).collect();
        if Some(digits[8]) != check_digit(&digits[..8]) {
            return Err(OrgNumberError::CheckDigit);
        }
        Ok(Self(s))
    }

    /// Completes eight digits with their check digit; `None` if no valid one exists.
    pub fn with_check_digit(first_eight: u32) -> Option<Self> {
        let s = format!("{first_eight:08}");
        let digits: Vec<u32> = s.bytes().map(|b| u32::from(b - b'0')).collect();
        let k = check_digit(&digits).filter(|_| digits.len() == 8)?;
        Self::parse(&format!("{s}{k}")).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_digit(first_eight: &[u32]) -> Option<u32> {
    let sum: u32 = ORG_WEIGHTS
        .iter()
        .zip(first_eight)
        .map(|(w, d)| w * d)
        .sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        k => Some(k),
    }
}

impl fmt::Display for OrgNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrgNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgNumber({})", self.0)
    }
}

impl Serialize for OrgNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OrgNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s)
            .map_err(|e| serde::de::Error::custom(format!("not a valid organisation number: {e}")))
    }
}

/// The kind of organisation (school, ot, ppt, health, child_welfare, nav_office, …).
/// Types are data in the catalogue, so new ones need no code change.
pub type OrgType = Slug;

/// The local NAV office: never offered among the ordinary choices (default deny).
pub const NAV_OFFICE: &str = "nav_office";
pub const SCHOOL: &str = "school";

/// A municipality by its four-digit number (kommunenummer).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[schema(value_type = String, example = "4601")]
pub struct Municipality(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a municipality number has four digits")]
pub struct MunicipalityError;

impl Municipality {
    pub fn parse(s: &str) -> Result<Self, MunicipalityError> {
        let s = s.trim();
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(MunicipalityError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Municipality {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Organisation {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = String, example = "974123452")]
    pub number: OrgNumber,
    #[schema(value_type = String, example = "ppt")]
    pub org_type: OrgType,
    pub enabled: bool,
    /// The municipality it serves (for child welfare, the NAV office and other
    /// services offered where the pupil lives).
    pub municipality: Option<Municipality>,
}

/// A school and the local partners its pupils may choose among, under one
/// agreement: who is responsible, how to reach the data protection officer, and
/// which agreement text its pupils read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Network {
    pub id: Uuid,
    pub name: String,
    pub school_id: Uuid,
    pub member_ids: Vec<Uuid>,
    /// The data controller(s), as the agreement names them.
    pub controller: Option<String>,
    /// How to reach the data protection officer.
    pub dpo: Option<String>,
    /// The agreement template its pupils read (default `follow_up`).
    #[schema(value_type = Option<String>)]
    pub template_key: Option<Slug>,
}

impl Network {
    pub fn contains(&self, org: Uuid) -> bool {
        self.school_id == org || self.member_ids.contains(&org)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table_of_org_numbers() {
        let good = OrgNumber::with_check_digit(97412345).unwrap();
        let cases: Vec<(String, Result<(), OrgNumberError>)> = vec![
            (good.as_str().to_string(), Ok(())),
            (format!("{} ", good.as_str()), Ok(())),
            ("12345678".into(), Err(OrgNumberError::Length)),
            ("1234567890".into(), Err(OrgNumberError::Length)),
            ("12345678x".into(), Err(OrgNumberError::NotDigits)),
            ("".into(), Err(OrgNumberError::Length)),
        ];
        for (input, want) in cases {
            assert_eq!(OrgNumber::parse(&input).map(|_| ()), want, "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn one_wrong_digit_is_caught(first in 10_000_000u32..99_999_999, pos in 0usize..9, delta in 1u8..10) {
            if let Some(n) = OrgNumber::with_check_digit(first) {
                let mut b = n.as_str().as_bytes().to_vec();
                b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
                prop_assert!(OrgNumber::parse(std::str::from_utf8(&b).unwrap()).is_err());
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,12}") {
            let _ = OrgNumber::parse(&s);
        }
    }
}
