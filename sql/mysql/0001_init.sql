-- Usernames compare ignoring case (utf8mb4_unicode_ci), as in SQLite's NOCASE.
CREATE TABLE users (
    id            CHAR(26)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    username      VARCHAR(32)  NOT NULL,
    password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at    BIGINT       NOT NULL,
    UNIQUE KEY users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Photo ids are ULIDs compared as bytes (ascii_bin): ordering by id is ordering by creation,
-- so the primary key alone serves the front page and its keyset pagination.
CREATE TABLE photos (
    id           CHAR(26)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    owner_id     CHAR(26)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    caption      VARCHAR(200) NOT NULL,
    content_type VARCHAR(32)  CHARACTER SET ascii NOT NULL,
    width        INT UNSIGNED NOT NULL,
    height       INT UNSIGNED NOT NULL,
    bytes        BIGINT UNSIGNED NOT NULL,
    blob_key     VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    thumb_key    VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at   BIGINT       NOT NULL,
    KEY photos_owner (owner_id),
    CONSTRAINT photos_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
