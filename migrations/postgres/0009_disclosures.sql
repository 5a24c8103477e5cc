-- A grant is a disclosure: who may tell (the NAV tutor, or an organisation or a
-- role in it), who may be told (an organisation or a role in it, or the tutor), and
-- what. Grants given before this (the `legacy` ones) named only the recipient: the
-- tutor told them, and the data holder a partner may ask is decided as then.
ALTER TABLE consent_grants DISABLE TRIGGER consent_grants_withdraw_only;

ALTER TABLE consent_grants ALTER COLUMN org_id DROP NOT NULL;
ALTER TABLE consent_grants ADD COLUMN recipient_kind TEXT NOT NULL DEFAULT 'org'
    CHECK (recipient_kind IN ('org', 'tutor'));
ALTER TABLE consent_grants ADD COLUMN role TEXT;
ALTER TABLE consent_grants ADD COLUMN discloser_kind TEXT NOT NULL DEFAULT 'tutor'
    CHECK (discloser_kind IN ('org', 'tutor'));
ALTER TABLE consent_grants ADD COLUMN discloser_org_id TEXT REFERENCES organisations (id);
ALTER TABLE consent_grants ADD COLUMN discloser_role TEXT;
ALTER TABLE consent_grants ADD COLUMN basis TEXT;
ALTER TABLE consent_grants ADD COLUMN age_at_grant BIGINT;
ALTER TABLE consent_grants ADD COLUMN legacy BIGINT NOT NULL DEFAULT 0 CHECK (legacy IN (0, 1));

UPDATE consent_grants g SET age_at_grant = c.age_at_signing, legacy = 1
FROM consents c WHERE c.id = g.consent_id;
ALTER TABLE consent_grants ALTER COLUMN age_at_grant SET NOT NULL;
ALTER TABLE consent_grants ALTER COLUMN recipient_kind DROP DEFAULT;
ALTER TABLE consent_grants ALTER COLUMN discloser_kind DROP DEFAULT;
ALTER TABLE consent_grants ADD CHECK ((recipient_kind = 'org') = (org_id IS NOT NULL));
ALTER TABLE consent_grants ADD CHECK ((discloser_kind = 'org') = (discloser_org_id IS NOT NULL));
ALTER TABLE consent_grants ADD CHECK (recipient_kind = 'org' OR role IS NULL);
ALTER TABLE consent_grants ADD CHECK (discloser_kind = 'org' OR discloser_role IS NULL);
ALTER TABLE consent_grants ADD CHECK (legacy = 0 OR discloser_kind = 'tutor');

-- A grant is withdrawn once; it is never deleted or changed otherwise (but for the
-- age of a legacy grant, raised once at start to the age it was given at).
DROP TRIGGER consent_grants_withdraw_only ON consent_grants;
CREATE TRIGGER consent_grants_withdraw_only
BEFORE UPDATE ON consent_grants
FOR EACH ROW WHEN (
    OLD.withdrawn_at IS NOT NULL
    OR (NEW.id, NEW.consent_id, NEW.recipient_kind, NEW.org_id, NEW.role, NEW.discloser_kind,
        NEW.discloser_org_id, NEW.discloser_role, NEW.category, NEW.legal_basis, NEW.basis,
        NEW.legacy, NEW.granted_at)
       IS DISTINCT FROM (OLD.id, OLD.consent_id, OLD.recipient_kind, OLD.org_id, OLD.role,
        OLD.discloser_kind, OLD.discloser_org_id, OLD.discloser_role, OLD.category,
        OLD.legal_basis, OLD.basis, OLD.legacy, OLD.granted_at)
    -- A legacy grant's age may be raised once to the age it was really given at.
    OR (NEW.age_at_grant IS DISTINCT FROM OLD.age_at_grant
        AND NOT (OLD.legacy = 1 AND NEW.age_at_grant > OLD.age_at_grant))
)
EXECUTE FUNCTION samtykke_refuse('grants are only ever withdrawn');

-- Where the pupil lives decides which municipality's child welfare, NAV office and
-- health services are theirs (a pupil may live away from home).
ALTER TABLE organisations ADD COLUMN municipality TEXT;
ALTER TABLE consents ADD COLUMN home_municipality TEXT;

-- Each network's agreement names who is responsible and how to reach the data
-- protection officer, and which agreement text its pupils read.
ALTER TABLE networks ADD COLUMN controller TEXT;
ALTER TABLE networks ADD COLUMN dpo TEXT;
ALTER TABLE networks ADD COLUMN template_key TEXT;
