-- A photo's text alternative for screen readers, written by its owner; empty when none was
-- given (pages then describe the photo by its caption).
ALTER TABLE photos ADD COLUMN alt_text VARCHAR(500) NOT NULL DEFAULT '';
