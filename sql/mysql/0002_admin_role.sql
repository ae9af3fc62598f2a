-- Admin is a role held in the database, granted only by `stratus admin grant NAME` on the
-- server: no name, and no registration, can make an account an admin.
ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE;
