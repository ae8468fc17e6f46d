//! A page's data, read by the server before the page renders.
//!
//! The signed-in pages with the most to show (`/dashboard`, `/profile`) are not rendered around a `Suspense` that
//! waits for their data: the server reads the data first and hands it to the page through this context, and the
//! page renders in one synchronous pass (`server::web::preload`). Its component takes the data out once.

use std::sync::{Arc, Mutex, PoisonError};

use crate::model::error::AppError;

/// The data read for this request's page: the outcome of its loader, taken once by the page's component.
pub struct Preloaded<T>(Arc<Mutex<Option<Result<T, AppError>>>>);

impl<T> Clone for Preloaded<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Preloaded<T> {
    pub fn new(loaded: Result<T, AppError>) -> Self {
        Self(Arc::new(Mutex::new(Some(loaded))))
    }

    /// The data, the first time it is asked for; `None` after that, or where the server read nothing (the route
    /// list's dry run at start-up).
    pub fn take(&self) -> Option<Result<T, AppError>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}
