//! The gateway base URLs the platform team approved (`gateway.allowed_urls`). An API's
//! `gateway_url` is where callers send the keys Gatekey mints, so whoever writes it could collect
//! other users' keys; the policy file and catalog entities alike are accepted only with a
//! `gateway_url` at or under one of these bases.
//!
//! Matching is done on parsed URLs (`url::Url`), never on text prefixes: same scheme, host and
//! port (`https://api.example.com.evil.com` and `https://api.example.com@evil.com` are other
//! hosts), and a path equal to the base's or below it on a segment boundary (`/orders` does not
//! cover `/orders-admin`). Anything a URL parser would rewrite before use is refused outright
//! rather than normalised: userinfo, whitespace and control characters, backslashes, dot segments
//! (`.`, `..`, also percent-encoded) and percent-encoded `/` or `\`, so the URL that was checked
//! is the URL callers use.

use url::Url;

/// Why a URL is not an acceptable gateway base or gateway URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayUrlError {
    #[error("'{url}' is not an absolute http(s) URL")]
    NotHttp { url: String },
    #[error("'{url}' carries {what}, which a gateway URL never needs")]
    Forbidden { url: String, what: &'static str },
    #[error("'{url}' is not at or under an allowed gateway URL (gateway.allowed_urls: {allowed})")]
    NotAllowed { url: String, allowed: String },
}

/// One approved base: scheme, host, port and a path prefix without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GatewayBase {
    url: Url,
    /// The base path without its trailing `/` (`""` for the root).
    path: String,
}

/// The approved gateway base URLs. Empty allows nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatewayAllowList {
    bases: Vec<GatewayBase>,
}

impl GatewayAllowList {
    /// Parses the configured bases; each must be a plain `http(s)://host[:port][/path]` URL.
    pub fn new<S: AsRef<str>>(urls: &[S]) -> Result<Self, GatewayUrlError> {
        let bases = urls
            .iter()
            .map(|text| {
                let url = parse_strict(text.as_ref())?;
                let path = url.path().trim_end_matches('/').to_owned();
                Ok(GatewayBase { url, path })
            })
            .collect::<Result<_, GatewayUrlError>>()?;
        Ok(Self { bases })
    }

    /// Whether no base is configured (then every gateway URL is refused).
    pub fn is_empty(&self) -> bool {
        self.bases.is_empty()
    }

    /// Accepts `gateway_url` when it is at or under one of the bases.
    pub fn check(&self, gateway_url: &str) -> Result<(), GatewayUrlError> {
        let url = parse_strict(gateway_url)?;
        let covered = self.bases.iter().any(|base| {
            base.url.scheme() == url.scheme()
                && base.url.host() == url.host()
                && base.url.port_or_known_default() == url.port_or_known_default()
                && under(url.path(), &base.path)
        });
        if covered {
            Ok(())
        } else {
            Err(GatewayUrlError::NotAllowed {
                url: gateway_url.to_owned(),
                allowed: self.describe(),
            })
        }
    }

    /// The bases for messages, e.g. `https://api.example.com/, https://gw.example.com/orders`.
    pub fn describe(&self) -> String {
        if self.bases.is_empty() {
            return "none".to_owned();
        }
        self.bases
            .iter()
            .map(|base| base.url.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `path` equals `base` or continues it after a `/`.
fn under(path: &str, base: &str) -> bool {
    match path.strip_prefix(base) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Parses an http(s) URL and refuses whatever a parser or proxy could read differently.
fn parse_strict(text: &str) -> Result<Url, GatewayUrlError> {
    let forbidden = |what| GatewayUrlError::Forbidden {
        url: text.to_owned(),
        what,
    };
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(forbidden("whitespace or control characters"));
    }
    if text.contains('\\') {
        return Err(forbidden("a backslash"));
    }
    let url = Url::parse(text).map_err(|_| GatewayUrlError::NotHttp {
        url: text.to_owned(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(GatewayUrlError::NotHttp {
            url: text.to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(forbidden("userinfo (user@ or user:password@)"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(forbidden("a query or fragment"));
    }
    // The parser has already resolved dot segments; look at what was written.
    let lowered = text.to_ascii_lowercase();
    let after_authority = lowered
        .split_once("://")
        .map_or("", |(_, rest)| rest.find('/').map_or("", |at| &rest[at..]));
    let dot_segment = after_authority
        .split('/')
        .any(|segment| matches!(segment, "." | ".."));
    if dot_segment || lowered.contains("%2e") {
        return Err(forbidden("a dot segment (. or ..)"));
    }
    if lowered.contains("%2f") || lowered.contains("%5c") {
        return Err(forbidden("a percent-encoded / or \\"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(urls: &[&str]) -> GatewayAllowList {
        GatewayAllowList::new(urls).expect("valid bases")
    }

    #[test]
    fn urls_at_or_under_a_base_on_a_segment_boundary_are_allowed() {
        let allowed = list(&[
            "https://api.example.com",
            "http://gw.internal:8000/teams/orders/",
        ]);
        for url in [
            "https://api.example.com",
            "https://api.example.com/",
            "https://api.example.com/orders",
            "https://API.Example.com/orders/v2/",
            "https://api.example.com:443/orders",
            "http://gw.internal:8000/teams/orders",
            "http://gw.internal:8000/teams/orders/",
            "http://gw.internal:8000/teams/orders/v1",
        ] {
            assert_eq!(allowed.check(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn other_hosts_schemes_ports_and_sibling_paths_are_refused() {
        let allowed = list(&[
            "https://api.example.com",
            "http://gw.internal:8000/teams/orders",
        ]);
        for url in [
            "https://api.example.com.evil.com/orders",
            "https://evil.com/api.example.com",
            "https://evilapi.example.com",
            "http://api.example.com/orders",
            "https://api.example.com:8443/orders",
            "http://gw.internal:8000/teams/orders-admin",
            "http://gw.internal:8000/teams",
            "http://gw.internal:8001/teams/orders",
            "http://gw.internal/teams/orders",
            "ftp://api.example.com/orders",
            "api.example.com/orders",
            "/orders",
        ] {
            assert!(allowed.check(url).is_err(), "{url} was allowed");
        }
    }

    #[test]
    fn urls_a_parser_would_rewrite_are_refused() {
        let allowed = list(&["https://api.example.com/orders"]);
        for url in [
            "https://api.example.com@evil.com/orders",
            "https://api.example.com:443@evil.com/orders",
            "https://user:pw@api.example.com/orders",
            "https://api.example.com/orders/../admin",
            "https://api.example.com/orders/./x",
            "https://api.example.com/orders/..",
            "https://api.example.com/orders/%2e%2e/admin",
            "https://api.example.com/orders/%2E%2E/admin",
            "https://api.example.com/orders%2f..%2fadmin",
            "https://api.example.com/orders/%5c../admin",
            "https://api.example.com/orders\\..\\admin",
            "https://api.example.com/orders\t/x",
            " https://api.example.com/orders",
            "https://api.example.com/orders?redirect=https://evil.com",
            "https://api.example.com/orders#x",
        ] {
            assert!(allowed.check(url).is_err(), "{url} was allowed");
        }
    }

    #[test]
    fn an_empty_list_allows_nothing_and_bad_bases_are_refused() {
        let empty = list(&[]);
        assert!(empty.is_empty());
        assert!(matches!(
            empty.check("https://api.example.com"),
            Err(GatewayUrlError::NotAllowed { .. })
        ));
        for base in [
            "api.example.com",
            "https://user@api.example.com",
            "https://api.example.com/?x=1",
            "file:///etc",
        ] {
            assert!(GatewayAllowList::new(&[base]).is_err(), "{base}");
        }
    }
}
