-- Decisions, runtime policy rules and client-assertion replay protection.

-- Every decision, for the audit log and the pupil's "who has looked" page.
CREATE TABLE decisions (
    id            TEXT PRIMARY KEY,
    at            BIGINT NOT NULL,
    caller        TEXT NOT NULL,
    org_id        TEXT NOT NULL,
    pupil_id      TEXT,
    category      TEXT NOT NULL,
    action        TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    allowed       BIGINT NOT NULL CHECK (allowed IN (0, 1)),
    reason        TEXT NOT NULL,
    baseline_rule TEXT,
    consent_id    TEXT,
    request_id    TEXT
);
CREATE INDEX decisions_by_pupil ON decisions (pupil_id, at);

CREATE TRIGGER decisions_no_update
BEFORE UPDATE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'decisions are append-only');
END;

CREATE TRIGGER decisions_no_delete
BEFORE DELETE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'decisions are append-only');
END;

-- Baseline rules added at run time through the admin API, on top of policies/.
CREATE TABLE policy_rules (
    id         TEXT PRIMARY KEY,
    org_type   TEXT NOT NULL,
    category   TEXT NOT NULL,
    action     TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    effect     TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A client assertion's jti is used once within its lifetime, on every instance.
CREATE TABLE assertion_jtis (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
