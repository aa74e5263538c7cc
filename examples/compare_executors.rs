//! Threads vs processes, the comparison from the Python articles: N simulated requests
//! (I/O-bound, against a local server) and N CPU-bound jobs, for N = 5 ... 5000, through the
//! same generic code on a `ThreadPoolExecutor` and a `ProcessPoolExecutor`. Prints a table and
//! writes a line chart (SVG). Each pool's workers are started before the table (the warm-up
//! line reports that cost); on a terminal a progress bar, moved on by `Map::on_progress`,
//! follows the run.
//!
//! ```text
//! cargo run --release --example compare_executors                 # under a minute
//! cargo run --release --example compare_executors -- --full       # adds N = 10000
//! cargo run --release --example compare_executors -- --out chart.svg --delay-ms 20
//! ```

mod common;

use common::progress;
use common::server::{LocalServer, agent};
use concurrent_futures::{Executor, ProcessPoolExecutor, ThreadPoolExecutor};
use indicatif::ProgressBar;
use plotters::prelude::*;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One simulated request: fetch a page from the local server; its length (0 on error).
fn fetch(url: String) -> usize {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    let agent = AGENT.get_or_init(|| agent(Duration::from_secs(30)));
    agent.get(&url).call().ok().and_then(|mut r| r.body_mut().read_to_vec().ok()).map_or(0, |b| b.len())
}

/// One CPU-bound job: about 0.8 ms of arithmetic on the 2-core benchmark machine.
fn crunch(seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..400_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

#[derive(Clone, Copy, PartialEq)]
enum Work {
    Io,
    Cpu,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Io => "I/O",
            Work::Cpu => "CPU",
        }
    }
}

/// Runs `n` jobs of `work` on `executor`, moving `bar` on as they finish: the same code for
/// threads and processes.
fn run<E: Executor>(executor: &E, work: Work, n: usize, server: &LocalServer, bar: &ProgressBar) -> Duration {
    let bar = bar.clone();
    let on_progress = move |done: usize| bar.inc(done as u64);
    let start = Instant::now();
    let done = match work {
        Work::Io => executor
            .map(fetch, (0..n).map(|i| server.page_url(i)))
            .on_progress(on_progress)
            .filter(Result::is_ok)
            .count(),
        Work::Cpu => executor.map(crunch, 0..n as u64).on_progress(on_progress).filter(Result::is_ok).count(),
    };
    assert_eq!(done, n, "every job must succeed");
    start.elapsed()
}

/// Starts all of a pool's workers (they start lazily, as work arrives), so that the table
/// compares running work, not starting workers; how long that took.
fn warm_up<E: Executor>(executor: &E) -> Duration {
    let start = Instant::now();
    let nap = |()| std::thread::sleep(Duration::from_millis(20));
    executor.map(nap, vec![(); executor.max_workers()]).for_each(drop);
    start.elapsed()
}

struct Options {
    ns: Vec<usize>,
    delay: Duration,
    out: String,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        ns: vec![5, 10, 50, 100, 500, 1000, 2500, 5000],
        delay: Duration::from_millis(10),
        out: "compare.svg".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--full" => options.ns.push(10_000),
            "--quick" => options.ns = vec![5, 10, 50],
            "--out" => options.out = args.next().ok_or("--out needs a path")?,
            "--delay-ms" => {
                let ms = args.next().ok_or("--delay-ms needs a value")?;
                options.delay = Duration::from_millis(
                    ms.parse().map_err(|_| format!("--delay-ms takes a number, not {ms:?}"))?,
                );
            }
            other => {
                return Err(format!(
                    "unknown option {other} (try --full, --quick, --out PATH, --delay-ms MS)"
                ));
            }
        }
    }
    Ok(options)
}

/// One line of the chart: (N, seconds) points.
type Series = Vec<(f64, f64)>;

fn chart(path: &str, panels: &[(&str, &Series, &Series)]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, (title, threads, processes)) in areas.iter().zip(panels) {
        let max_n = threads.iter().map(|p| p.0).fold(10.0, f64::max) * 1.2;
        let min_n = threads.iter().map(|p| p.0).fold(max_n, f64::min) / 1.2;
        // Both axes logarithmic: N and the times span three orders of magnitude.
        let times = || threads.iter().chain(processes.iter()).map(|p| p.1);
        let max_s = times().fold(0.001, f64::max) * 1.5;
        let min_s = times().fold(max_s, f64::min) / 1.5;
        let mut chart = ChartBuilder::on(area)
            .caption(*title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(75)
            .build_cartesian_2d((min_n..max_n).log_scale(), (min_s..max_s).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("tasks (N)")
            .y_desc("time")
            .x_label_formatter(&|n| format!("{n:.0}"))
            .y_label_formatter(&|s| {
                if *s < 1.0 { format!("{:.0} ms", s * 1e3) } else { format!("{s:.1} s") }
            })
            .draw()?;
        for (points, name, color) in [(threads, "threads", BLUE), (processes, "processes", RED)] {
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn main() {
    concurrent_futures::init(); // first: in a worker process, this runs the worker instead
    let options = parse_options().unwrap_or_else(|problem| {
        eprintln!("compare_executors: {problem}");
        std::process::exit(2);
    });
    let server = LocalServer::start(options.delay, 1024).unwrap_or_else(|problem| {
        eprintln!("compare_executors: {problem}");
        std::process::exit(1);
    });
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    // I/O-bound work wants many workers (they mostly wait); CPU-bound work one per core.
    let io_workers = 32;
    let pools = [
        (Work::Io, ThreadPoolExecutor::new(io_workers), ProcessPoolExecutor::new(io_workers)),
        (Work::Cpu, ThreadPoolExecutor::new(cpus), ProcessPoolExecutor::new(cpus)),
    ];
    for (work, threads, processes) in &pools {
        let (t, p) = (warm_up(threads), warm_up(processes));
        println!(
            "warm-up ({} pools): {} threads in {:.1} ms, {} processes in {:.1} ms (each ran one 20 ms nap)",
            work.name(),
            threads.max_workers(),
            t.as_secs_f64() * 1e3,
            processes.max_workers(),
            p.as_secs_f64() * 1e3
        );
    }
    println!(
        "\n{:>6}  {:>12} {:>12}   {:>12} {:>12}",
        "N", "I/O threads", "I/O procs", "CPU threads", "CPU procs"
    );
    let bar = progress::bar(4 * options.ns.iter().sum::<usize>(), "jobs");
    let mut series: Vec<(Series, Series)> = vec![(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for &n in &options.ns {
        let mut cells = Vec::new();
        for ((work, threads, processes), (thread_points, process_points)) in
            pools.iter().zip(series.iter_mut())
        {
            bar.set_message(format!("N={n}, {} on threads", work.name()));
            let t = run(threads, *work, n, &server, &bar).as_secs_f64();
            bar.set_message(format!("N={n}, {} on processes", work.name()));
            let p = run(processes, *work, n, &server, &bar).as_secs_f64();
            thread_points.push((n as f64, t));
            process_points.push((n as f64, p));
            cells.push(format!("{:>10.1}ms {:>10.1}ms", t * 1e3, p * 1e3));
        }
        progress::println(&bar, format_args!("{n:>6}  {}   {}", cells[0], cells[1]));
    }
    bar.finish_and_clear();
    let io_title = format!("I/O-bound: N requests of {:?} ({io_workers} workers)", options.delay);
    let cpu_title = format!("CPU-bound: N jobs of ~0.8 ms ({cpus} workers)");
    let panels =
        [(io_title.as_str(), &series[0].0, &series[0].1), (cpu_title.as_str(), &series[1].0, &series[1].1)];
    match chart(&options.out, &panels) {
        Ok(()) => println!("\nchart written to {}", options.out),
        Err(e) => {
            eprintln!("compare_executors: cannot write the chart {}: {e}", options.out);
            std::process::exit(1);
        }
    }
}
