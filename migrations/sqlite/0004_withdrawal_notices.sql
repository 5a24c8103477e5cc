-- Withdrawal notices: a signed Security Event Token (RFC 8417) for every partner
-- that received a token for a grant that has ended, pushed to its webhook with
-- retries, and whether the partner acknowledged it.
CREATE TABLE withdrawal_notices (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    pupil_id        TEXT NOT NULL,
    consent_id      TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    set_jwt         TEXT NOT NULL,
    webhook_url     TEXT,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_error      TEXT,
    acknowledged_at BIGINT,
    gave_up_at      BIGINT
);
CREATE INDEX withdrawal_notices_due ON withdrawal_notices (next_attempt_at);
