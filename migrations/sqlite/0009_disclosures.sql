-- A grant is a disclosure: who may tell (the NAV tutor, or an organisation or a
-- role in it), who may be told (an organisation or a role in it, or the tutor), and
-- what. Grants given before this (the `legacy` ones) named only the recipient: the
-- tutor told them, and the data holder a partner may ask is decided as then.
-- SQLite cannot drop NOT NULL from `org_id` (now empty when the tutor is told), so
-- the table is rebuilt, with its rows, its index and its append-only triggers.
CREATE TABLE consent_grants_v2 (
    id               TEXT PRIMARY KEY,
    consent_id       TEXT NOT NULL REFERENCES consents (id),
    -- The recipient: an organisation (`org_id`, `role`) or the tutor.
    recipient_kind   TEXT NOT NULL CHECK (recipient_kind IN ('org', 'tutor')),
    org_id           TEXT REFERENCES organisations (id),
    role             TEXT,
    -- The discloser: the tutor, or an organisation (`discloser_org_id`, `discloser_role`).
    discloser_kind   TEXT NOT NULL CHECK (discloser_kind IN ('org', 'tutor')),
    discloser_org_id TEXT REFERENCES organisations (id),
    discloser_role   TEXT,
    category         TEXT NOT NULL,
    -- The recipient's processing basis, in words (all grants), and as JSON with the
    -- Art. 9 condition and the confidentiality provision the consent lifts (new ones).
    legal_basis      TEXT NOT NULL,
    basis            TEXT,
    -- The pupil's age when this grant was given: age rules are checked against it.
    age_at_grant     BIGINT NOT NULL,
    legacy           BIGINT NOT NULL DEFAULT 0 CHECK (legacy IN (0, 1)),
    granted_at       BIGINT NOT NULL,
    withdrawn_at     BIGINT,
    CHECK ((recipient_kind = 'org') = (org_id IS NOT NULL)),
    CHECK ((discloser_kind = 'org') = (discloser_org_id IS NOT NULL)),
    CHECK (recipient_kind = 'org' OR role IS NULL),
    CHECK (discloser_kind = 'org' OR discloser_role IS NULL),
    CHECK (legacy = 0 OR discloser_kind = 'tutor')
);

INSERT INTO consent_grants_v2 (id, consent_id, recipient_kind, org_id, role, discloser_kind,
    discloser_org_id, discloser_role, category, legal_basis, basis, age_at_grant, legacy,
    granted_at, withdrawn_at)
SELECT g.id, g.consent_id, 'org', g.org_id, NULL, 'tutor', NULL, NULL, g.category,
    g.legal_basis, NULL, c.age_at_signing, 1, g.granted_at, g.withdrawn_at
FROM consent_grants g JOIN consents c ON c.id = g.consent_id;

DROP TRIGGER consent_grants_withdraw_only;
DROP TRIGGER consent_grants_no_delete;
DROP TABLE consent_grants;
ALTER TABLE consent_grants_v2 RENAME TO consent_grants;
CREATE INDEX consent_grants_by_consent ON consent_grants (consent_id);

-- A grant is withdrawn once; it is never deleted or changed otherwise (but for the
-- age of a legacy grant, raised once at start to the age it was given at).
CREATE TRIGGER consent_grants_withdraw_only
BEFORE UPDATE ON consent_grants
WHEN OLD.withdrawn_at IS NOT NULL
  OR NEW.id IS NOT OLD.id OR NEW.consent_id IS NOT OLD.consent_id
  OR NEW.recipient_kind IS NOT OLD.recipient_kind OR NEW.org_id IS NOT OLD.org_id
  OR NEW.role IS NOT OLD.role OR NEW.discloser_kind IS NOT OLD.discloser_kind
  OR NEW.discloser_org_id IS NOT OLD.discloser_org_id OR NEW.discloser_role IS NOT OLD.discloser_role
  OR NEW.category IS NOT OLD.category OR NEW.legal_basis IS NOT OLD.legal_basis
  OR NEW.basis IS NOT OLD.basis OR NEW.legacy IS NOT OLD.legacy
  OR NEW.granted_at IS NOT OLD.granted_at
  -- A legacy grant's age may be raised once to the age it was really given at.
  OR (NEW.age_at_grant IS NOT OLD.age_at_grant
      AND NOT (OLD.legacy = 1 AND NEW.age_at_grant > OLD.age_at_grant))
BEGIN
    SELECT RAISE(ABORT, 'grants are only ever withdrawn');
END;

CREATE TRIGGER consent_grants_no_delete
BEFORE DELETE ON consent_grants
BEGIN
    SELECT RAISE(ABORT, 'grants are never deleted');
END;

-- Where the pupil lives decides which municipality's child welfare, NAV office and
-- health services are theirs (a pupil may live away from home).
ALTER TABLE organisations ADD COLUMN municipality TEXT;
ALTER TABLE consents ADD COLUMN home_municipality TEXT;

-- Each network's agreement names who is responsible and how to reach the data
-- protection officer, and which agreement text its pupils read.
ALTER TABLE networks ADD COLUMN controller TEXT;
ALTER TABLE networks ADD COLUMN dpo TEXT;
ALTER TABLE networks ADD COLUMN template_key TEXT;
