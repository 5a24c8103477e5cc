-- What an agreement states about how long consents on it last: a period
-- ('school_year') instead of the configured validity, and, for a revision, the
-- days after its publication at which consents on earlier versions end unless
-- signed again. Part of the content hash when set.
ALTER TABLE templates ADD COLUMN period TEXT CHECK (period IN ('school_year'));
ALTER TABLE templates ADD COLUMN reconsent_days BIGINT CHECK (reconsent_days BETWEEN 1 AND 365);
