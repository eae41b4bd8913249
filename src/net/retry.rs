//! The one retry policy: exponential backoff with FULL jitter (sleep a uniform random time in
//! `[0, min(cap, base·2ⁿ)]`), at least as long as a `Retry-After` header asks (up to a bound), on every
//! failure [`classify`] calls transient, for a bounded number of attempts.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use super::classify::{classify, Class, Problem};

/// Backoff settings for one request.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries per request, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// Longest `Retry-After` honoured (a longer one is cut to this).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(32),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in `[0, min(cap, base·2^retry)]`, but never shorter than `retry_after`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.base.saturating_mul(1u32 << retry.min(20));
        let ceiling = exp.min(self.cap);
        let jitter = Duration::from_secs_f64(rand::rng().random_range(0.0..=ceiling.as_secs_f64()));
        match retry_after {
            Some(ra) => jitter.max(ra.min(self.max_retry_after)),
            None => jitter,
        }
    }

    /// Runs `attempt` until it succeeds, fails in a way [`classify`] does not call transient, or
    /// `max_attempts` are used; sleeps [`RetryPolicy::delay`] between tries and calls `on_retry` (with the
    /// failure) before each sleep.
    pub async fn run<T, Fut>(
        &self,
        mut attempt: impl FnMut() -> Fut,
        mut on_retry: impl FnMut(u32, &Problem, Duration),
    ) -> Result<T, Problem>
    where
        Fut: Future<Output = Result<T, Problem>>,
    {
        let mut tries = 0u32;
        loop {
            let problem = match attempt().await {
                Ok(v) => return Ok(v),
                Err(p) => p,
            };
            tries += 1;
            if tries >= self.max_attempts.max(1) || classify(&problem) != Class::Transient {
                return Err(problem);
            }
            let delay = self.delay(tries - 1, problem.retry_after);
            on_retry(tries, &problem, delay);
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_within_bounds_and_honours_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(5),
        };
        let mut seen_small = false;
        for retry in 0..8 {
            for _ in 0..200 {
                let d = p.delay(retry, None);
                let ceiling = (100u64 << retry).min(1000);
                assert!(d <= Duration::from_millis(ceiling), "retry {retry}: {d:?}");
                seen_small |= d < Duration::from_millis(ceiling / 4);
            }
        }
        assert!(seen_small, "full jitter must reach below a quarter of the ceiling");
        for _ in 0..50 {
            assert!(p.delay(0, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
            assert_eq!(p.delay(0, Some(Duration::from_secs(50))), Duration::from_secs(5));
        }
    }

    #[tokio::test]
    async fn runs_until_success_or_a_failure_that_is_not_transient() {
        let ms = Duration::from_millis;
        let p = RetryPolicy { max_attempts: 4, base: ms(1), cap: ms(2), max_retry_after: ms(2) };
        let mut calls = 0;
        let ok: Result<u32, Problem> = p
            .run(
                || {
                    calls += 1;
                    let n = calls;
                    async move {
                        if n < 3 {
                            Err(Problem::http(503, None, ""))
                        } else {
                            Ok(n)
                        }
                    }
                },
                |_, _, _| {},
            )
            .await;
        assert_eq!(ok, Ok(3));
        let mut calls = 0;
        let fatal: Result<(), Problem> = p
            .run(
                || {
                    calls += 1;
                    async { Err(Problem::http(501, None, "")) }
                },
                |_, _, _| {},
            )
            .await;
        assert_eq!((fatal.unwrap_err().http_status, calls), (Some(501), 1));
        let mut retries = Vec::new();
        let gave_up: Result<(), Problem> =
            p.run(|| async { Err(Problem::http(429, None, "")) }, |n, _, _| retries.push(n)).await;
        assert!(gave_up.is_err());
        assert_eq!(retries, [1, 2, 3], "four attempts, three sleeps");
    }
}
