//! The authorization server's operations: keys, token issuance narrowed by the
//! decision function, introspection that re-checks consent, revocation.

use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::policy::Who;
use super::settle::{Records, Settled};
use super::{Ask, OrgRef, PupilRef, Result, ServiceError, Services};
use crate::audit::event::{Introspected, Outcome};
use crate::audit::{Actor, Event, Record};
use crate::clock::DAY;
use crate::domain::client::PartnerClient;
use crate::domain::identity::IdentityNumber;
use crate::domain::org::OrgNumber;
use crate::domain::org::Organisation;
use crate::domain::Slug;
use crate::storage::{IssuedToken, KeyRow, ReadyEntry, StoreError};
use crate::tokens::assertion::Verified;
use crate::tokens::signing::{self, KeyRing};

/// How long samtykke's access tokens live, and how often its key rotates.
pub const ACCESS_TOKEN_MS: i64 = 120_000;
/// At most this many scopes in one token request (repeats counted): each is a
/// decision and an audit entry, so the work one request causes stays bounded.
pub const MAX_SCOPES: usize = 32;
pub const KEY_ROTATION_MS: i64 = 30 * DAY;

/// RFC 6749 §5.2 errors (and RFC 9396's `invalid_authorization_details`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    #[error("invalid_authorization_details: {0}")]
    InvalidDetails(String),
    /// RFC 9449 §5: the DPoP proof is not acceptable.
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpop(String),
    /// One answer for every reason nothing may be shared.
    #[error("access_denied")]
    AccessDenied,
    #[error("server_error")]
    Server,
    /// The database cannot be reached: 503, try again (never the caller's fault).
    #[error("temporarily_unavailable")]
    Unavailable,
    /// Past the client's or the address's rate: 429, wait this many seconds.
    #[error("slow_down")]
    SlowDown(u64),
}

impl From<ServiceError> for OAuthError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid { field, reason } => {
                Self::InvalidDetails(format!("{field}: {reason}"))
            }
            ServiceError::Forbidden(m) => Self::InvalidRequest(m.into()),
            ServiceError::Unauthenticated(m) => Self::InvalidClient(m.into()),
            ServiceError::Store(s) if s.is_unavailable() => {
                tracing::warn!(error = %s, "token request: the database cannot be reached");
                Self::Unavailable
            }
            other => {
                tracing::error!(error = %other, "token request failed");
                Self::Server
            }
        }
    }
}

/// An authenticated client: the verified assertion (its jti not yet used up) and
/// the request it came with.
pub struct ClientAuth<'a> {
    pub client: &'a PartnerClient,
    pub org: &'a Organisation,
    pub verified: &'a Verified,
    pub request_id: Option<String>,
}

/// The RFC 6749 error code, as recorded in the audit log.
pub fn error_code(e: &OAuthError) -> &'static str {
    match e {
        OAuthError::InvalidRequest(_) => "invalid_request",
        OAuthError::InvalidClient(_) => "invalid_client",
        OAuthError::UnsupportedGrantType => "unsupported_grant_type",
        OAuthError::InvalidScope(_) => "invalid_scope",
        OAuthError::InvalidDetails(_) => "invalid_authorization_details",
        OAuthError::InvalidDpop(_) => "invalid_dpop_proof",
        OAuthError::AccessDenied => "access_denied",
        OAuthError::Server => "server_error",
        OAuthError::Unavailable => "temporarily_unavailable",
        OAuthError::SlowDown(_) => "slow_down",
    }
}

/// The audit record of a token request; its time is set when it is written.
fn token_event(
    auth: &ClientAuth<'_>,
    pupil: Option<Uuid>,
    outcome: &str,
    reason: &str,
    detail: String,
) -> Record {
    Record::new(
        0,
        Actor::Client(auth.client.client_id.to_string()),
        pupil,
        Event::Token(Outcome::new(outcome, reason, detail)),
    )
    .with_request(auth.request_id.clone())
}

/// What the client asked for, parsed from the form.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub scopes: Vec<String>,
    pub pupil: IdentityNumber,
    pub purpose: String,
    /// The data holder's organisation number: the token's audience.
    pub audience: String,
    /// A verified DPoP proof: the token is bound to its key.
    pub dpop: Option<crate::tokens::dpop::Proof>,
}

/// A token issued: the response for the client, and what the audit log keeps.
#[derive(Debug, Clone)]
pub struct Issued {
    pub response: TokenResponse,
    pub pupil_id: Uuid,
    pub jti: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    pub authorization_details: Value,
}

fn key_context(kid: &str) -> Vec<u8> {
    let mut c = b"samtykke/signing-key/v1\0".to_vec();
    c.extend_from_slice(kid.as_bytes());
    c
}

impl Services {
    fn new_key(&self, kid: &str, active_from: i64) -> Result<KeyRow> {
        let k = signing::generate(kid.to_owned())
            .map_err(|e| ServiceError::invalid("signing_key", e))?;
        Ok(KeyRow {
            kid: k.kid,
            sealed_private: self.vault.wrap(&key_context(kid), &k.pkcs8)?,
            kek_id: self.vault.kek_id().to_owned(),
            public_jwk: k.public_jwk,
            active_from,
            retired_at: None,
        })
    }

    /// The signing keys partners verify tokens, events and checkpoints with: the
    /// current, the next and the recently retired (`/oauth/jwks`).
    pub fn jwks(&self) -> Value {
        self.keys.load().jwks().clone()
    }

    /// Makes sure a current and a next key exist, then loads the key ring.
    pub async fn load_keys(&self) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let keys = tx.keys_in_tx().await?;
        let live = |k: &&KeyRow| k.retired_at.is_none();
        if !keys.iter().filter(live).any(|k| k.active_from <= now) {
            tx.insert_key(
                &self.new_key(&Uuid::new_v4().simple().to_string(), now)?,
                now,
            )
            .await?;
        }
        if !keys.iter().filter(live).any(|k| k.active_from > now) {
            tx.insert_key(
                &self.new_key(&Uuid::new_v4().simple().to_string(), now + KEY_ROTATION_MS)?,
                now,
            )
            .await?;
        }
        // A key whose successor has become active retires at that moment; it stays
        // published for one token lifetime more.
        let mut active: Vec<&KeyRow> = keys
            .iter()
            .filter(live)
            .filter(|k| k.active_from <= now)
            .collect();
        active.sort_by_key(|k| k.active_from);
        for pair in active.windows(2) {
            tx.set_key_times(&pair[0].kid, pair[0].active_from, Some(pair[1].active_from))
                .await?;
        }
        tx.commit().await?;
        self.reload_keys().await
    }

    /// Rebuilds the key ring from the store: the newest active key signs; every key
    /// not retired, or retired less than a token lifetime ago, is published.
    pub async fn reload_keys(&self) -> Result<()> {
        let now = self.now();
        let keys = self.store.keys().await?;
        let signer = keys
            .iter()
            .filter(|k| k.retired_at.is_none() && k.active_from <= now)
            .max_by_key(|k| k.active_from);
        let der = match signer {
            Some(k) => Some((
                k.kid.clone(),
                self.vault.unwrap(&key_context(&k.kid), &k.sealed_private)?,
            )),
            None => None,
        };
        let published = keys
            .iter()
            .filter(|k| k.retired_at.is_none_or(|t| t + ACCESS_TOKEN_MS > now))
            .map(|k| k.public_jwk.clone())
            .collect();
        let ring = KeyRing::new(
            der.as_ref().map(|(kid, d)| (kid.clone(), d.as_slice())),
            published,
        )
        .map_err(|e| ServiceError::invalid("signing_key", e))?;
        self.keys.store(std::sync::Arc::new(ring));
        Ok(())
    }

    /// The next key takes over, the current one retires, and a new next key is made.
    pub async fn rotate_keys(&self, by: &Actor) -> Result<String> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let keys = tx.keys_in_tx().await?;
        for k in keys
            .iter()
            .filter(|k| k.retired_at.is_none() && k.active_from <= now)
        {
            tx.set_key_times(&k.kid, k.active_from, Some(now)).await?;
        }
        let next = keys
            .iter()
            .filter(|k| k.retired_at.is_none() && k.active_from > now)
            .min_by_key(|k| k.active_from);
        let kid = match next {
            Some(k) => {
                tx.set_key_times(&k.kid, now, None).await?;
                k.kid.clone()
            }
            None => {
                let k = self.new_key(&Uuid::new_v4().simple().to_string(), now)?;
                tx.insert_key(&k, now).await?;
                k.kid
            }
        };
        tx.insert_key(
            &self.new_key(&Uuid::new_v4().simple().to_string(), now + KEY_ROTATION_MS)?,
            now,
        )
        .await?;
        tx.notify(self.store.backend(), "keys").await?;
        tx.chain(&[self.operator(by, "keys", json!({ "action": "rotated", "signing": kid }))])
            .await?;
        tx.commit().await?;
        self.reload_keys().await?;
        Ok(kid)
    }

    /// Issues a token for exactly the part of the request the policy and the pupil's
    /// consent allow; `AccessDenied` (one answer for every reason) if nothing is.
    /// Whatever the outcome, the assertion's jti, the decisions, the token and the
    /// audit event are written in one transaction: one durable commit per request.
    pub async fn issue_token(
        &self,
        auth: &ClientAuth<'_>,
        req: &TokenRequest,
    ) -> Result<Issued, OAuthError> {
        let issuer = self.issuer.as_str();
        let asked = asked(auth.client, &req.scopes);
        let outcome = self.decide_token(auth, req, issuer).await;
        let (decisions, token, issued, reason) = match outcome {
            Ok((decisions, Some((token, issued)))) => {
                (decisions, Some(token), Some(issued), "allowed")
            }
            Ok((decisions, None)) => (decisions, None, None, "access_denied"),
            Err(e) => {
                self.settle(
                    auth,
                    req.dpop.as_ref(),
                    &[],
                    None,
                    token_event(auth, None, "refused", error_code(&e), asked),
                )
                .await?;
                return Err(e);
            }
        };
        let pupil = decisions.first().and_then(|d| d.pupil);
        let (outcome, detail) = match &issued {
            Some(i) => (
                "issued",
                format!("{asked}; granted: {}; jti {}", i.response.scope, i.jti),
            ),
            None => ("refused", asked),
        };
        self.settle(
            auth,
            req.dpop.as_ref(),
            &decisions,
            token.as_ref(),
            token_event(auth, pupil, outcome, reason, detail),
        )
        .await?;
        issued.ok_or(OAuthError::AccessDenied)
    }

    /// Decides every scope; returns the decisions and, if anything is allowed, the
    /// signed token. Writes nothing.
    async fn decide_token(
        &self,
        auth: &ClientAuth<'_>,
        req: &TokenRequest,
        issuer: &str,
    ) -> Result<(Vec<Record>, Option<(IssuedToken, Issued)>), OAuthError> {
        let client = auth.client;
        let scopes = distinct_scopes(&req.scopes)?;
        if let Some(s) = scopes
            .iter()
            .find(|s| !client.scopes.iter().any(|c| c == **s))
        {
            return Err(OAuthError::InvalidScope(format!(
                "{s} is not registered for this client"
            )));
        }
        let holder = OrgNumber::parse(&req.audience)
            .map_err(|e| OAuthError::InvalidDetails(format!("audience: {e}")))?;
        let directory = self.directory().await?;
        let holder = directory
            .org_by_number(holder.as_str())
            .filter(|o| o.enabled)
            .cloned()
            .ok_or_else(|| OAuthError::InvalidDetails("audience: no such data holder".into()))?;
        let holder_school_of = directory.school_of(holder.id);
        let pupil = self.indexed_by_number(&req.pupil).await?;
        let caller = Actor::Client(client.client_id.to_string());
        let mut decisions = Vec::with_capacity(scopes.len());
        let mut granted = Vec::new();
        // Per category: whether the pupil's consent or a duty in law lets it be told.
        let mut basis = serde_json::Map::new();
        for scope in scopes {
            let (category, action) = scope_parts(scope)?;
            let ask = Ask {
                org: OrgRef::Id(client.org_id),
                pupil: PupilRef::Identity(req.pupil.clone()),
                category: category.to_owned(),
                action: action.to_owned(),
                purpose: req.purpose.clone(),
                holder: None,
            };
            let answer = self.decide_for(
                &caller,
                Who::Org(auth.org, None),
                directory.member_of(auth.org.id),
                &pupil,
                &ask,
                auth.request_id.clone(),
                Some((Who::Org(&holder, None), holder_school_of)),
            )?;
            if answer.decision.allowed {
                granted.push(scope.to_owned());
                basis.insert(category.to_owned(), json!(basis_of(&answer.decision)));
            }
            decisions.push(answer.record);
        }
        let (Some(pupil_id), false) = (pupil.id(), granted.is_empty()) else {
            return Ok((decisions, None));
        };
        let now = self.now();
        let jti = Uuid::new_v4().to_string();
        let pseudonym = self
            .vault
            .pairwise(client.org_id.as_bytes(), pupil_id.as_bytes());
        let details = json!([{
            "type": "pupil_data", "pupil": pseudonym, "purpose": req.purpose,
            "audience": holder.number, "discloser": holder.number, "basis": basis,
        }]);
        let mut claims = json!({
            "iss": issuer, "sub": client.client_id, "aud": holder.number, "client_id": client.client_id,
            "iat": now / 1000, "exp": (now + ACCESS_TOKEN_MS) / 1000, "jti": jti,
            "scope": granted.join(" "), "authorization_details": details,
        });
        if let Some(p) = &req.dpop {
            claims["cnf"] = json!({ "jkt": p.jkt });
        }
        let token = self
            .keys
            .load()
            .sign("at+jwt", &claims)
            .map_err(|_| OAuthError::Server)?;
        let record = IssuedToken {
            jti: jti.clone(),
            client_id: client.client_id.to_string(),
            org_id: client.org_id,
            pupil_id,
            audience: holder.number.to_string(),
            purpose: req.purpose.clone(),
            scopes: granted.clone(),
            issued_at: now,
            expires_at: now + ACCESS_TOKEN_MS,
            revoked_at: None,
        };
        let issued = Issued {
            response: TokenResponse {
                access_token: token,
                token_type: if req.dpop.is_some() { "DPoP" } else { "Bearer" },
                expires_in: ACCESS_TOKEN_MS / 1000,
                scope: granted.join(" "),
                authorization_details: details,
            },
            pupil_id,
            jti,
        };
        Ok((decisions, Some((record, issued))))
    }

    /// Writes a token request's records durably, in one transaction shared with
    /// the requests that arrived meanwhile (group commit). A jti seen before writes
    /// nothing but the refusal and is refused as a replay.
    async fn settle(
        &self,
        auth: &ClientAuth<'_>,
        dpop: Option<&crate::tokens::dpop::Proof>,
        decisions: &[Record],
        token: Option<&IssuedToken>,
        event: Record,
    ) -> Result<(), OAuthError> {
        let now = self.now();
        let stamped = |mut r: Record| {
            r.at = now;
            ReadyEntry::from(&r.entry())
        };
        let v = auth.verified;
        let client = auth.client.client_id.to_string();
        let mut once = vec![(client.clone(), v.jti.clone(), v.expires_at)];
        let mut replay_entries = vec![stamped(token_event(
            auth,
            None,
            "refused",
            "invalid_client",
            "replayed assertion".into(),
        ))];
        if let Some(p) = dpop {
            once.push((format!("dpop:{client}"), p.jti.clone(), p.expires_at));
            replay_entries.push(stamped(token_event(
                auth,
                None,
                "refused",
                "invalid_dpop_proof",
                "replayed DPoP proof".into(),
            )));
        }
        let entries = decisions
            .iter()
            .cloned()
            .chain([event])
            .map(stamped)
            .collect();
        let records = Records {
            once,
            token: token.cloned(),
            entries,
            replay_entries,
        };
        match self.settler.settle(&self.store, records).await {
            Ok(Settled::Written) => Ok(()),
            Ok(Settled::Replayed(0)) => Err(OAuthError::InvalidClient(
                "the assertion's jti was used before".into(),
            )),
            Ok(Settled::Replayed(_)) => Err(OAuthError::InvalidDpop(
                "the proof's jti was used before".into(),
            )),
            Err(e) => {
                // Nothing was issued; the caller may try again.
                tracing::error!(error = %e, "token request not recorded");
                Err(OAuthError::Unavailable)
            }
        }
    }

    /// RFC 7662: active only if samtykke signed it, it has not expired or been
    /// revoked, and the consent behind every scope still lets the audience data
    /// holder hand it to the token's organisation. Only the client it was issued to
    /// and the audience data holder may ask; the data holder alone learns which
    /// pupil it is about. Every answer is recorded before it is given, with the
    /// re-decisions, in one commit; a data holder's introspection is on the pupil's
    /// access page.
    pub async fn introspect(
        &self,
        caller: &PartnerClient,
        verified: &Verified,
        token: &str,
        request_id: Option<String>,
    ) -> Result<Value> {
        let (answer, mut records, mut event, pupil) =
            self.introspection(caller, token, &request_id).await?;
        event.outcome = if answer["active"] == true {
            "active"
        } else {
            "inactive"
        }
        .into();
        let actor = Actor::Client(caller.client_id.to_string());
        records.push(
            Record::new(self.now(), actor, pupil, Event::Introspection(event))
                .with_request(request_id.clone()),
        );
        // Fail closed: an introspection that cannot be recorded is not answered.
        let entries = records
            .iter()
            .map(|r| ReadyEntry::from(&r.entry()))
            .collect();
        let replayed = refusal_event(
            Endpoint::Introspection,
            Outcome::new("refused", "invalid_client", "replayed assertion"),
        );
        self.settle_once(caller, verified, entries, replayed, request_id)
            .await?;
        Ok(answer)
    }

    /// The answer to an introspection, the re-decisions behind it, and what the
    /// log keeps of it (its outcome is set from the answer); writes nothing.
    async fn introspection(
        &self,
        caller: &PartnerClient,
        token: &str,
        request_id: &Option<String>,
    ) -> Result<(Value, Vec<Record>, Introspected, Option<Uuid>)> {
        let inactive = json!({ "active": false });
        let mut event = Introspected {
            event: Uuid::new_v4(),
            outcome: String::new(),
            reason: "unknown_token".into(),
            detail: String::new(),
            org: Some(caller.org_id),
            recipient: None,
            holder: false,
            purpose: None,
            categories: Vec::new(),
        };
        let issued = match self.keys.load().verify(token, "at+jwt") {
            Ok(claims) => match claims.get("jti").and_then(Value::as_str) {
                Some(jti) => match self.store.token(jti).await {
                    Ok(t) => Some((claims, t)),
                    Err(StoreError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                },
                None => None,
            },
            Err(_) => None,
        };
        let Some((claims, issued)) = issued else {
            return Ok((inactive, vec![], event, None));
        };
        let directory = self.directory().await?;
        let caller_org = directory
            .org(caller.org_id)
            .ok_or(ServiceError::NotFound("organisation"))?;
        let is_holder = caller_org.number.as_str() == issued.audience;
        if !is_holder && caller.client_id.as_str() != issued.client_id {
            // A stranger to the token learns nothing, and nothing of the pupil is kept.
            event.reason = "not_a_party".into();
            return Ok((inactive, vec![], event, None));
        }
        event.detail = format!("jti {}", issued.jti);
        event.recipient = Some(issued.org_id);
        event.holder = is_holder;
        event.purpose = Some(issued.purpose.clone());
        event.categories = issued
            .scopes
            .iter()
            .filter_map(|s| scope_parts(s).ok())
            .map(|(c, _)| c.to_owned())
            .collect();
        let pupil = Some(issued.pupil_id);
        let now = self.now();
        let ended = if issued.revoked_at.is_some() {
            Some("revoked")
        } else if now >= issued.expires_at {
            Some("expired")
        } else if self.store.pupil(issued.pupil_id).await?.erased_at.is_some() {
            Some("erased")
        } else {
            None
        };
        if let Some(reason) = ended {
            event.reason = reason.into();
            return Ok((inactive, vec![], event, pupil));
        }
        // A client turned off takes its tokens with it.
        let client_on = crate::domain::client::ClientId::parse(&issued.client_id)
            .ok()
            .and_then(|id| directory.client(&id))
            .is_some_and(|c| c.enabled);
        if !client_on {
            event.reason = "client_disabled".into();
            return Ok((inactive, vec![], event, pupil));
        }
        // The consent must still allow every scope the token carries, from the
        // audience data holder to the token's organisation.
        let (Some(org), Some(holder)) = (
            directory.org(issued.org_id),
            directory.org_by_number(&issued.audience),
        ) else {
            event.reason = "organisation_gone".into();
            return Ok((inactive, vec![], event, pupil));
        };
        let actor = Actor::Introspection(caller.client_id.to_string());
        let mut records = Vec::with_capacity(issued.scopes.len());
        let mut allowed = true;
        let catalogue = self.catalogue();
        let mut bases = serde_json::Map::new();
        let indexed = self.indexed(pupil).await?;
        for scope in &issued.scopes {
            let Ok((category, action)) = scope_parts(scope) else {
                allowed = false;
                continue;
            };
            let ask = Ask {
                org: OrgRef::Id(issued.org_id),
                pupil: PupilRef::Id(issued.pupil_id),
                category: category.to_owned(),
                action: action.to_owned(),
                purpose: issued.purpose.clone(),
                holder: None,
            };
            let answer = self.decide_for(
                &actor,
                Who::Org(org, None),
                directory.member_of(org.id),
                &indexed,
                &ask,
                request_id.clone(),
                Some((Who::Org(holder, None), directory.school_of(holder.id))),
            )?;
            allowed &= answer.decision.allowed;
            // In words: the provision of a flow in law; for consent, the secrecy the
            // pupil lifted for the holder, and the Art. 9 condition of a special category.
            let d = &answer.decision;
            let lifts = catalogue
                .org_type(&holder.org_type)
                .map(|t| &t.confidentiality);
            let special = Slug::parse(category)
                .ok()
                .and_then(|c| catalogue.category(&c).and_then(|c| c.special.clone()));
            bases.insert(
                category.to_owned(),
                match &d.provision {
                    Some(p) => json!({ "basis": basis_of(d), "provision": p }),
                    None => json!({ "basis": basis_of(d), "lifts": lifts, "special": special }),
                },
            );
            records.push(answer.record);
        }
        if !allowed {
            event.reason = "not_allowed".into();
            return Ok((inactive, records, event, pupil));
        }
        event.reason = "active".into();
        let mut out = claims;
        out["active"] = json!(true);
        out["discloser"] = json!(holder.number);
        out["legal_basis"] = json!(bases);
        let bound = out.get("cnf").is_some();
        out["token_type"] = json!(if bound { "DPoP" } else { "Bearer" });
        if is_holder {
            // The data holder serves the pupil's data, so it needs to know who it is.
            let identity = self.pupil_identity(issued.pupil_id).await?;
            out["pupil_identity_number"] = json!(identity.expose_digits());
        }
        Ok((out, records, event, pupil))
    }

    /// RFC 7009: the client it was issued to may revoke it; unknown tokens are fine.
    /// The request is recorded, with the pupil when the token was known.
    pub async fn revoke(
        &self,
        caller: &PartnerClient,
        token: &str,
        request_id: Option<String>,
    ) -> Result<()> {
        let actor = Actor::Client(caller.client_id.to_string());
        let record = |pupil, detail: String| {
            let event = Event::Revocation(Outcome::new("revoked", "requested", detail));
            Record::new(self.now(), actor.clone(), pupil, event)
                .with_request(request_id.clone())
                .entry()
        };
        let jti = self
            .keys
            .load()
            .verify(token, "at+jwt")
            .ok()
            .and_then(|c| c.get("jti").and_then(Value::as_str).map(str::to_owned));
        if let Some(jti) = jti {
            match self.store.token(&jti).await {
                Ok(issued) if issued.client_id == caller.client_id.as_str() => {
                    // The revocation and its record commit together.
                    let mut tx = self.store.write().await?;
                    tx.revoke_token(&jti, self.now()).await?;
                    tx.chain(&[record(Some(issued.pupil_id), format!("jti {jti}"))])
                        .await?;
                    return Ok(tx.commit().await?);
                }
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Not a token of this client's: nothing changes, and the request is logged.
        self.log(vec![record(None, String::new())]).await
    }
}

/// Which endpoint of the authorization server a refused request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Introspection,
    Revocation,
}

impl Services {
    /// Records a request the authorization server refused before it reached an
    /// operation (no client, a bad form); fail closed like every record. A caller
    /// who never authenticated is counted and sampled (`refusals.rs`).
    pub async fn record_refusal(
        &self,
        endpoint: Endpoint,
        actor: Actor,
        reason: &str,
        detail: String,
        request_id: Option<String>,
    ) -> Result<()> {
        if matches!(actor, Actor::Unauthenticated) {
            return self
                .refused_anonymously(endpoint.into(), reason, request_id)
                .await;
        }
        let outcome = Outcome::new("refused", reason, detail);
        let record = Record::new(self.now(), actor, None, refusal_event(endpoint, outcome))
            .with_request(request_id);
        self.log(vec![record.entry()]).await
    }
}

/// The chain's event for a refusal at `endpoint`.
pub(super) fn refusal_event(endpoint: Endpoint, outcome: Outcome) -> Event {
    {
        match endpoint {
            Endpoint::Token => Event::Token(outcome),
            Endpoint::Introspection => Event::Introspection(Introspected {
                event: outcome.event,
                outcome: outcome.outcome,
                reason: outcome.reason,
                detail: outcome.detail,
                org: None,
                recipient: None,
                holder: false,
                purpose: None,
                categories: Vec::new(),
            }),
            Endpoint::Revocation => Event::Revocation(outcome),
        }
    }
}

/// Whether a decision that allowed rests on the pupil's consent or on a duty in law.
fn basis_of(d: &crate::policy::decide::Decision) -> &'static str {
    if d.reason == crate::policy::decide::Reason::Statutory {
        "law"
    } else {
        "consent"
    }
}

/// The requested scopes without repeats, in the order asked; at most
/// `MAX_SCOPES` (repeats counted) and at least one.
fn distinct_scopes(asked: &[String]) -> Result<Vec<&str>, OAuthError> {
    if asked.is_empty() {
        return Err(OAuthError::InvalidScope(
            "ask for at least one scope".into(),
        ));
    }
    if asked.len() > MAX_SCOPES {
        return Err(OAuthError::InvalidScope(format!(
            "ask for at most {MAX_SCOPES} scopes"
        )));
    }
    let mut out: Vec<&str> = Vec::with_capacity(asked.len());
    for s in asked {
        if !out.contains(&s.as_str()) {
            out.push(s);
        }
    }
    Ok(out)
}

/// `pupil:<category>:<action>` split into its category and action.
fn scope_parts(scope: &str) -> Result<(&str, &str), OAuthError> {
    let mut parts = scope.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("pupil"), Some(category), Some(action), None) => Ok((category, action)),
        _ => Err(OAuthError::InvalidScope(scope.to_owned())),
    }
}

/// What the audit log keeps of the scopes asked for: those registered for the
/// client, and only a count of anything else (caller-chosen text is not kept).
pub fn asked(client: &PartnerClient, scopes: &[String]) -> String {
    let mut known: Vec<&str> = Vec::new();
    let mut other = 0usize;
    for s in scopes {
        if client.scopes.contains(s) {
            if !known.contains(&s.as_str()) {
                known.push(s);
            }
        } else {
            other += 1;
        }
    }
    let mut text = format!("asked: {}", known.join(" "));
    if other > 0 {
        text.push_str(&format!(" (and {other} not registered)"));
    }
    text
}
