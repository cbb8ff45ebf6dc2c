//! Rate limits with governor: logins per (IP, email), own-password changes
//! per user (the login quota), password-reset requests per IP and per
//! e-mail, a per-caller quota, and
//! the same quota per client IP for the few unauthenticated endpoints.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use launchpad_domain::{Error, ids::UserId};

/// The client's IP, as the request context recorded it (none outside a
/// request).
pub fn client_ip() -> Option<IpAddr> {
    crate::request_context::current()
        .and_then(|c| c.ip)
        .and_then(|i| i.parse().ok())
}

pub struct RateLimits {
    login: DefaultKeyedRateLimiter<(Option<IpAddr>, String)>,
    /// Own-password changes per user, with the login quota: a stolen access
    /// token cannot guess the current password faster than a login could.
    password_change: DefaultKeyedRateLimiter<UserId>,
    caller: DefaultKeyedRateLimiter<UserId>,
    /// Password-reset requests per e-mail address (the login quota) and per
    /// client IP (four times that: several people may share an address).
    reset_email: DefaultKeyedRateLimiter<String>,
    reset_ip: DefaultKeyedRateLimiter<Option<IpAddr>>,
    anonymous: DefaultKeyedRateLimiter<Option<IpAddr>>,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(login_per_15_min: u32, caller_per_minute: u32) -> Self {
        let login_n = NonZeroU32::new(login_per_15_min).unwrap_or(NonZeroU32::MIN);
        let login = Quota::with_period(Duration::from_secs(15 * 60) / login_n.get())
            .expect("non-zero period")
            .allow_burst(login_n);
        let caller_n = NonZeroU32::new(caller_per_minute).unwrap_or(NonZeroU32::MIN);
        let ip_n = login_n.saturating_mul(NonZeroU32::new(4).expect("non-zero"));
        let per_ip = Quota::with_period(Duration::from_secs(15 * 60) / ip_n.get())
            .expect("non-zero period")
            .allow_burst(ip_n);
        Self {
            login: RateLimiter::keyed(login),
            reset_email: RateLimiter::keyed(login),
            reset_ip: RateLimiter::keyed(per_ip),
            password_change: RateLimiter::keyed(login),
            caller: RateLimiter::keyed(Quota::per_minute(caller_n)),
            anonymous: RateLimiter::keyed(Quota::per_minute(caller_n)),
            clock: DefaultClock::default(),
        }
    }

    fn verdict<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> Result<(), Error> {
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Error::RateLimited {
                retry_after: Duration::from_secs(
                    wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                )
                .max(Duration::from_secs(1)),
            }
        })
    }

    pub fn check_login(&self, ip: Option<IpAddr>, email: &str) -> Result<(), Error> {
        self.verdict(&self.login, &(ip, email.trim().to_lowercase()))
    }

    /// A password-reset request: per client IP, then per address (the
    /// verdict depends on neither the address being known nor anything
    /// stored).
    pub fn check_password_reset(&self, ip: Option<IpAddr>, email: &str) -> Result<(), Error> {
        self.verdict(&self.reset_ip, &ip)?;
        self.verdict(&self.reset_email, &email.trim().to_lowercase())
    }

    pub fn check_password_change(&self, user: UserId) -> Result<(), Error> {
        self.verdict(&self.password_change, &user)
    }

    pub fn check_caller(&self, user: UserId) -> Result<(), Error> {
        self.verdict(&self.caller, &user)
    }

    /// Unauthenticated public endpoints (certificate verification), per client IP.
    pub fn check_anonymous(&self, ip: Option<IpAddr>) -> Result<(), Error> {
        self.verdict(&self.anonymous, &ip)
    }

    /// [`Self::check_anonymous`] for the client of the current request: the
    /// guard of every endpoint that needs no login.
    pub fn check_anonymous_client(&self) -> Result<(), Error> {
        self.check_anonymous(client_ip())
    }

    /// Forgets idle keys so memory stays bounded; call periodically.
    pub fn retain_recent(&self) {
        self.login.retain_recent();
        self.password_change.retain_recent();
        self.caller.retain_recent();
        self.reset_email.retain_recent();
        self.reset_ip.retain_recent();
        self.anonymous.retain_recent();
    }
}
