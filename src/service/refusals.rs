//! Requests refused before the caller said who they are (no valid client
//! assertion, a login that did not finish). Each is counted; the audit chain gets
//! one sample per endpoint a minute, with the number refused since the last one.
//! A permanent entry for each would let anyone without credentials fill the disk
//! (and, through the console's export, the memory).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::audit::event::Outcome;
use crate::audit::{Actor, Event, Record};
use crate::clock::Millis;

use super::tokens::refusal_event;
use super::{Endpoint, Result, Services};

/// At most one sample per door in this time.
const SAMPLE_EVERY: Millis = 60_000;

/// Where an unauthenticated refusal happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Door {
    Token,
    Introspection,
    Revocation,
    Login,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Token => "token",
            Door::Introspection => "introspection",
            Door::Revocation => "revocation",
            Door::Login => "login",
        }
    }
}

impl From<Endpoint> for Door {
    fn from(e: Endpoint) -> Self {
        match e {
            Endpoint::Token => Door::Token,
            Endpoint::Introspection => Door::Introspection,
            Endpoint::Revocation => Door::Revocation,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    total: u64,
    unsampled: u64,
    sampled_at: Option<Millis>,
}

/// Counts per door, bounded by the number of doors.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    tallies: Mutex<BTreeMap<Door, Tally>>,
}

impl Refusals {
    /// Counts one refusal; `Some(n)` when a sample is due: `n` refusals since the
    /// last sample, this one included.
    fn count(&self, door: Door, now: Millis) -> Option<u64> {
        let mut all = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        let t = all.entry(door).or_default();
        t.total += 1;
        t.unsampled += 1;
        if t.sampled_at.is_some_and(|at| now - at < SAMPLE_EVERY) {
            return None;
        }
        t.sampled_at = Some(now);
        Some(std::mem::take(&mut t.unsampled))
    }

    fn totals(&self) -> Vec<(Door, u64)> {
        let all = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().map(|(d, t)| (*d, t.total)).collect()
    }
}

impl Services {
    /// Records a refusal of a caller who never authenticated: counted, and
    /// sampled into the chain (see the module). `reason` is one of the service's
    /// own codes, never the caller's text. Fail closed when a sample is due.
    pub(super) async fn refused_anonymously(
        &self,
        door: Door,
        reason: &str,
        request_id: Option<String>,
    ) -> Result<()> {
        let Some(n) = self.refusals.count(door, self.now()) else {
            return Ok(());
        };
        let detail = format!("sample: {n} refused here since the last sample");
        let outcome = Outcome::new("refused", reason, detail);
        let event = match door {
            Door::Login => Event::Login(outcome),
            Door::Token => refusal_event(Endpoint::Token, outcome),
            Door::Introspection => refusal_event(Endpoint::Introspection, outcome),
            Door::Revocation => refusal_event(Endpoint::Revocation, outcome),
        };
        let record =
            Record::new(self.now(), Actor::Unauthenticated, None, event).with_request(request_id);
        self.log(vec![record.entry()]).await
    }

    /// A login refused before anyone was logged in (`reason`: the service's code).
    pub async fn record_login_refusal(
        &self,
        reason: &str,
        request_id: Option<String>,
    ) -> Result<()> {
        self.refused_anonymously(Door::Login, reason, request_id)
            .await
    }

    /// One request by an authenticated client: `Err(seconds to wait)` past its
    /// rate (`rate_limit_client_per_second`).
    pub fn client_rate(&self, client_id: &str) -> std::result::Result<(), u64> {
        self.client_limit.take(client_id, self.now())
    }

    /// One request from an address at a door anyone can knock on (token,
    /// introspection, revocation, AuthZEN, logins): `Err(seconds to wait)` past
    /// `rate_limit_address_per_second`.
    pub fn address_rate(&self, address: &str) -> std::result::Result<(), u64> {
        self.address_limit.take(address, self.now())
    }

    /// Unauthenticated refusals since start, per door, for `/metrics`.
    pub fn refusal_totals(&self) -> Vec<(&'static str, u64)> {
        self.refusals
            .totals()
            .into_iter()
            .map(|(d, n)| (d.as_str(), n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_a_minute_per_door_with_the_count_since_the_last() {
        let r = Refusals::default();
        assert_eq!(r.count(Door::Token, 0), Some(1));
        for at in 1..1000 {
            assert_eq!(r.count(Door::Token, at), None);
        }
        assert_eq!(r.count(Door::Login, 500), Some(1), "each door on its own");
        assert_eq!(r.count(Door::Token, SAMPLE_EVERY), Some(1000));
        assert_eq!(r.totals(), vec![(Door::Token, 1001), (Door::Login, 1)]);
    }
}
