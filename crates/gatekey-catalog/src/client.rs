//! Reading every `kind: API` entity from `GET /api/catalog/entities/by-query`, page by page,
//! authenticated as a service with a static external access token
//! (`backend.auth.externalAccess`, `type: static`).

use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use crate::entity::{ENTITY_FIELDS, QueryPage};
use crate::error::CatalogError;

/// Stop following cursors after this many pages.
pub const MAX_PAGES: usize = 1000;

/// Where the catalog is and how to read it.
#[derive(Debug, Clone)]
pub struct CatalogConfig {
    /// The Backstage backend, e.g. `https://backstage.example.com` (the catalog is under
    /// `/api/catalog`).
    pub backend_url: Url,
    /// The static external access token Backstage accepts for Gatekey.
    pub token: SecretString,
    /// Entities per page (Backstage's `limit`).
    pub page_size: u32,
    /// Per-request deadline.
    pub request_timeout: Duration,
}

/// A client for the catalog's query endpoint.
#[derive(Debug, Clone)]
pub struct CatalogClient {
    http: reqwest::Client,
    query_url: Url,
    token: SecretString,
    page_size: u32,
}

impl CatalogClient {
    pub fn new(config: &CatalogConfig) -> Result<Self, CatalogError> {
        if config.token.expose_secret().trim().is_empty() {
            return Err(CatalogError::Config(
                "the external access token is empty".to_owned(),
            ));
        }
        if config.page_size == 0 {
            return Err(CatalogError::Config("page_size must be above 0".to_owned()));
        }
        let mut base = config.backend_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let query_url = base
            .join("api/catalog/entities/by-query")
            .map_err(|e| CatalogError::Config(format!("backend URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(3)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CatalogError::Config(e.to_string()))?;
        Ok(Self {
            http,
            query_url,
            token: config.token.clone(),
            page_size: config.page_size,
        })
    }

    /// Every API entity, all pages, as raw JSON (one odd entity must not spoil the rest).
    pub async fn api_entities(&self) -> Result<Vec<serde_json::Value>, CatalogError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.page(cursor.as_deref()).await?;
            items.extend(page.items);
            match page.page_info.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
        Err(CatalogError::TooManyPages(MAX_PAGES))
    }

    async fn page(&self, cursor: Option<&str>) -> Result<QueryPage, CatalogError> {
        let mut url = self.query_url.clone();
        {
            let mut query = url.query_pairs_mut();
            // The cursor encodes the filter of the first request.
            match cursor {
                Some(cursor) => query.append_pair("cursor", cursor),
                None => query.append_pair("filter", "kind=api"),
            };
            query
                .append_pair("limit", &self.page_size.to_string())
                .append_pair("fields", ENTITY_FIELDS);
        }
        let response = self
            .http
            .get(url)
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| CatalogError::Unreachable(error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let mut body = response.text().await.unwrap_or_default();
            body.truncate(300);
            return Err(CatalogError::Status {
                status: status.as_u16(),
                body,
            });
        }
        response
            .json::<QueryPage>()
            .await
            .map_err(|e| CatalogError::UnexpectedBody(error_chain(&e)))
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
