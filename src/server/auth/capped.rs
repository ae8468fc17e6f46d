//! Reading what providers answer, never more than [`MAX_RESPONSE_BYTES`]: discovery, keys, tokens, UserInfo and
//! GitHub's API are a few kilobytes; a provider (or whoever answers in its place) sending megabytes gets an error,
//! not our memory.

use std::{future::Future, pin::Pin};

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The most read from any provider response.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CappedError {
    #[error("{0}")]
    Transport(String),
    #[error("no answer in time")]
    Timeout,
    #[error("the response is larger than {} KB", MAX_RESPONSE_BYTES / 1024)]
    TooLarge,
}

/// The body of `response`, read chunk by chunk and abandoned as soon as it passes the limit.
pub async fn body(mut response: reqwest::Response) -> Result<Vec<u8>, CappedError> {
    if response.content_length().is_some_and(|length| length > MAX_RESPONSE_BYTES as u64) {
        return Err(CappedError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(CappedError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport(error: reqwest::Error) -> CappedError {
    if error.is_timeout() { CappedError::Timeout } else { CappedError::Transport(describe_reqwest(&error)) }
}

/// One request, its body read through [`body`].
async fn call(http: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, CappedError> {
    let request = reqwest::Request::try_from(request).map_err(|e| CappedError::Transport(e.to_string()))?;
    let response = http.execute(request).await.map_err(transport)?;
    let mut builder = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = body(response).await?;
    builder.body(body).map_err(|e| CappedError::Transport(e.to_string()))
}

/// `reqwest`, as `openidconnect`'s HTTP client, reading bodies through [`body`].
pub struct Capped<'a>(pub &'a reqwest::Client);

impl<'c> AsyncHttpClient<'c> for Capped<'_> {
    type Error = CappedError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, CappedError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(call(self.0, request))
    }
}

/// A short reason for a failed request to a provider. Never the URL: it may carry a query string.
pub fn describe_reqwest(error: &reqwest::Error) -> String {
    let reason = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_decode() {
        "unreadable response"
    } else {
        "request failed"
    };
    reason.to_owned()
}
