-- The start-up check for grants added to legacy consents after they were signed
-- (`legacy_grants_added_later`) reads only legacy grants, not every grant.
CREATE INDEX consent_grants_legacy ON consent_grants (consent_id) WHERE legacy = 1;
