-- Guardians and protective exceptions (the same in both dialects).

-- The guardian's side of a grant the pupil could not give alone (no row: the pupil
-- decided alone). The grant counts only while this says a checked guardian
-- co-signed or a protective exception stands, and only before `adult_at` (the
-- birthday from which the pupil decides alone), unless the pupil confirmed it.
CREATE TABLE guardian_parts (
    grant_id      TEXT PRIMARY KEY REFERENCES consent_grants (id),
    state         TEXT NOT NULL CHECK (state IN ('pending', 'awaiting_check', 'signed',
                      'declined', 'excepted', 'confirmed', 'lapsed')),
    adult_at      BIGINT NOT NULL,
    changed_at    BIGINT NOT NULL,
    -- Who co-signed (keyed hash of their number), once one did.
    guardian_hash TEXT
);
-- The coming-of-age job reads only what is due.
CREATE INDEX guardian_parts_due ON guardian_parts (state, adult_at);

-- An invitation to a guardian: the code is shown once and kept as a hash; single
-- use, bound to one pupil, one guardian (keyed hash) and the grants it names.
CREATE TABLE guardian_invitations (
    id            TEXT PRIMARY KEY,
    pupil_id      TEXT NOT NULL,
    consent_id    TEXT NOT NULL REFERENCES consents (id),
    grant_ids     TEXT NOT NULL,
    guardian_hash TEXT NOT NULL,
    -- What the pupil calls them ("Mamma"), sealed under the pupil's key.
    label         BYTEA,
    code_hash     TEXT NOT NULL UNIQUE,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT,
    outcome       TEXT CHECK (outcome IN ('signed', 'declined', 'cancelled'))
);
CREATE INDEX guardian_invitations_by_pupil ON guardian_invitations (pupil_id);
CREATE INDEX guardian_invitations_by_guardian ON guardian_invitations (guardian_hash);

-- Parental responsibility, confirmed for one pupil and one guardian: by the tutor
-- today (`source` = 'tutor'); a population-register look-up can write here later.
CREATE TABLE guardian_checks (
    pupil_id      TEXT NOT NULL,
    guardian_hash TEXT NOT NULL,
    source        TEXT NOT NULL,
    confirmed_by  TEXT NOT NULL,
    confirmed_at  BIGINT NOT NULL,
    PRIMARY KEY (pupil_id, guardian_hash)
);

-- A grant decided without a guardian because involving one could harm the pupil.
CREATE TABLE protective_exceptions (
    id          TEXT PRIMARY KEY,
    pupil_id    TEXT NOT NULL,
    grant_id    TEXT NOT NULL UNIQUE REFERENCES consent_grants (id),
    -- A key of policies/protective_exceptions.toml, and its provision as it read.
    ground      TEXT NOT NULL,
    provision   TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    reviewed_by TEXT,
    reviewed_at BIGINT,
    review      TEXT CHECK (review IN ('upheld', 'questioned'))
);
CREATE INDEX protective_exceptions_by_review ON protective_exceptions (reviewed_at, recorded_at);
