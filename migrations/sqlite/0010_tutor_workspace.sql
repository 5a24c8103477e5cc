-- The NAV tutor's workspace. Tutors are staff (keyed hash of their number, as in
-- staff_roles) working in school networks; the pupils they follow up, the
-- invitations they send, the paper consents they record and the teams they meet.
-- What names a pupil (a nickname, a scanned form) is sealed under the pupil's
-- data key, so erasure shreds it with the pupil.

CREATE TABLE tutor_networks (
    lookup_hash TEXT NOT NULL,
    network_id  TEXT NOT NULL REFERENCES networks (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (lookup_hash, network_id)
);

CREATE TABLE caseload (
    pupil_id   TEXT NOT NULL REFERENCES pupils (id),
    tutor_hash TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    nickname   BLOB,
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

CREATE TABLE paper_forms (
    consent_id   TEXT PRIMARY KEY REFERENCES consents (id),
    pupil_id     TEXT NOT NULL REFERENCES pupils (id),
    form         BLOB,
    form_sha256  TEXT NOT NULL,
    media_type   TEXT NOT NULL,
    witness      TEXT NOT NULL,
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
