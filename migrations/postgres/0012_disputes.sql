-- "This looks wrong" on a line of a pupil's access page: a case for the
-- compliance officer, about one audit entry (by its position in the chain).
CREATE TABLE disputes (
    id         TEXT PRIMARY KEY,
    pupil_id   TEXT NOT NULL,
    entry_seq  BIGINT NOT NULL,
    opened_at  BIGINT NOT NULL,
    closed_at  BIGINT,
    -- explained, corrected or referred: a fixed list, never free text.
    outcome    TEXT,
    UNIQUE (pupil_id, entry_seq)
);
CREATE INDEX disputes_by_state ON disputes (closed_at, opened_at);
