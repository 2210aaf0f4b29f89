//! Failed-authentication throttling: after too many wrong secrets in a window, per system id
//! and per client address, further attempts are answered 429 with `Retry-After` until the
//! window ends — before argon2 runs, so that a flood of guesses costs the server nothing.
//!
//! Throttling refuses guesses, not systems: while an id or an address is over its limit, a
//! secret that verified before is still recognised without argon2
//! (`Directory::recall_credential`) and let through, so neither the attacked system nor the
//! agencies sharing the attacker's address (one NAT for a province's network) are locked out.
//! Behind a proxy the client address is taken from `X-Forwarded-For` only when the connection
//! comes from one of `http.trusted_proxies`; otherwise every agency would share the proxy's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// How many failures, over what window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failed attempts one system id may have per window.
    pub per_id: u32,
    /// Failed attempts one client address may have per window.
    pub per_address: u32,
    pub window: Duration,
}

/// Keys tracked per table before expired ones are dropped (and, if all are live, all of them:
/// memory stays bounded even when every request names a new system id).
const MAX_TRACKED: usize = 100_000;

/// Failures in the current window of one key.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// The failure counters of the server.
#[derive(Debug)]
pub struct FailedLogins {
    policy: ThrottlePolicy,
    ids: Mutex<HashMap<String, Window>>,
    addresses: Mutex<HashMap<IpAddr, Window>>,
}

/// Which counter is over its limit, and for how long still.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    Id(Duration),
    Address(Duration),
}

impl Throttled {
    /// Seconds until another attempt may be made (at least 1).
    pub fn retry_after(self) -> u64 {
        let (Throttled::Id(left) | Throttled::Address(left)) = self;
        left.as_secs_f64().ceil().max(1.0) as u64
    }
}

impl FailedLogins {
    pub fn new(policy: ThrottlePolicy) -> FailedLogins {
        FailedLogins {
            policy,
            ids: Mutex::new(HashMap::new()),
            addresses: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the address, then the id, is over its limit now.
    pub fn check(
        &self,
        system_id: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Option<Throttled> {
        if let Some(address) = address {
            if let Some(left) = over(
                &self.addresses,
                &address,
                self.policy.per_address,
                self.policy.window,
                now,
            ) {
                return Some(Throttled::Address(left));
            }
        }
        over(
            &self.ids,
            system_id,
            self.policy.per_id,
            self.policy.window,
            now,
        )
        .map(Throttled::Id)
    }

    /// Counts one failed attempt against the id and the address.
    pub fn failed(&self, system_id: &str, address: Option<IpAddr>, now: Instant) {
        count(&self.ids, system_id.to_owned(), self.policy.window, now);
        if let Some(address) = address {
            count(&self.addresses, address, self.policy.window, now);
        }
    }
}

/// Time left in the key's window when it has reached `limit` failures.
fn over<K, Q>(
    map: &Mutex<HashMap<K, Window>>,
    key: &Q,
    limit: u32,
    window: Duration,
    now: Instant,
) -> Option<Duration>
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    let entry = *lock(map).get(key)?;
    let ends = entry.started + window;
    (entry.failures >= limit && now < ends).then(|| ends - now)
}

fn count<K: std::hash::Hash + Eq>(
    map: &Mutex<HashMap<K, Window>>,
    key: K,
    window: Duration,
    now: Instant,
) {
    let mut map = lock(map);
    if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
        map.retain(|_, w| now.duration_since(w.started) < window);
        if map.len() >= MAX_TRACKED {
            tracing::warn!(
                tracked = map.len(),
                "failed-login counters full: forgetting them"
            );
            map.clear();
        }
    }
    let entry = map.entry(key).or_insert(Window {
        started: now,
        failures: 0,
    });
    if now.duration_since(entry.started) >= window {
        *entry = Window {
            started: now,
            failures: 0,
        };
    }
    entry.failures = entry.failures.saturating_add(1);
}

/// The client's address: the peer, or — when the peer is a trusted proxy — the address the
/// proxy appended last to `X-Forwarded-For` (the one it saw; earlier entries are the
/// client's own claims).
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted_proxies: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    forwarded_for
        .and_then(|list| list.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .or(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            per_id: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn an_id_is_throttled_after_its_failures_until_the_window_ends() {
        let logins = FailedLogins::new(policy());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(logins.check("sys", None, t0), None);
            logins.failed("sys", None, t0);
        }
        let later = t0 + Duration::from_secs(20);
        let throttled = logins.check("sys", None, later);
        assert_eq!(throttled, Some(Throttled::Id(Duration::from_secs(40))));
        assert_eq!(throttled.map(Throttled::retry_after), Some(40));
        assert_eq!(
            logins.check("other", None, later),
            None,
            "other ids are not affected"
        );
        assert_eq!(
            logins.check("sys", None, t0 + Duration::from_secs(60)),
            None
        );
        logins.failed("sys", None, t0 + Duration::from_secs(61));
        assert_eq!(
            logins.check("sys", None, t0 + Duration::from_secs(62)),
            None,
            "a new window"
        );
    }

    #[test]
    fn an_address_is_throttled_across_ids() {
        let logins = FailedLogins::new(policy());
        let t0 = Instant::now();
        let address: IpAddr = "192.0.2.7".parse().expect("ip");
        for n in 0..5 {
            logins.failed(&format!("guess-{n}"), Some(address), t0);
        }
        assert!(matches!(
            logins.check("fresh", Some(address), t0),
            Some(Throttled::Address(_))
        ));
        assert_eq!(
            logins.check("fresh", Some("192.0.2.8".parse().expect("ip")), t0),
            None
        );
    }

    #[test]
    fn counters_stay_bounded() {
        let logins = FailedLogins::new(policy());
        let t0 = Instant::now();
        for n in 0..(MAX_TRACKED + 10) {
            logins.failed(&n.to_string(), None, t0);
        }
        assert!(lock(&logins.ids).len() <= MAX_TRACKED);
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let client: IpAddr = "203.0.113.9".parse().expect("ip");
        let header = Some("198.51.100.1, 203.0.113.9");
        assert_eq!(client_address(Some(proxy), header, &[proxy]), Some(client));
        assert_eq!(client_address(Some(proxy), header, &[]), Some(proxy));
        assert_eq!(client_address(Some(proxy), None, &[proxy]), Some(proxy));
        assert_eq!(
            client_address(Some(proxy), Some("garbage"), &[proxy]),
            Some(proxy)
        );
    }
}
