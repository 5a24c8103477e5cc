//! Data at scale: the synthetic data generator (`samtykke demo generate`) writes
//! whole, verifiable records, and background work reads only what is due.

use crate::helpers::spawn_with;
use samtykke::clock::DAY;
use samtykke::policy::index::ConsentRecord;
use samtykke::service::{ConsentQuery, GenerateSpec};

#[tokio::test]
async fn generated_pupils_are_whole_records_and_expiry_reads_only_what_is_due() {
    let app = spawn_with(|_| {}, true).await;
    let s = &app.services;
    let spec = GenerateSpec {
        pupils: 300,
        per_school: 100,
        seed: 7,
    };
    let made = s.generate(&spec, |_| {}).await.unwrap();
    assert_eq!(made.schools, 3);
    assert!(made.pupils > 250 && made.pupils <= 300, "{made:?}");
    assert!(made.grants >= made.pupils && made.grants <= 6 * made.pupils);
    for (what, n) in [
        ("withdrawn grants", made.withdrawn_grants),
        ("ended consents", made.ended_consents),
        ("expired consents", made.expired_consents),
    ] {
        assert!(n > 0, "some {what}: {made:?}");
    }
    // Every signature, withdrawal and expiry is in the chain, and it verifies.
    let report = s.verify_chain().await.unwrap();
    assert!(report.broken.is_none(), "{report:?}");

    // A decision reads each pupil as the pupil's own page does: the same consents,
    // grants, ends and guardian sides, in the same order.
    let mut pupils = std::collections::BTreeSet::new();
    for offset in (0..).step_by(500) {
        let q = ConsentQuery {
            pupil_id: None,
            network_id: None,
            limit: 500,
            offset,
        };
        let page = s.consents(&q).await.unwrap();
        pupils.extend(page.iter().map(|c| c.pupil_id));
        if page.len() < 500 {
            break;
        }
    }
    assert!(pupils.len() >= made.pupils);
    for pupil in pupils {
        let whole = s.consents_of_pupil(pupil).await.unwrap();
        let expected: Vec<ConsentRecord> = whole.iter().map(ConsentRecord::from).collect();
        let indexed = s.indexed(Some(pupil)).await.unwrap();
        assert_eq!(
            indexed.consents(),
            Some(expected.as_slice()),
            "pupil {pupil}"
        );
    }
    let stranger = s.indexed(Some(uuid::Uuid::new_v4())).await.unwrap();
    assert!(
        stranger.consents().is_none(),
        "samtykke knows no such pupil"
    );

    // The generated expiries are recorded: nothing is due now.
    assert_eq!(s.expire_due().await.unwrap(), 0);
    // Two years on, every consent still open ends, each recorded once.
    app.clock.advance(2 * 365 * DAY);
    let open = made.pupils - made.ended_consents - made.expired_consents;
    let ended = s.expire_due().await.unwrap();
    assert!(ended >= open, "{ended} of {open}");
    assert_eq!(s.expire_due().await.unwrap(), 0, "recorded once");
    let report = s.verify_chain().await.unwrap();
    assert!(report.broken.is_none(), "{report:?}");
}
