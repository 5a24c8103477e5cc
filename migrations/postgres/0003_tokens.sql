-- The authorization server's signing keys and the tokens it issued.

-- ES256 keys; the private half sealed under the KEK. `active_from` in the future
-- marks the next key (published before it signs); `retired_at` stops signing, and
-- the key stays published until every token it signed has expired.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    sealed_private BYTEA NOT NULL,
    kek_id         TEXT NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    active_from    BIGINT NOT NULL,
    retired_at     BIGINT
);

-- Every access token issued: for introspection (is the consent behind it still in
-- force?), revocation, and telling partners about withdrawals.
CREATE TABLE issued_tokens (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    org_id     TEXT NOT NULL,
    pupil_id   TEXT NOT NULL,
    audience   TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX issued_tokens_by_pupil ON issued_tokens (pupil_id, expires_at);
