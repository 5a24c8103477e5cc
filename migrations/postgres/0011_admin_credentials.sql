-- Admin credentials get a scope (all, read, metrics) and can be revoked.
ALTER TABLE admin_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'all';
ALTER TABLE admin_tokens ADD COLUMN revoked_at BIGINT;
