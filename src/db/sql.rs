//! The statements both dialects run as written: `?` placeholders bound in text order
//! (rusqlite numbers anonymous `?` from 1 in order; mysql_async binds them positionally).
//! What differs per dialect (DDL, join hints, locks, MySQL's "rows changed" follow-ups)
//! stays in that dialect's file.

/// `SELECT` (or a dialect's `SELECT` with a hint) of the columns a `PhotoRow` reads, in its
/// order, from `photos p` joined with its owner `u`, followed by `$tail`.
macro_rules! select_photos {
    ($select:literal, $tail:literal) => {
        concat!(
            $select,
            " p.id, p.owner_id, u.username, p.caption, p.content_type, p.width, p.height, p.bytes, ",
            "p.blob_key, p.thumb_key, p.created_at, p.alt_text ",
            "FROM photos p JOIN users u ON u.id = p.owner_id ",
            $tail
        )
    };
}
pub(super) use select_photos;

/// (id, username, password_hash, created_at)
pub const INSERT_USER: &str = "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)";
/// (id, username, password_hash, created_at, is_admin)
pub const INSERT_USER_RECORD: &str =
    "INSERT INTO users (id, username, password_hash, created_at, is_admin) VALUES (?, ?, ?, ?, ?)";
/// (username); the column's collation compares ignoring case.
pub const USER_BY_NAME: &str = "SELECT id, username, password_hash, created_at FROM users WHERE username = ?";
/// (id)
pub const USER_BY_ID: &str = "SELECT id, username, password_hash, created_at FROM users WHERE id = ?";
/// (after, limit): users in id order, keyset. The empty string sorts before every ULID, so it
/// stands for "from the start".
pub const USERS_AFTER: &str =
    "SELECT id, username, password_hash, created_at, is_admin FROM users WHERE id > ? ORDER BY id LIMIT ?";
/// (password_hash, id)
pub const UPDATE_PASSWORD: &str = "UPDATE users SET password_hash = ? WHERE id = ?";
/// (is_admin, username)
pub const SET_ADMIN: &str = "UPDATE users SET is_admin = ? WHERE username = ?";
/// (id)
pub const IS_ADMIN: &str = "SELECT is_admin FROM users WHERE id = ?";
/// (id)
pub const DELETE_USER: &str = "DELETE FROM users WHERE id = ?";
pub const COUNT_USERS: &str = "SELECT COUNT(*) FROM users";

/// (id, owner_id, caption, content_type, width, height, bytes, blob_key, thumb_key,
/// created_at, alt_text)
pub const INSERT_PHOTO: &str = "INSERT INTO photos (id, owner_id, caption, content_type, width, height, bytes, \
     blob_key, thumb_key, created_at, alt_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// (id)
pub const PHOTO_BY_ID: &str = select_photos!("SELECT", "WHERE p.id = ?");
/// (limit): the newest photos.
pub const LATEST: &str = select_photos!("SELECT", "ORDER BY p.id DESC LIMIT ?");
/// (before, limit): the newest photos older than `before`; keyset.
pub const LATEST_BEFORE: &str = select_photos!("SELECT", "WHERE p.id < ? ORDER BY p.id DESC LIMIT ?");
// The owner index holds the primary key too, so it serves these keyset walks in id order.
/// (owner_id, limit)
pub const OWNER: &str = select_photos!("SELECT", "WHERE p.owner_id = ? ORDER BY p.id DESC LIMIT ?");
/// (owner_id, before, limit)
pub const OWNER_BEFORE: &str = select_photos!("SELECT", "WHERE p.owner_id = ? AND p.id < ? ORDER BY p.id DESC LIMIT ?");
/// (after, limit): photo ids newer than `after`, oldest first.
pub const NEWER: &str = "SELECT id FROM photos WHERE id > ? ORDER BY id LIMIT ?";
/// (after, owner_id, limit): as `NEWER`, of one owner.
pub const NEWER_OF_OWNER: &str = "SELECT id FROM photos WHERE id > ? AND owner_id = ? ORDER BY id LIMIT ?";
/// (after, limit): photos in id order, keyset, as `USERS_AFTER`.
pub const PHOTOS_AFTER: &str = select_photos!("SELECT", "WHERE p.id > ? ORDER BY p.id LIMIT ?");
/// (caption, alt_text, id)
pub const UPDATE_CAPTION: &str = "UPDATE photos SET caption = ?, alt_text = ? WHERE id = ?";
/// (owner_id)
pub const DELETE_USER_PHOTOS: &str = "DELETE FROM photos WHERE owner_id = ?";
/// (id)
pub const DELETE_PHOTO: &str = "DELETE FROM photos WHERE id = ?";
pub const COUNT_PHOTOS: &str = "SELECT COUNT(*) FROM photos";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_selects_read_the_columns_in_photo_row_order() {
        assert_eq!(
            PHOTO_BY_ID,
            "SELECT p.id, p.owner_id, u.username, p.caption, p.content_type, p.width, p.height, p.bytes, \
             p.blob_key, p.thumb_key, p.created_at, p.alt_text FROM photos p JOIN users u ON u.id = p.owner_id \
             WHERE p.id = ?"
        );
    }

    #[test]
    fn statements_use_anonymous_placeholders_only() {
        let all = [
            INSERT_USER,
            INSERT_USER_RECORD,
            USER_BY_NAME,
            USER_BY_ID,
            USERS_AFTER,
            UPDATE_PASSWORD,
            SET_ADMIN,
            IS_ADMIN,
            DELETE_USER,
            COUNT_USERS,
            INSERT_PHOTO,
            PHOTO_BY_ID,
            LATEST,
            LATEST_BEFORE,
            OWNER,
            OWNER_BEFORE,
            NEWER,
            NEWER_OF_OWNER,
            PHOTOS_AFTER,
            UPDATE_CAPTION,
            DELETE_USER_PHOTOS,
            DELETE_PHOTO,
            COUNT_PHOTOS,
        ];
        for sql in all {
            // `?1` would bind by number in SQLite but is a syntax error in MySQL.
            assert!(!sql.contains(['$', ':']), "{sql}");
            assert!(!sql.split('?').skip(1).any(|rest| rest.starts_with(|c: char| c.is_ascii_digit())), "{sql}");
        }
    }
}
