//! Reconnection delays, computed exactly as socket.io-client's `Backoff` does (exponential,
//! factor 2, symmetric jitter), with the randomness injected so tests are deterministic.

/// xorshift64*: tiny, good enough for jitter, seeded by the shell.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    /// A float in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn next_u32(&mut self) -> u32 {
        (self.next_f64() * 4_294_967_296.0) as u32
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    pub min_ms: u64,
    pub max_ms: u64,
    /// In [0, 1]: how far a delay may deviate from the exponential value.
    pub randomization: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig { min_ms: 1000, max_ms: 5000, randomization: 0.5 }
    }
}

impl BackoffConfig {
    /// The delay before retry number `attempt` (0-based).
    pub fn delay_ms(&self, attempt: u32, rng: &mut Rng) -> u64 {
        // 2^attempt without std's powi (this crate is no_std); the cap keeps it finite.
        let exp = (1u64 << attempt.min(62)) as f64;
        let mut ms = self.min_ms as f64 * exp;
        let jitter = self.randomization.clamp(0.0, 1.0);
        if jitter > 0.0 {
            let r = rng.next_f64();
            // Non-negative values: truncation is floor.
            let deviation = ((r * jitter * ms) as u64) as f64;
            ms = if ((r * 10.0) as u64) & 1 == 0 { ms - deviation } else { ms + deviation };
        }
        ms.min(self.max_ms as f64).max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_and_caps() {
        let cfg = BackoffConfig::default();
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            let d0 = cfg.delay_ms(0, &mut rng);
            assert!((500..=1500).contains(&d0), "{d0}");
            let d1 = cfg.delay_ms(1, &mut rng);
            assert!((1000..=3000).contains(&d1), "{d1}");
            assert!(cfg.delay_ms(10, &mut rng) <= 5000);
            assert!(cfg.delay_ms(u32::MAX, &mut rng) <= 5000);
        }
        let flat = BackoffConfig { randomization: 0.0, ..cfg };
        assert_eq!([0, 1, 2, 3].map(|a| flat.delay_ms(a, &mut rng)), [1000, 2000, 4000, 5000]);
    }

    #[test]
    fn jitter_spreads_delays() {
        let cfg = BackoffConfig::default();
        let mut rng = Rng::new(42);
        let mut seen = alloc::collections::BTreeSet::new();
        for _ in 0..100 {
            seen.insert(cfg.delay_ms(0, &mut rng));
        }
        assert!(seen.len() > 50, "jitter should spread a herd, got {} distinct", seen.len());
    }
}
