CREATE TABLE users (
    id            TEXT    PRIMARY KEY NOT NULL,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Photo ids are ULIDs: ordering by id is ordering by creation, so the primary key alone serves
-- the front page and its keyset pagination ("WHERE id < ? ORDER BY id DESC LIMIT ?").
CREATE TABLE photos (
    id           TEXT    PRIMARY KEY NOT NULL,
    owner_id     TEXT    NOT NULL REFERENCES users(id),
    caption      TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    blob_key     TEXT    NOT NULL,
    thumb_key    TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX photos_owner ON photos(owner_id);
