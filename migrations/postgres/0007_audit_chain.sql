-- The tamper-evident audit log: every entry carries the SHA-256 of the previous
-- entry's hash and its own canonical body, so changing, removing or reordering any
-- entry breaks every hash after it. `audit_head` is the one row every appending
-- transaction locks: several instances on one database still write one order.
CREATE TABLE audit_log (
    seq      BIGINT PRIMARY KEY,
    at       BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    actor    TEXT NOT NULL,
    pupil_id TEXT,
    -- Copied out of the body for searching; the body is what is hashed.
    org_id   TEXT,
    category TEXT,
    outcome  TEXT,
    reason   TEXT,
    body     TEXT NOT NULL,
    hash     TEXT NOT NULL
);
CREATE INDEX audit_log_by_pupil ON audit_log (pupil_id, seq);
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE INDEX audit_log_by_org ON audit_log (org_id, seq);

-- Staff of the compliance console: roles by the keyed hash of the identity number.
CREATE TABLE staff_roles (
    lookup_hash TEXT NOT NULL,
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (lookup_hash, role)
);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Signed statements of the chain's size and head hash.
CREATE TABLE audit_checkpoints (
    size      BIGINT PRIMARY KEY,
    head      TEXT NOT NULL,
    at        BIGINT NOT NULL,
    jws       TEXT NOT NULL
);

CREATE TRIGGER audit_log_append_only
BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION samtykke_refuse('the audit log is append-only');

CREATE TRIGGER audit_checkpoints_append_only
BEFORE UPDATE OR DELETE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION samtykke_refuse('checkpoints are append-only');
