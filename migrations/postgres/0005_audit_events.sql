-- Events of the authorization server, for the audit log: every token issued or
-- refused, every introspection and revocation. Append-only.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    pupil_id   TEXT,
    outcome    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX audit_events_by_at ON audit_events (at);

CREATE TRIGGER audit_events_append_only
BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION samtykke_refuse('the audit log is append-only');
