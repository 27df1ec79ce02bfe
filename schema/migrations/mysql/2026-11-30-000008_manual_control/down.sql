ALTER TABLE groups DROP COLUMN enabled;
