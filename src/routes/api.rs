use rocket::State;
use rocket::serde::json::Json;
use serde::Serialize;

use crate::domain::PhotoId;
use crate::error::AppError;
use crate::service::PhotoView;
use crate::state::App;

#[derive(Serialize)]
pub struct PhotoList {
    photos: Vec<PhotoView>,
    next: Option<String>,
}

/// The `limit` parameter: a whole number of at least 1. Larger than the maximum is not an
/// error: the feed clamps it (to 100), as the API documents.
struct PageLimit(u32);

impl PageLimit {
    const RULE: &'static str = "`limit` must be a whole number of at least 1 (values over 100 count as 100).";

    fn parse(raw: &str) -> Option<Self> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Only digits: the one parse failure left is overflow, a (very) large valid limit.
        let n = raw.parse::<u32>().unwrap_or(u32::MAX);
        (n > 0).then_some(Self(n))
    }
}

const BEFORE_RULE: &str = "`before` must be a photo id (26 characters, as in a `next` link).";

#[rocket::get("/api/photos?<limit>&<before>")]
pub async fn photos(app: &State<App>, limit: Option<&str>, before: Option<&str>) -> Result<Json<PhotoList>, AppError> {
    let limit = match limit {
        Some(raw) => PageLimit::parse(raw).ok_or_else(|| AppError::BadRequest(PageLimit::RULE.into()))?.0,
        None => app.settings.front_page_size,
    };
    let before =
        before.map(|raw| PhotoId::parse(raw).ok_or_else(|| AppError::BadRequest(BEFORE_RULE.into()))).transpose()?;
    let page = app.feed.api_page(limit, before).await?;
    let next = page.older.map(|id| format!("/api/photos?limit={}&before={id}", page.photos.len()));
    Ok(Json(PhotoList { photos: page.photos.as_ref().clone(), next }))
}

#[cfg(test)]
mod tests {
    use super::PageLimit;

    #[test]
    fn limit_is_a_positive_whole_number() {
        for (raw, n) in [("1", 1), ("100", 100), ("007", 7), ("99999999999999999999", u32::MAX)] {
            assert_eq!(PageLimit::parse(raw).map(|l| l.0), Some(n), "{raw}");
        }
        for raw in ["", "0", "-1", "+5", "abc", "1.5", "1e3", " 5", "0x10"] {
            assert!(PageLimit::parse(raw).is_none(), "{raw}");
        }
    }
}
