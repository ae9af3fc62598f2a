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

#[rocket::get("/api/photos?<limit>&<before>")]
pub async fn photos(
    app: &State<App>,
    limit: Option<u32>,
    before: Option<PhotoId>,
) -> Result<Json<PhotoList>, AppError> {
    let limit = limit.unwrap_or(app.settings.front_page_size);
    let page = app.feed.api_page(limit, before).await?;
    let next = page.older.map(|id| format!("/api/photos?limit={}&before={id}", page.photos.len()));
    Ok(Json(PhotoList { photos: page.photos.as_ref().clone(), next }))
}
