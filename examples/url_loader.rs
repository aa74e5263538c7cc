//! Load many URLs in parallel: the `concurrent.futures` docs' `ThreadPoolExecutor` example, for
//! real and offline.
//!
//! With no URLs it starts its own HTTP server on 127.0.0.1, which answers each page after a delay
//! (default 50 ms) with a body of a given size, plus three URLs that fail on purpose (a 403, a
//! malformed URL, and a refused connection to a closed local port). It fetches 200 URLs
//! sequentially, then with 8, 32 and 64 threads through `submit` + `as_completed` over
//! `(url, future)` pairs (Python's `{executor.submit(load_url, url): url for url in urls}`; the
//! submitted function captures the shared HTTP agent, as a Python lambda would, and returns the
//! client's own `ureq::Error`: a thread pool needs no serde), printing
//! `<url> page is N bytes` or `<url> generated an error: ...` for each, and a table of times.
//! On a terminal, a progress bar (stderr) follows each run, moved on by `as_completed`.
//!
//! ```text
//! cargo run --release --example url_loader                       # the local benchmark
//! cargo run --release --example url_loader -- --count 50 --delay-ms 20 --body-bytes 4096
//! cargo run --release --example url_loader -- --workers 16 --timeout 5 --out pages URL...
//! cargo run --release --example url_loader -- --file urls.txt --quiet
//! ```
//!
//! Nothing leaves the machine unless you pass URLs. Plain HTTP only (enable ureq's `rustls`
//! feature for https).

mod common;

use common::progress;
use common::server::{LocalServer, agent};
use concurrent_futures::{Future, ThreadPoolExecutor, as_completed};
use indicatif::ProgressBar;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What the command line asked for.
struct Options {
    urls: Vec<String>,
    workers: Option<usize>,
    timeout: Duration,
    out: Option<PathBuf>,
    quiet: bool,
    count: usize,
    delay: Duration,
    body_bytes: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        urls: Vec::new(),
        workers: None,
        timeout: Duration::from_secs(10),
        out: None,
        quiet: false,
        count: 200,
        delay: Duration::from_millis(50),
        body_bytes: 1024,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let number = |name: &str, text: String| -> Result<u64, String> {
            text.parse().map_err(|_| format!("{name} takes a whole number, not {text:?}"))
        };
        match arg.as_str() {
            "--workers" => options.workers = Some(number("--workers", value("--workers")?)?.max(1) as usize),
            "--timeout" => options.timeout = Duration::from_secs(number("--timeout", value("--timeout")?)?),
            "--out" => options.out = Some(PathBuf::from(value("--out")?)),
            "--quiet" => options.quiet = true,
            "--count" => options.count = number("--count", value("--count")?)? as usize,
            "--delay-ms" => {
                options.delay = Duration::from_millis(number("--delay-ms", value("--delay-ms")?)?)
            }
            "--body-bytes" => options.body_bytes = number("--body-bytes", value("--body-bytes")?)? as usize,
            "--file" => {
                let path = value("--file")?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
                let urls = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
                options.urls.extend(urls.map(str::to_owned));
            }
            "--help" | "-h" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            url => options.urls.push(url.to_owned()),
        }
    }
    Ok(options)
}

/// Starts the local server; returns the URLs to fetch: `count` pages, three of them failing on
/// purpose (a 403, a malformed URL, a refused connection to a closed local port).
fn local_urls(options: &Options) -> Result<Vec<String>, String> {
    let server = LocalServer::start(options.delay, options.body_bytes)?;
    // A port nothing listens on: bind one, then let it go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a closed port: {e}"))?;
    let mut urls: Vec<String> = (0..options.count.saturating_sub(3)).map(|i| server.page_url(i)).collect();
    urls.push(server.forbidden_url());
    urls.push("http://[::1/malformed url".to_owned());
    urls.push(format!("http://127.0.0.1:{closed}/refused"));
    Ok(urls)
}

/// Fetches one URL (and saves its body under `out`, if given); the body's length, or the HTTP
/// client's own error (a failed save is its `Io` error).
fn load_url(
    agent: &ureq::Agent,
    url: &str,
    index: usize,
    out: Option<&PathBuf>,
) -> Result<usize, ureq::Error> {
    let mut response = agent.get(url).call()?;
    let body = response.body_mut().with_config().limit(1 << 30).read_to_vec()?;
    if let Some(dir) = out {
        let name = url.rsplit('/').find(|s| !s.is_empty()).unwrap_or("index");
        let path = dir.join(format!(
            "{index:05}-{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "_")
        ));
        std::fs::write(&path, &body)?;
    }
    Ok(body.len())
}

/// Prints the line for one URL (unless quiet) and moves the bar on; true if the page loaded.
fn report(bar: &ProgressBar, url: &str, result: &Result<usize, ureq::Error>, quiet: bool) -> bool {
    if !quiet {
        match result {
            Ok(bytes) => progress::println(bar, format_args!("{url} page is {bytes} bytes")),
            Err(error) => progress::println(bar, format_args!("{url} generated an error: {error}")),
        }
    }
    bar.inc(1);
    result.is_ok()
}

/// Fetches every URL one after another; (time, pages loaded).
fn sequential(agent: &ureq::Agent, urls: &[String], options: &Options) -> (Duration, usize) {
    let start = Instant::now();
    let bar = progress::bar(urls.len(), "sequential");
    let ok = urls
        .iter()
        .enumerate()
        .filter(|(i, url)| report(&bar, url, &load_url(agent, url, *i, options.out.as_ref()), options.quiet))
        .count();
    bar.finish_and_clear();
    (start.elapsed(), ok)
}

/// Fetches every URL on a pool of `workers` threads: `submit` each, then `as_completed`.
fn threaded(agent: &ureq::Agent, urls: &[String], workers: usize, options: &Options) -> (Duration, usize) {
    let start = Instant::now();
    let bar = progress::bar(urls.len(), &format!("{workers} threads"));
    let pool = ThreadPoolExecutor::new(workers);
    // Python's `executor.submit(load_url, url, 60)`: the function captures the shared agent.
    let load = {
        let (agent, out) = (agent.clone(), options.out.clone());
        move |(i, url): (usize, String)| load_url(&agent, &url, i, out.as_ref())
    };
    // Python's `{executor.submit(load_url, url): url for url in urls}`: each future keeps its url.
    let futures: Vec<(&String, Future<Result<usize, ureq::Error>>)> =
        urls.iter().enumerate().map(|(i, url)| (url, pool.submit(load.clone(), (i, url.clone())))).collect();
    let mut ok = 0;
    for (url, future) in as_completed(futures) {
        match future.result() {
            Ok(result) => ok += usize::from(report(&bar, url, &result, options.quiet)),
            // The task itself failed (it panicked): its url is still known.
            Err(error) => progress::println(&bar, format_args!("{url} generated an error: {error}")),
        }
    }
    bar.finish_and_clear();
    (start.elapsed(), ok)
}

fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("url_loader: {problem}");
            }
            eprintln!(
                "usage: url_loader [--workers N] [--timeout SECS] [--out DIR] [--quiet] [--file FILE] [URL...]"
            );
            eprintln!("       url_loader [--count N] [--delay-ms MS] [--body-bytes N]   (the local server)");
            std::process::exit(2);
        }
    };
    if let Some(dir) = &options.out {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("url_loader: cannot create {}: {e}", dir.display());
            std::process::exit(2);
        }
    }
    let local = options.urls.is_empty();
    let urls = if local {
        match local_urls(&options) {
            Ok(urls) => urls,
            Err(problem) => {
                eprintln!("url_loader: {problem}");
                std::process::exit(1);
            }
        }
    } else {
        options.urls.clone()
    };
    let agent = agent(options.timeout);

    let mut rows = vec![("sequential".to_owned(), sequential(&agent, &urls, &options))];
    let worker_counts = options.workers.map_or_else(|| vec![8, 32, 64], |n| vec![n]);
    let most_workers = worker_counts.iter().copied().max().unwrap_or(1);
    for workers in worker_counts {
        rows.push((format!("{workers} threads"), threaded(&agent, &urls, workers, &options)));
    }

    println!(
        "\n{} URLs{}:",
        urls.len(),
        if local { format!(", {:?} each from the local server", options.delay) } else { String::new() }
    );
    println!("  {:<12} {:>10} {:>9} {:>8}", "run", "time", "speedup", "loaded");
    let base = rows[0].1.0.as_secs_f64();
    for (name, (time, ok)) in &rows {
        println!(
            "  {name:<12} {:>8.0}ms {:>8.1}x {ok:>8}",
            time.as_secs_f64() * 1e3,
            base / time.as_secs_f64()
        );
    }
    if local {
        // Every request but the malformed and the refused one waits out the server's delay.
        let served = urls.len().saturating_sub(2);
        let ideal = options.delay.as_secs_f64() * served.div_ceil(most_workers) as f64;
        println!(
            "  (ideal with {most_workers} threads: {:.0} ms, one delay for each {most_workers} of the {served} \
             requests the server answers)",
            ideal * 1e3
        );
    }
}
