//! Retry policies: when the next attempt of a failed job runs.

use std::time::Duration;

/// How a kind retries transient failures. Pure data; the worker applies it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryPolicy {
    /// `base * 2^(attempt-1)`, capped at `max`, with ±`jitter` (a fraction).
    Exponential {
        base: Duration,
        max: Duration,
        jitter: f64,
    },
    /// A fixed schedule; the last step repeats.
    Schedule(&'static [Duration]),
}

impl RetryPolicy {
    pub const fn exponential(base: Duration, max: Duration) -> Self {
        Self::Exponential {
            base,
            max,
            jitter: 0.2,
        }
    }

    /// The delay before attempt `attempt + 1`, after `attempt` (1-based) failed.
    /// `rand01` is a uniform random number in [0, 1) (passed in to keep this pure).
    pub fn delay(&self, attempt: u32, rand01: f64) -> Duration {
        match *self {
            RetryPolicy::Exponential { base, max, jitter } => {
                let exp = attempt.saturating_sub(1).min(30);
                let raw = base.as_secs_f64() * 2f64.powi(exp as i32);
                let capped = raw.min(max.as_secs_f64());
                let factor = 1.0 + jitter * (2.0 * rand01 - 1.0);
                Duration::from_secs_f64((capped * factor).max(0.0))
            }
            RetryPolicy::Schedule(steps) => {
                let i = (attempt.saturating_sub(1) as usize).min(steps.len().saturating_sub(1));
                let d = steps.get(i).copied().unwrap_or(Duration::from_secs(60));
                // ±10 % jitter spreads thundering herds.
                Duration::from_secs_f64(d.as_secs_f64() * (0.9 + 0.2 * rand01))
            }
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::exponential(Duration::from_secs(2), Duration::from_secs(15 * 60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_grows_and_caps() {
        let p = RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(10));
        assert_eq!(p.delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(p.delay(2, 0.5), Duration::from_secs(2));
        assert_eq!(p.delay(3, 0.5), Duration::from_secs(4));
        assert_eq!(p.delay(10, 0.5), Duration::from_secs(10));
        let lo = p.delay(3, 0.0).as_secs_f64();
        let hi = p.delay(3, 0.999).as_secs_f64();
        assert!(lo >= 3.19 && hi <= 4.81 && lo < hi);
    }

    #[test]
    fn schedule_repeats_last_step() {
        const S: &[Duration] = &[Duration::from_secs(5), Duration::from_secs(300)];
        let p = RetryPolicy::Schedule(S);
        assert!(p.delay(1, 0.5).as_secs() == 5);
        assert!(p.delay(7, 0.5).as_secs() == 300);
    }
}
