-- Server-side sessions of the pupil pages. The cookie holds a random id; only its
-- SHA-256 is stored, so a copy of this table logs nobody in. `data` holds the
-- login in progress (state, nonce, PKCE verifier), the pupil's internal id and the
-- CSRF token; never an identity number (the ID token is kept wrapped by the KEK).
CREATE TABLE web_sessions (
    id_hash    TEXT PRIMARY KEY,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    touched_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_by_touched ON web_sessions (touched_at);
