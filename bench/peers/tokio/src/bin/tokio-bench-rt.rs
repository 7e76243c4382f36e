//! tokio-bench-rt: the Tokio side of weft-bench-rt's scheduler
//! micro-benchmarks, with the same workloads, subcommands and output.
//!
//!   tokio-bench-rt [--workers N] [--flavour current|multi] [--runs R] BENCH...
//!
//! --workers 1 (the default) builds a current-thread runtime
//! (Builder::new_current_thread), more builds a multi-thread runtime with
//! that many workers, as weft-bench-rt does by default. --flavour says
//! which explicitly: current (--workers must be 1) or multi (a
//! multi-thread runtime even with one worker). Each run prints one line:
//!   bench=<name> impl=tokio metric=<metric> value=<number>
//! The runtime is built before the clock starts and dropped after it
//! stops, as weft-bench-rt does.
//!
//! Shared counters (the latch, the early-timer count) are `&'static`
//! references to leaked boxes, one leak of a few bytes per run: each task
//! holds a plain pointer, as the C side does, rather than an `Arc` whose
//! clone and drop cost two atomic operations per task.
//!
//! Every benchmark checks its result and a failure ends the process with
//! a non-zero status: a panic anywhere (a task's included, which Tokio
//! would otherwise catch and leave the latch waiting) exits 1.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, oneshot, Notify};

/// --flavour multi: a multi-thread runtime even for one worker.
static MULTI: AtomicBool = AtomicBool::new(false);

fn runtime(workers: usize) -> Runtime {
    let rt = if workers <= 1 && !MULTI.load(Ordering::Relaxed) {
        Builder::new_current_thread().enable_all().build()
    } else {
        Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    };
    rt.expect("runtime")
}

/// Runs `root` on a fresh runtime and returns the seconds block_on took.
fn run_root<F: Future<Output = ()>>(workers: usize, root: F) -> f64 {
    let rt = runtime(workers);
    let t0 = Instant::now();
    rt.block_on(root);
    let secs = t0.elapsed().as_secs_f64();
    drop(rt);
    secs
}

fn report(name: &str, metric: &str, value: f64) {
    if metric == "wall_s" {
        println!("bench={} impl=tokio metric={} value={:.3}", name, metric, value);
    } else {
        println!("bench={} impl=tokio metric={} value={:.0}", name, metric, value);
    }
}

/// Counts down; whoever takes it to zero wakes the waiter (the weft
/// benchmarks' latch).
struct Latch {
    left: AtomicUsize,
    done: Notify,
}

impl Latch {
    /// A latch that lives for the rest of the process (leaked).
    fn new(n: usize) -> &'static Latch {
        Box::leak(Box::new(Latch {
            left: AtomicUsize::new(n),
            done: Notify::new(),
        }))
    }

    fn count_down(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_one();
        }
    }

    async fn wait(&self) {
        while self.left.load(Ordering::Acquire) != 0 {
            self.done.notified().await;
        }
    }

    /// Ends the process unless every count arrived (exactly).
    fn check(&self, what: &str) {
        let left = self.left.load(Ordering::Acquire);
        if left != 0 {
            eprintln!("tokio-bench-rt: {}: latch left at {}", what, left as isize);
            std::process::exit(1);
        }
    }
}

const SPAWN_MANY: usize = 1_000_000;

fn spawn_many(workers: usize) {
    let secs = run_root(workers, async {
        let l = Latch::new(SPAWN_MANY);
        // spawned from a task, so on a worker (block_on's thread is not one)
        tokio::spawn(async move {
            for _ in 0..SPAWN_MANY {
                tokio::spawn(async move { l.count_down() });
            }
        });
        l.wait().await;
        l.check("spawn_many");
    });
    report("spawn_many", "ops_per_s", SPAWN_MANY as f64 / secs);
}

const YIELD_TASKS: usize = 1000;
const YIELDS: usize = 1000;

fn yield_many(workers: usize) {
    let secs = run_root(workers, async {
        let l = Latch::new(YIELD_TASKS);
        for _ in 0..YIELD_TASKS {
            tokio::spawn(async move {
                for _ in 0..YIELDS {
                    tokio::task::yield_now().await;
                }
                l.count_down();
            });
        }
        l.wait().await;
        l.check("yield_many");
    });
    report("yield_many", "ops_per_s", (YIELD_TASKS * YIELDS) as f64 / secs);
}

const CHAIN: usize = 1_000_000;

fn chain(l: &'static Latch, left: usize) {
    if left == 0 {
        l.count_down();
        return;
    }
    tokio::spawn(async move { chain(l, left - 1) });
}

fn chained_spawn(workers: usize) {
    let secs = run_root(workers, async {
        let l = Latch::new(1);
        tokio::spawn(async move { chain(l, CHAIN - 1) });
        l.wait().await;
        l.check("chained_spawn");
    });
    report("chained_spawn", "ops_per_s", CHAIN as f64 / secs);
}

const PAIRS: usize = 1000;
const ROUNDS: usize = 100;

/// 1,000 pairs of tasks; in each of 100 rounds the pinger sends on a
/// fresh oneshot and the ponger answers on another: one exchange is one
/// round trip. Every round's channels are made inside the timed region.
fn ping_pong(workers: usize) {
    let secs = run_root(workers, async {
        let l = Latch::new(PAIRS * 2);
        for _ in 0..PAIRS {
            let mut ping_tx = Vec::with_capacity(ROUNDS);
            let mut ping_rx = Vec::with_capacity(ROUNDS);
            let mut pong_tx = Vec::with_capacity(ROUNDS);
            let mut pong_rx = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                let (t, r) = oneshot::channel::<u64>();
                ping_tx.push(t);
                ping_rx.push(r);
                let (t, r) = oneshot::channel::<u64>();
                pong_tx.push(t);
                pong_rx.push(r);
            }
            tokio::spawn(async move {
                for (i, (tx, rx)) in ping_tx.into_iter().zip(pong_rx).enumerate() {
                    tx.send(i as u64).expect("ping");
                    let v = rx.await.expect("pong");
                    assert_eq!(v, i as u64 + 1);
                }
                l.count_down();
            });
            tokio::spawn(async move {
                for (rx, tx) in ping_rx.into_iter().zip(pong_tx) {
                    let v = rx.await.expect("ping");
                    tx.send(v + 1).expect("pong");
                }
                l.count_down();
            });
        }
        l.wait().await;
        l.check("ping_pong");
    });
    report("ping_pong", "ops_per_s", (PAIRS * ROUNDS) as f64 / secs);
}

fn spawn_many_remote(workers: usize) {
    let rt = runtime(workers);
    let l = Latch::new(SPAWN_MANY);
    let t0 = Instant::now();
    let handle = rt.handle().clone();
    let spawner = std::thread::spawn(move || {
        for _ in 0..SPAWN_MANY {
            handle.spawn(async move { l.count_down() });
        }
    });
    rt.block_on(async { l.wait().await });
    let secs = t0.elapsed().as_secs_f64();
    spawner.join().expect("spawner");
    drop(rt);
    l.check("spawn_many_remote");
    report("spawn_many_remote", "ops_per_s", SPAWN_MANY as f64 / secs);
}

const TIMERS: usize = 1_000_000;

/// The sleep in ms (1..=1000) of timer `i`; the same sequence as weft's.
fn timer_ms(i: usize) -> u64 {
    let mut x = (i as u64).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 29;
    1 + x % 1000
}

/// Every timer must fire (the latch) and none early; the figure is the
/// wall time (the longest sleep is 1 s of it: lower is better).
fn timers(workers: usize) {
    let early: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let e = early;
    let l = Latch::new(TIMERS);
    let secs = run_root(workers, async move {
        for i in 0..TIMERS {
            tokio::spawn(async move {
                let d = Duration::from_millis(timer_ms(i));
                let start = Instant::now();
                tokio::time::sleep(d).await;
                if start.elapsed() < d {
                    e.fetch_add(1, Ordering::Relaxed);
                }
                l.count_down();
            });
        }
        l.wait().await;
    });
    l.check("timers: not every timer fired");
    let early = early.load(Ordering::Relaxed);
    if early != 0 {
        eprintln!("tokio-bench-rt: timers: {} fired early", early);
        std::process::exit(1);
    }
    report("timers", "wall_s", secs);
}

/// Resident set size in bytes, from /proc/self/statm.
fn rss_bytes() -> f64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: f64 = s.split_whitespace().nth(1).expect("statm").parse().expect("statm");
    pages * page_size() as f64
}

fn page_size() -> usize {
    extern "C" {
        fn getpagesize() -> i32;
    }
    // SAFETY: getpagesize has no preconditions.
    unsafe { getpagesize() as usize }
}

const IDLE_TASKS: usize = 1_000_000;

fn idle_memory(workers: usize) {
    let rt = runtime(workers);
    let l = Latch::new(IDLE_TASKS);
    let per_task = rt.block_on(async move {
        let before = rss_bytes();
        for _ in 0..IDLE_TASKS {
            tokio::spawn(async move {
                l.count_down();
                std::future::pending::<()>().await;
            });
        }
        l.wait().await;
        (rss_bytes() - before) / IDLE_TASKS as f64
    });
    drop(rt);
    l.check("idle_memory");
    report("idle_memory", "bytes_per_task", per_task);
}

const MPSC_PRODUCERS: u64 = 4;
const MPSC_ITEMS: u64 = 1_000_000;

fn mpsc(workers: usize) {
    let secs = run_root(workers, async {
        let (tx, mut rx) = mpsc::channel::<u64>(1024);
        for _ in 0..MPSC_PRODUCERS {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..MPSC_ITEMS {
                    tx.send(i).await.expect("send");
                }
            });
        }
        drop(tx);
        let mut n = 0u64;
        let mut sum = 0u64;
        while let Some(v) = rx.recv().await {
            n += 1;
            sum = sum.wrapping_add(v);
        }
        assert_eq!(n, MPSC_PRODUCERS * MPSC_ITEMS);
        assert_eq!(sum, MPSC_PRODUCERS * (MPSC_ITEMS * (MPSC_ITEMS - 1) / 2));
    });
    report("mpsc", "ops_per_s", (MPSC_PRODUCERS * MPSC_ITEMS) as f64 / secs);
}

const BENCHES: &[(&str, fn(usize))] = &[
    ("spawn_many", spawn_many),
    ("yield_many", yield_many),
    ("chained_spawn", chained_spawn),
    ("ping_pong", ping_pong),
    ("spawn_many_remote", spawn_many_remote),
    ("timers", timers),
    ("idle_memory", idle_memory),
    ("mpsc", mpsc),
];

fn usage() -> ! {
    let names: Vec<&str> = BENCHES.iter().map(|b| b.0).collect();
    eprintln!(
        "usage: tokio-bench-rt [--workers N] [--flavour current|multi] [--runs R] BENCH...\nBENCH: all {}",
        names.join(" ")
    );
    std::process::exit(2);
}

fn main() {
    // A panic on any thread (an assertion in a task included) ends the
    // process with status 1 after the usual message.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::exit(1);
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut workers = 1usize;
    let mut runs = 1usize;
    let mut current = false;
    let mut i = 0;
    while i < args.len() && args[i].starts_with("--") {
        let text = args.get(i + 1).map(|v| v.as_str());
        let val = text.and_then(|v| v.parse::<usize>().ok());
        match (args[i].as_str(), val, text) {
            ("--workers", Some(v), _) if v >= 1 => workers = v,
            ("--runs", Some(v), _) if v >= 1 => runs = v,
            ("--flavour", _, Some("current")) => current = true,
            ("--flavour", _, Some("multi")) => MULTI.store(true, Ordering::Relaxed),
            _ => usage(),
        }
        i += 2;
    }
    if i == args.len() || (current && (workers > 1 || MULTI.load(Ordering::Relaxed))) {
        usage();
    }
    for name in &args[i..] {
        let mut found = false;
        for (bname, run) in BENCHES {
            if name != "all" && name != bname {
                continue;
            }
            found = true;
            for _ in 0..runs {
                run(workers);
            }
        }
        if !found {
            usage();
        }
    }
}
