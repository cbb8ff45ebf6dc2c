//! SSRF guard: which addresses a webhook may reach, the static checks of a
//! target URL, and [`resolve_public`]: a host name resolved through a
//! [`Resolver`] (the system's in production, a fixed table in tests) and
//! refused when any of its addresses is not public. The API uses it at
//! registration, the worker's DNS resolver at every connection.

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
};

use url::{Host, Url};

/// Why `ip` is not a public unicast address, or `None` when it is.
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "unspecified (0.0.0.0/8)"),
        ([10, 0, 0, 0], 8, "private (RFC 1918)"),
        (
            [100, 64, 0, 0],
            10,
            "shared address space (CGNAT, 100.64.0.0/10)",
        ),
        ([127, 0, 0, 0], 8, "loopback"),
        (
            [169, 254, 0, 0],
            16,
            "link-local (incl. cloud metadata 169.254.169.254)",
        ),
        ([172, 16, 0, 0], 12, "private (RFC 1918)"),
        (
            [192, 0, 0, 0],
            24,
            "IETF protocol assignment (192.0.0.0/24)",
        ),
        ([192, 0, 2, 0], 24, "documentation (TEST-NET-1)"),
        ([192, 88, 99, 0], 24, "6to4 relay anycast"),
        ([192, 168, 0, 0], 16, "private (RFC 1918)"),
        ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
        ([198, 51, 100, 0], 24, "documentation (TEST-NET-2)"),
        ([203, 0, 113, 0], 24, "documentation (TEST-NET-3)"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([255, 255, 255, 255], 32, "broadcast"),
        ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4)"),
    ];
    RANGES
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, why)| *why)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback (::1)");
    }
    // Addresses that carry an IPv4 address: judge the embedded one.
    let embedded = |ip: Ipv6Addr| {
        let o = ip.octets();
        Ipv4Addr::new(o[12], o[13], o[14], o[15])
    };
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) {
        return v4_reason(embedded(ip)).map(|_| "IPv4-mapped non-public address");
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return v4_reason(embedded(ip)).map(|_| "NAT64 of a non-public address");
    }
    const RANGES: &[([u16; 8], u32, &str)] = &[
        ([0, 0, 0, 0, 0, 0, 0, 0], 96, "IPv4-compatible (deprecated)"),
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "local-use NAT64"),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only (100::/64)"),
        (
            [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
            32,
            "documentation (2001:db8::/32)",
        ),
        (
            [0x2001, 0, 0, 0, 0, 0, 0, 0],
            23,
            "IETF protocol assignment (2001::/23, incl. Teredo)",
        ),
        ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4 (2002::/16)"),
        (
            [0x3fff, 0, 0, 0, 0, 0, 0, 0],
            20,
            "documentation (3fff::/20)",
        ),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (fc00::/7)"),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local (fe80::/10)"),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local (deprecated)"),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
    ];
    if let Some((_, _, why)) = RANGES
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
    {
        return Some(why);
    }
    // Only 2000::/3 is global unicast.
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return Some("not global unicast (outside 2000::/3)");
    }
    None
}

/// Resolves host names to addresses.
pub trait Resolver: Send + Sync {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>>;
}

/// The operating system's resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host, 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// A host name refused because one of its addresses is not public.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused: {host} resolves to {ip}, which is {why}")]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
    pub why: &'static str,
}

/// Why resolving a target failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("could not resolve {host}: {source}")]
    Lookup {
        host: String,
        #[source]
        source: std::io::Error,
    },
}

/// The first non-public address of `host` among `addrs`, as a refusal.
pub fn refuse_non_public(host: &str, addrs: &[IpAddr]) -> Result<(), Refused> {
    match addrs
        .iter()
        .find_map(|ip| non_public_reason(*ip).map(|why| (*ip, why)))
    {
        Some((ip, why)) => Err(Refused {
            host: host.to_string(),
            ip,
            why,
        }),
        None => Ok(()),
    }
}

/// Resolves `host` and answers its addresses (with `port`) only when every
/// one of them is public: one private answer among public ones is enough to
/// refuse, so a name cannot be re-bound to an internal address. With
/// `allow_insecure` every address is accepted (development and tests).
pub async fn resolve_public(
    resolver: &dyn Resolver,
    host: &str,
    port: u16,
    allow_insecure: bool,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let ips = resolver
        .lookup(host)
        .await
        .map_err(|source| ResolveError::Lookup {
            host: host.to_string(),
            source,
        })?;
    if !allow_insecure {
        refuse_non_public(host, &ips)?;
    }
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

/// Names that resolve to this machine without asking DNS.
fn is_local_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost") || h == "localhost.localdomain"
}

/// The checks of a webhook target that need no DNS: an absolute http(s) URL
/// of at most 2048 characters, without credentials or fragment; `https`
/// unless `allow_insecure`; and, unless `allow_insecure`, no literal
/// non-public address and no `localhost` name. Errors name the rule broken.
pub fn check_url(s: &str, allow_insecure: bool) -> Result<Url, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let url = Url::parse(s).map_err(|e| format!("must be an absolute https URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        "http" => {
            return Err("must use https (plain http is allowed only when LAUNCHPAD_WEBHOOKS_ALLOW_INSECURE=true)".into());
        }
        other => return Err(format!("must be an https URL, not {other}:")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials (user:password@)".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment (#...)".into());
    }
    let host = url.host().ok_or_else(|| "must have a host".to_string())?;
    if !allow_insecure {
        let refused = |ip: IpAddr| {
            non_public_reason(ip)
                .map(|why| format!("must not point to a non-public address: {ip} is {why}"))
        };
        match host {
            Host::Ipv4(ip) => {
                if let Some(e) = refused(IpAddr::V4(ip)) {
                    return Err(e);
                }
            }
            Host::Ipv6(ip) => {
                if let Some(e) = refused(IpAddr::V6(ip)) {
                    return Err(e);
                }
            }
            Host::Domain(d) if is_local_name(d) => {
                return Err(format!(
                    "must not point to this machine: {d} is a loopback name"
                ));
            }
            Host::Domain(_) => {}
        }
    }
    Ok(url)
}

/// The host name and port of a URL whose host is a name (not an IP
/// literal): what to resolve before trusting it.
pub fn resolvable_host(url: &str) -> Option<(String, u16)> {
    let url = Url::parse(url.trim()).ok()?;
    match url.host() {
        Some(Host::Domain(d)) => Some((d.to_string(), url.port_or_known_default().unwrap_or(443))),
        _ => None,
    }
}

/// The IP of `url` when its host is an IP literal.
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host() {
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A resolver answering from a fixed table (no DNS).
    struct Table(HashMap<&'static str, Vec<IpAddr>>);

    impl Resolver for Table {
        fn lookup<'a>(
            &'a self,
            host: &'a str,
        ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>> {
            let found = self.0.get(host).cloned();
            Box::pin(async move {
                found.ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such host")
                })
            })
        }
    }

    fn table() -> Table {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        Table(HashMap::from([
            ("private.example", vec![ip("10.20.30.40")]),
            ("metadata.example", vec![ip("169.254.169.254")]),
            ("loopback6.example", vec![ip("::1")]),
            ("loopback.example", vec![ip("127.0.0.1")]),
            // Re-bound: one public and one private answer.
            ("rebound.example", vec![ip("93.184.216.34"), ip("10.0.0.7")]),
            ("mapped.example", vec![ip("::ffff:169.254.169.254")]),
            (
                "public.example",
                vec![ip("93.184.216.34"), ip("2606:4700:4700::1111")],
            ),
        ]))
    }

    #[tokio::test]
    async fn names_resolving_to_non_public_addresses_are_refused() {
        let t = table();
        for (host, ip, rule) in [
            ("private.example", "10.20.30.40", "private"),
            ("metadata.example", "169.254.169.254", "link-local"),
            ("loopback6.example", "::1", "loopback"),
            ("loopback.example", "127.0.0.1", "loopback"),
            ("rebound.example", "10.0.0.7", "private"),
            ("mapped.example", "::ffff:169.254.169.254", "IPv4-mapped"),
        ] {
            let err = resolve_public(&t, host, 443, false).await.unwrap_err();
            let ResolveError::Refused(r) = &err else {
                panic!("{host}: {err}");
            };
            assert_eq!(r.host, host);
            assert_eq!(r.ip, ip.parse::<IpAddr>().unwrap(), "{host}");
            assert!(r.why.contains(rule), "{host}: {}", r.why);
            assert!(
                err.to_string()
                    .starts_with(&format!("refused: {host} resolves to {ip}"))
            );
            // The development flag lifts the rule.
            let ok = resolve_public(&t, host, 8443, true).await.unwrap();
            assert!(ok.iter().all(|a| a.port() == 8443));
        }
        let ok = resolve_public(&t, "public.example", 443, false)
            .await
            .unwrap();
        assert_eq!(ok.len(), 2);
        assert!(matches!(
            resolve_public(&t, "nowhere.example", 443, false).await,
            Err(ResolveError::Lookup { .. })
        ));
    }

    #[test]
    fn one_non_public_address_is_enough_to_refuse() {
        let ips: Vec<IpAddr> = vec!["8.8.8.8".parse().unwrap(), "192.168.1.9".parse().unwrap()];
        let r = refuse_non_public("h.example", &ips).unwrap_err();
        assert_eq!(r.ip.to_string(), "192.168.1.9");
        assert!(refuse_non_public("h.example", &ips[..1]).is_ok());
        assert!(refuse_non_public("h.example", &[]).is_ok());
    }

    fn public(s: &str) -> bool {
        non_public_reason(s.parse().unwrap()).is_none()
    }

    #[test]
    fn classifies_addresses() {
        for bad in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.200",
            "198.18.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
            "2002:7f00:1::",
            "100::1",
            "fec0::1",
            "3fff::1",
        ] {
            assert!(!public(bad), "{bad} classified public");
        }
        for good in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:82b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(public(good), "{good} classified non-public");
        }
    }

    #[test]
    fn static_url_rules() {
        assert!(check_url("https://hooks.example.com/x?y=1", false).is_ok());
        assert!(check_url("https://93.184.216.34:8443/", false).is_ok());
        let e = check_url("http://hooks.example.com/", false).unwrap_err();
        assert!(e.contains("https"), "{e}");
        assert!(check_url("http://hooks.example.com/", true).is_ok());
        assert!(check_url("ftp://hooks.example.com/", true).is_err());
        assert!(check_url("hooks.example.com", false).is_err());
        assert!(check_url("https://user:pw@hooks.example.com/", false).is_err());
        assert!(check_url("https://hooks.example.com/#frag", false).is_err());
        for bad in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]:8443/",
            "https://[fd00::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://localhost/",
            "https://api.localhost./",
        ] {
            let e = check_url(bad, false).unwrap_err();
            assert!(
                e.contains("non-public") || e.contains("loopback"),
                "{bad}: {e}"
            );
            assert!(
                check_url(&bad.replace("https", "http"), true).is_ok(),
                "{bad} with allow-insecure"
            );
        }
        assert!(check_url(&format!("https://a.example/{}", "x".repeat(2100)), false).is_err());
        assert_eq!(
            resolvable_host("https://Hooks.Example.com/x"),
            Some(("hooks.example.com".into(), 443))
        );
        assert_eq!(
            resolvable_host("http://a.example:8080/"),
            Some(("a.example".into(), 8080))
        );
        assert_eq!(resolvable_host("https://10.0.0.1/"), None);
    }
}
