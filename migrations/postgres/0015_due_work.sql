-- Background work reads only what is due (O(due), not O(all consents)).
-- `expiry_recorded`: when the expiry job recorded the consent's end; NULL until then.
-- The partial indexes hold only consents still waiting for that, so the minute's
-- query touches the consents that just ran out and nothing else.
ALTER TABLE consents ADD COLUMN expiry_recorded BIGINT;
UPDATE consents SET expiry_recorded = (SELECT MIN(e.at) FROM consent_events e
    WHERE e.consent_id = consents.id AND e.kind = 'expired')
    WHERE id IN (SELECT consent_id FROM consent_events WHERE kind = 'expired');
CREATE INDEX consents_expiring ON consents (expires_at)
    WHERE ended_at IS NULL AND expiry_recorded IS NULL;
CREATE INDEX consents_open_by_template ON consents (template_id)
    WHERE ended_at IS NULL AND expiry_recorded IS NULL;
