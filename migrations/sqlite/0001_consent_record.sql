-- Flags are BIGINT 0/1: the one boolean shape both backends read the same way.
-- The consent record. Ids are text UUIDs, times BIGINT milliseconds since the epoch.

CREATE TABLE catalogue_versions (
    version      BIGINT PRIMARY KEY,
    document     TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE organisations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    org_number TEXT NOT NULL UNIQUE,
    org_type   TEXT NOT NULL,
    enabled    BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at BIGINT NOT NULL
);

CREATE TABLE networks (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    school_id  TEXT NOT NULL REFERENCES organisations (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE network_members (
    network_id TEXT NOT NULL REFERENCES networks (id),
    org_id     TEXT NOT NULL REFERENCES organisations (id),
    PRIMARY KEY (network_id, org_id)
);

CREATE TABLE templates (
    id           TEXT PRIMARY KEY,
    key          TEXT NOT NULL,
    version      BIGINT NOT NULL,
    title_nb     TEXT NOT NULL,
    title_nn     TEXT NOT NULL,
    title_en     TEXT NOT NULL,
    body_nb      TEXT NOT NULL,
    body_nn      TEXT NOT NULL,
    body_en      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    content_hash TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    published_at BIGINT,
    UNIQUE (key, version)
);

-- A published template is what pupils signed: it never changes again.
CREATE TRIGGER templates_published_immutable
BEFORE UPDATE ON templates
WHEN OLD.status = 'published'
BEGIN
    SELECT RAISE(ABORT, 'published templates are immutable');
END;

CREATE TRIGGER templates_no_delete
BEFORE DELETE ON templates
WHEN OLD.status = 'published'
BEGIN
    SELECT RAISE(ABORT, 'published templates are immutable');
END;

-- No identity number in clear: a keyed hash for lookup and the number sealed under
-- a per-pupil data key. Erasure clears lookup_hash, sealed_identity and wrapped_key.
CREATE TABLE pupils (
    id              TEXT PRIMARY KEY,
    lookup_hash     BLOB UNIQUE,
    sealed_identity BLOB,
    wrapped_key     BLOB,
    kek_id          TEXT,
    created_at      BIGINT NOT NULL,
    erased_at       BIGINT
);

CREATE TABLE consents (
    id            TEXT PRIMARY KEY,
    pupil_id      TEXT NOT NULL REFERENCES pupils (id),
    network_id    TEXT NOT NULL REFERENCES networks (id),
    template_id   TEXT NOT NULL REFERENCES templates (id),
    template_hash TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    valid_from    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    signed_at     BIGINT NOT NULL,
    acr           TEXT NOT NULL,
    amr           TEXT NOT NULL,
    session_ref   TEXT NOT NULL,
    -- The pupil's age when signing: the age rules are checked against it at every decision.
    age_at_signing BIGINT NOT NULL,
    ended_at      BIGINT
);
CREATE INDEX consents_by_pupil ON consents (pupil_id);

CREATE TABLE consent_grants (
    id           TEXT PRIMARY KEY,
    consent_id   TEXT NOT NULL REFERENCES consents (id),
    org_id       TEXT NOT NULL REFERENCES organisations (id),
    category     TEXT NOT NULL,
    legal_basis  TEXT NOT NULL,
    granted_at   BIGINT NOT NULL,
    withdrawn_at BIGINT
);
CREATE INDEX consent_grants_by_consent ON consent_grants (consent_id);

-- A grant is withdrawn once; it is never deleted or changed otherwise.
CREATE TRIGGER consent_grants_withdraw_only
BEFORE UPDATE ON consent_grants
WHEN OLD.withdrawn_at IS NOT NULL
  OR NEW.id <> OLD.id OR NEW.consent_id <> OLD.consent_id OR NEW.org_id <> OLD.org_id
  OR NEW.category <> OLD.category OR NEW.legal_basis <> OLD.legal_basis
  OR NEW.granted_at <> OLD.granted_at
BEGIN
    SELECT RAISE(ABORT, 'grants are only ever withdrawn');
END;

CREATE TRIGGER consent_grants_no_delete
BEFORE DELETE ON consent_grants
BEGIN
    SELECT RAISE(ABORT, 'grants are never deleted');
END;

-- The history: appended, never rewritten.
CREATE TABLE consent_events (
    id         TEXT PRIMARY KEY,
    consent_id TEXT NOT NULL REFERENCES consents (id),
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    at         BIGINT NOT NULL,
    added      TEXT NOT NULL,
    removed    TEXT NOT NULL,
    -- How the pupil proved who they were for a change they signed (JSON), if any.
    evidence   TEXT,
    UNIQUE (consent_id, seq)
);

CREATE TRIGGER consent_events_no_update
BEFORE UPDATE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent events are append-only');
END;

CREATE TRIGGER consent_events_no_delete
BEFORE DELETE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent events are append-only');
END;

CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL UNIQUE,
    org_id      TEXT NOT NULL REFERENCES organisations (id),
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    jwks        TEXT,
    jwks_uri    TEXT,
    webhook_url TEXT,
    enabled     BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  BIGINT NOT NULL
);

-- Admin credentials: only the SHA-256 of each bearer token.
CREATE TABLE admin_tokens (
    id           TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
