-- The NAV tutor's workspace. Tutors are staff (keyed hash of their number, as in
-- staff_roles) working in school networks; the pupils they follow up, the
-- invitations they send, the paper consents they record and the teams they meet.
-- What names a pupil (a nickname, a scanned form) is sealed under the pupil's
-- data key, so erasure shreds it with the pupil.

-- A tutor in a network, under the name pupils choose them by (who they are at
-- that school, e.g. "Kari, NAV-veileder"); `id` is what a pupil's form names.
CREATE TABLE tutor_networks (
    id           TEXT NOT NULL UNIQUE,
    lookup_hash  TEXT NOT NULL,
    network_id   TEXT NOT NULL REFERENCES networks (id),
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (lookup_hash, network_id)
);

CREATE TABLE caseload (
    pupil_id   TEXT NOT NULL REFERENCES pupils (id),
    tutor_hash TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    nickname   BYTEA,
    added_at   BIGINT NOT NULL,
    -- The tutor has seen the pupil's changes up to this time.
    seen_at    BIGINT NOT NULL,
    ended_at   BIGINT,
    -- A refusal the tutor recorded (on paper or said aloud).
    refused_at BIGINT,
    PRIMARY KEY (pupil_id, tutor_hash)
);
CREATE INDEX caseload_by_tutor ON caseload (tutor_hash);

CREATE TABLE invitations (
    code_hash  TEXT PRIMARY KEY,
    pupil_id   TEXT NOT NULL REFERENCES pupils (id),
    tutor_hash TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

-- A paper consent, seen only by the tutor who recorded it (and the pupil); the
-- witness's name is sealed like the form.
CREATE TABLE paper_forms (
    consent_id   TEXT PRIMARY KEY REFERENCES consents (id),
    pupil_id     TEXT NOT NULL REFERENCES pupils (id),
    tutor_hash   TEXT NOT NULL,
    network_id   TEXT NOT NULL REFERENCES networks (id),
    form         BYTEA,
    form_sha256  TEXT NOT NULL,
    media_type   TEXT NOT NULL,
    witness      BYTEA,
    signed_on    TEXT NOT NULL,
    confirmed_at BIGINT
);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    tutor_hash TEXT NOT NULL,
    pupil_id   TEXT NOT NULL REFERENCES pupils (id),
    name       TEXT NOT NULL,
    members    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX teams_by_pupil ON teams (pupil_id, tutor_hash);

-- The console searches the log by actor (a client, a tutor).
CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
