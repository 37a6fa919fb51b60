//! Choosing a deployment among 100, per strategy (target ≤ 2 µs), with stickiness, and on a
//! route with overflow. A plain timing loop, no
//! framework: `cargo bench -p crossbar --bench choose`. Results go to docs/benchmarks.md.

use crossbar::config::{Strategy, Target as Settings};
use crossbar::routing::deployment::{Deployment, DeploymentState};
use crossbar::routing::{sticky, strategy, Route, Target};
use rand::SeedableRng;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn deployments(n: usize) -> Vec<Deployment> {
    let target = Target::detached("p", "m");
    (0..n)
        .map(|i| {
            let mut settings = Settings::new("p", format!("m{i}"));
            settings.weight = 1 + (i % 5) as u32;
            settings.priority = (i % 3 == 0) as u32;
            if i % 10 == 0 {
                settings.rpm = Some(1_000_000);
            }
            let state = Arc::new(DeploymentState::default());
            state.record_ttft(Duration::from_micros(1000 + (i as u64 * 7919) % 5000));
            if i % 7 == 0 {
                state.health.failure(1, 1, u64::MAX / 2);
            }
            Deployment { target: target.clone(), settings, state }
        })
        .collect()
}

fn main() {
    const N: u32 = 1_000_000;
    let deps = deployments(100);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    println!("choosing among {} deployments ({} calls each)", deps.len(), N);
    for s in [Strategy::Priority, Strategy::Weighted, Strategy::LeastBusy, Strategy::Latency, Strategy::Headroom] {
        let t = Instant::now();
        for _ in 0..N {
            black_box(strategy::choose(black_box(&deps), s, 10, 100, |_| false, &mut rng));
        }
        println!("{s:?}: {:.0} ns", t.elapsed().as_nanos() as f64 / f64::from(N));
    }
    let route = Route {
        name: "bench".into(),
        primary: deps.len(),
        overflow_on: Default::default(),
        deployments: deps,
        strategy: Strategy::Weighted,
        fallbacks: Vec::new(),
        retries: 3,
        sticky: true,
        affinity: Default::default(),
    };
    let body = br#"{"model":"bench","prompt_cache_key":"conversation-1","input":"hello"}"#;
    let key = sticky::session_key(&Default::default(), body, None);
    route.remember(key.unwrap_or(0), 5, 10, 1_000_000);
    let t = Instant::now();
    for _ in 0..N {
        let k = sticky::session_key(&Default::default(), black_box(body), None);
        let preferred = k.and_then(|k| route.recall(k, 10));
        black_box(route.choose(10, 100, |_| false, preferred, &mut rng));
    }
    println!("sticky (key from body + lookup): {:.0} ns", t.elapsed().as_nanos() as f64 / f64::from(N));

    // Overflow: 90 pooled accounts, every one parked (the worst case: the plan reads them all),
    // and 10 API-key deployments; the side plan then the choice on the open side.
    let deps = deployments(100);
    for d in &deps[..90] {
        d.state.health.park(u64::MAX / 2);
    }
    let overflow = Route {
        name: "overflow".into(),
        primary: 90,
        overflow_on: Default::default(),
        deployments: deps,
        strategy: Strategy::Headroom,
        fallbacks: Vec::new(),
        retries: 3,
        sticky: true,
        affinity: Default::default(),
    };
    let t = Instant::now();
    for _ in 0..N {
        let plan = black_box(&overflow).plan(10, None);
        black_box(overflow.choose(10, 100, |i| !plan.prefers(i), None, &mut rng));
    }
    println!("overflow (plan over 90 parked + choose): {:.0} ns", t.elapsed().as_nanos() as f64 / f64::from(N));
}
