//! The upload pipeline: sniff → inspect the structure (size, coverage, memory cost) → decode
//! under limits → strip → thumbnail. CPU-heavy steps run on blocking threads, under a bound on
//! concurrent jobs and a budget on decode memory charged with what the decoder will really
//! allocate, so memory stays bounded whatever is uploaded and however many at once.
//!
//! This file is the orchestration only: one module per step (`sniff`, `inspect` with the
//! `jpeg` and `gif` structure readers it and `strip` share, `decode`, `strip`, `thumbs`).

mod decode;
mod gif;
mod inspect;
mod jpeg;
mod sniff;
mod strip;
mod thumbs;

pub use sniff::{Sniffed, sniff};
pub use thumbs::fit;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use image::metadata::Orientation;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::ImageKind;
use crate::store::BlobBody;
use inspect::Inspected;
use thumbs::thumbnail_size;

/// Long edge of generated thumbnails, in pixels: the large one, and the small one phones
/// and the grid's narrow columns load (`srcset`).
pub const THUMBNAIL_EDGE: u32 = 640;
pub const SMALL_THUMBNAIL_EDGE: u32 = 320;

/// Why an upload was refused: the user's file, not the server, is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not an accepted format (HTTP 415).
    #[error("{0}")]
    Unsupported(&'static str),
    /// An accepted format that cannot be used: empty, corrupt, truncated, too many pixels (422).
    #[error("{0}")]
    Unusable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("reading the uploaded file: {0}")]
    Io(#[from] std::io::Error),
    #[error("image worker stopped: {0}")]
    Worker(#[from] tokio::task::JoinError),
    #[error("image pipeline closed")]
    Closed,
}

/// What an accepted upload becomes.
#[derive(Debug)]
pub struct Processed {
    pub kind: ImageKind,
    /// The original with identifying metadata removed.
    pub original: BlobBody,
    /// A JPEG, long edge at most `THUMBNAIL_EDGE`, orientation applied.
    pub thumbnail: Bytes,
    /// The same, long edge at most `SMALL_THUMBNAIL_EDGE`.
    pub small_thumbnail: Bytes,
    /// Displayed size (after orientation).
    pub width: u32,
    pub height: u32,
    /// The upload's share of the memory budget: keep it until the blobs are stored, so that
    /// uploads waiting on storage count against the budget too.
    pub slot: Option<OwnedSemaphorePermit>,
}

/// Where an upload's bytes are: streamed to a temporary file, or already in memory.
pub enum UploadData<'a> {
    File(&'a Path),
    Bytes(Bytes),
}

#[derive(Debug, Clone, Copy)]
pub struct PixelLimits {
    pub max_side: u32,
    pub max_pixels: u64,
}

pub struct Pipeline {
    limits: PixelLimits,
    /// CPU-bound jobs at once.
    jobs: Semaphore,
    /// Memory budget in KiB: decoded pixels, and uploads' bytes until they are stored.
    memory_kib: Arc<Semaphore>,
    memory_budget_kib: u32,
}

impl Pipeline {
    pub fn new(limits: PixelLimits, concurrency: usize, memory_budget_bytes: u64) -> Self {
        let memory_budget_kib = u32::try_from(memory_budget_bytes / 1024).unwrap_or(u32::MAX).max(1);
        Self {
            limits,
            jobs: Semaphore::new(concurrency.max(1)),
            memory_kib: Arc::new(Semaphore::new(memory_budget_kib as usize)),
            memory_budget_kib,
        }
    }

    /// Loads and processes an upload. `Ok(Err(_))` is the user's file being
    /// refused; `Err` is the server failing.
    pub async fn process_upload(&self, data: UploadData<'_>) -> Result<Result<Processed, Rejection>, PipelineError> {
        match data {
            UploadData::File(path) => self.process(async { Ok(Bytes::from(tokio::fs::read(path).await?)) }).await,
            UploadData::Bytes(bytes) => self.process_bytes(bytes).await,
        }
    }

    /// Processes bytes already in memory (small form values, the embedded demo photos).
    pub async fn process_bytes(&self, data: Bytes) -> Result<Result<Processed, Rejection>, PipelineError> {
        self.process(async { Ok(data) }).await
    }

    async fn process(
        &self,
        load: impl Future<Output = Result<Bytes, PipelineError>>,
    ) -> Result<Result<Processed, Rejection>, PipelineError> {
        // The job permit comes before loading, so at most `concurrency` files sit in memory
        // unaccounted while they wait for their memory permit.
        let _job = self.jobs.acquire().await.map_err(|_| PipelineError::Closed)?;
        let limits = self.limits;
        let data = load.await?;
        let budget = u64::from(self.memory_budget_kib) * 1024;
        let (data, inspected) = tokio::task::spawn_blocking(move || {
            let inspected = inspect::inspect(&data, limits, budget);
            (data, inspected)
        })
        .await?;
        let inspected = match inspected {
            Ok(inspected) => inspected,
            Err(rejection) => return Ok(Err(rejection)),
        };
        // One acquisition for the upload's bytes and its decoding (no hold-and-wait, so no
        // deadlock); the decoding share is returned as soon as pixels are freed, the upload's
        // share travels with the result until its blobs are stored. Inspection refused any
        // upload whose whole charge exceeds the budget, so the clamps only guard rounding.
        let kib = |bytes: u64| u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        let held_kib = kib(data.len() as u64).clamp(1, self.memory_budget_kib);
        let decode_kib = kib(inspected.decode_bytes).min(self.memory_budget_kib - held_kib);
        let mut held = self
            .memory_kib
            .clone()
            .acquire_many_owned(held_kib + decode_kib)
            .await
            .map_err(|_| PipelineError::Closed)?;
        let decoding = held.split(decode_kib as usize);
        let processed = tokio::task::spawn_blocking(move || decode_and_derive(data, inspected, limits)).await?;
        drop(decoding);
        Ok(processed.map(|p| Processed { slot: Some(held), ..p }))
    }
}

impl Pipeline {
    /// The small thumbnail made from a large one (a photo uploaded before there were two
    /// sizes). `Ok(Err(_))`: `large` is not a usable JPEG.
    pub async fn small_thumbnail_from(&self, large: Bytes) -> Result<Result<Bytes, Rejection>, PipelineError> {
        let _job = self.jobs.acquire().await.map_err(|_| PipelineError::Closed)?;
        let limits = self.limits;
        let small = tokio::task::spawn_blocking(move || {
            // A large thumbnail is at most THUMBNAIL_EDGE square: a few MB decoded.
            let max_alloc = u64::from(THUMBNAIL_EDGE) * u64::from(THUMBNAIL_EDGE) * 16;
            let image = decode::decode_full(&large, ImageKind::Jpeg, limits, max_alloc)?;
            thumbs::shrink_to_jpeg(image, SMALL_THUMBNAIL_EDGE)
        })
        .await?;
        Ok(small.map_err(|e| unusable(ImageKind::Jpeg, e)))
    }
}

fn unusable(kind: ImageKind, detail: impl std::fmt::Display) -> Rejection {
    let name = kind.extension().to_uppercase();
    Rejection::Unusable(format!(
        "The {name} file is damaged or incomplete ({detail}). Open it in an image editor, save it again, and upload the new file."
    ))
}

fn decode_and_derive(data: Bytes, inspected: Inspected, limits: PixelLimits) -> Result<Processed, Rejection> {
    let kind = inspected.kind;
    let image = decode::decode(&data, &inspected, limits).map_err(|e| unusable(kind, e))?;
    let orientation = inspected.orientation;
    let (mut width, mut height) = (inspected.width, inspected.height);
    if matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    ) {
        std::mem::swap(&mut width, &mut height);
    }
    let (tw, th) = thumbnail_size(inspected.width, inspected.height);
    let (thumbnail, small_thumbnail) =
        thumbs::make_thumbnails(image, (tw, th), orientation).map_err(|e| unusable(kind, e))?;
    let original =
        strip::strip_metadata(kind, data, inspected.jpeg.as_ref(), orientation).map_err(|e| unusable(kind, e))?;
    Ok(Processed { kind, original, thumbnail, small_thumbnail, width, height, slot: None })
}
