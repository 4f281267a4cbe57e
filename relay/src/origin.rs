//! Which web pages may open a WebSocket to the relay: the check against
//! cross-site WebSocket hijacking. Browsers send the page's `Origin` with
//! every WebSocket upgrade and, unlike `fetch`, do not stop a page from
//! reading the answer, so the relay checks it itself.

use warp::http::{HeaderMap, header};

/// Whether an upgrade with these headers may proceed. `allowed` is
/// `--allowed-origins`: exact origins, or `*` for any; when empty, only
/// the relay's own pages (the `Origin`'s host and port equal `Host`). An
/// upgrade without `Origin` comes from no browser and is not checked: a
/// native client can send any header it likes, so only tokens keep it out.
pub fn allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if allowed.is_empty() {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin.split_once("://").map(|(_, rest)| rest);
        return matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h));
    }
    allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            h.insert(header::ORIGIN, origin.parse().unwrap());
        }
        h
    }

    #[test]
    fn by_default_only_the_relays_own_pages_may_connect() {
        assert!(allowed(
            &headers(Some("http://localhost:8000"), "localhost:8000"),
            &[]
        ));
        assert!(!allowed(
            &headers(Some("http://evil.example"), "localhost:8000"),
            &[]
        ));
        assert!(!allowed(
            &headers(Some("http://localhost:9000"), "localhost:8000"),
            &[]
        ));
        assert!(!allowed(&headers(Some("null"), "localhost:8000"), &[]));
        assert!(
            allowed(&headers(None, "localhost:8000"), &[]),
            "not a browser"
        );
    }

    #[test]
    fn a_list_allows_exactly_its_origins() {
        let list = vec!["https://app.example".to_owned()];
        assert!(allowed(
            &headers(Some("https://app.example"), "relay"),
            &list
        ));
        assert!(!allowed(
            &headers(Some("http://app.example"), "relay"),
            &list
        ));
        assert!(!allowed(
            &headers(Some("https://app.example.evil"), "relay"),
            &list
        ));
        assert!(allowed(
            &headers(Some("https://x"), "relay"),
            &["*".to_owned()]
        ));
    }
}
