//! PostgreSQL URLs for the tests that create a database of their own on the server named by
//! `LIENTHONG_TEST_POSTGRES_URL` (store, directory CLI, API, crash tests).

/// `postgres://u@h:p/postgres?x=y` with another database name.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    format!("{}/{name}{query}", &base[..authority_end])
}
