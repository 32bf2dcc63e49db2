//! HTTP(S) access to remote repositories (blocking reqwest over rustls).

use std::io::Read;
use std::time::Duration;

use crate::error::{Error, Result};

/// Largest file downloaded (compressed), 2 GiB.
const MAX_DOWNLOAD: u64 = 2 << 30;

/// A small HTTP client for repository files.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::blocking::Client,
}

/// The outcome of a GET.
#[derive(Debug)]
pub(crate) enum Response {
    /// 200 with the body.
    Body(Vec<u8>),
    /// 404 or 410.
    Missing,
}

impl Http {
    pub(crate) fn new() -> Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("profc/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| Error::Http {
                url: "(client)".into(),
                message: e.to_string(),
            })?;
        Ok(Http { client })
    }

    /// GETs `url`. Network failures are errors; 404/410 are [`Response::Missing`].
    pub(crate) fn get(&self, url: &str) -> Result<Response> {
        let http_err = |message: String| Error::Http {
            url: url.to_owned(),
            message,
        };
        let resp = self
            .client
            .get(url)
            .send()
            .map_err(|e| http_err(error_chain(&e)))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Ok(Response::Missing);
        }
        if !status.is_success() {
            return Err(http_err(format!("HTTP status {status}")));
        }
        if resp.content_length().is_some_and(|n| n > MAX_DOWNLOAD) {
            return Err(http_err(format!("larger than {MAX_DOWNLOAD} bytes")));
        }
        let mut body = Vec::new();
        resp.take(MAX_DOWNLOAD + 1)
            .read_to_end(&mut body)
            .map_err(|e| http_err(e.to_string()))?;
        if body.len() as u64 > MAX_DOWNLOAD {
            return Err(http_err(format!("larger than {MAX_DOWNLOAD} bytes")));
        }
        Ok(Response::Body(body))
    }
}

/// The error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// `base` + `/` + `name` + `.gz`, with the base's trailing slashes dropped.
pub(crate) fn join_url(base: &str, file: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), file)
}

/// Whether a search-path entry is a URL.
pub(crate) fn is_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}
