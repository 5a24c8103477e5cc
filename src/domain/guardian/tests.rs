use time::macros::date;

use super::*;

#[test]
fn states_read_back_and_nothing_else_reads() {
    for s in Cosign::ALL {
        assert_eq!(Cosign::parse(s.as_str()), Some(s));
    }
    for bad in ["", "Signed", "cosigned", "signed "] {
        assert_eq!(Cosign::parse(bad), None, "{bad}");
    }
}

#[test]
fn only_a_checked_signature_an_exception_or_the_pupils_confirmation_holds() {
    let at = 1_000;
    let cases = [
        (Cosign::Pending, 0, false),
        (Cosign::AwaitingCheck, 0, false),
        (Cosign::Signed, 999, true),
        (Cosign::Signed, 1_000, false),
        (Cosign::Excepted, 999, true),
        (Cosign::Excepted, 5_000, false),
        (Cosign::Declined, 0, false),
        (Cosign::Confirmed, 5_000, true),
        (Cosign::Lapsed, 0, false),
    ];
    for (state, now, holds) in cases {
        let p = GuardianPart {
            state,
            adult_at: at,
        };
        assert_eq!(p.holds(now), holds, "{state:?} at {now}");
    }
}

#[test]
fn the_birthday_starts_at_midnight_in_oslo() {
    // Winter (UTC+1) and summer (UTC+2).
    let winter = birthday_starts(date!(2011 - 01 - 15), 16);
    assert_eq!(crate::clock::rfc3339(winter), "2027-01-14T23:00:00Z");
    let summer = birthday_starts(date!(2011 - 06 - 01), 16);
    assert_eq!(crate::clock::rfc3339(summer), "2027-05-31T22:00:00Z");
    // Born on 29 February: a year older on 1 March in other years.
    let leap = birthday_starts(date!(2008 - 02 - 29), 18);
    assert_eq!(crate::clock::rfc3339(leap), "2026-02-28T23:00:00Z");
    // And on 29 February in a leap year.
    let leap_again = birthday_starts(date!(2008 - 02 - 29), 16);
    assert_eq!(crate::clock::rfc3339(leap_again), "2024-02-28T23:00:00Z");
}

#[test]
fn the_grounds_file_reads_and_names_a_provision_for_each() {
    let grounds = protective_grounds();
    assert_eq!(grounds.len(), 3);
    for g in grounds {
        assert!(!g.provision.is_empty(), "{}", g.key);
        for lang in [
            super::super::Lang::Nb,
            super::super::Lang::Nn,
            super::super::Lang::En,
        ] {
            assert!(!g.name.get(lang).is_empty(), "{} {lang:?}", g.key);
        }
    }
}
