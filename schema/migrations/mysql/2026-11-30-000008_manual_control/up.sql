-- A group can be switched off (requests answer 503, aggregates skip it) without losing its setup.
ALTER TABLE groups ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT 1;
