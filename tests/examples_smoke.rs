//! Runs the examples in a quick mode against their own local server (nothing leaves the
//! machine) and checks what they print. `cargo test` builds the examples before the tests.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long an example run through [`output_within_deadline`] may take before its test gives up.
const EXAMPLE_DEADLINE: Duration = Duration::from_secs(120);

/// `target/<profile>/examples/<name>`, next to this test's own `deps` folder. A full
/// `cargo test` has built it already; a run of this test alone builds it here.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let mut build = Command::new(option_env!("CARGO").unwrap_or("cargo"));
        build.args(["build", "--example", name]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(build.status().expect("cargo runs").success(), "building example {name} failed");
    }
    path
}

/// Runs example `name` with `args` to its end and returns what it printed, like
/// `Command::output`, but bounded: see [`output_within_deadline`].
fn run_example(name: &str, args: &[&str]) -> Output {
    output_within_deadline(Command::new(example(name)).args(args))
}

/// `command.output()`, bounded: the example is killed, and the test fails, if it has not
/// ended within [`EXAMPLE_DEADLINE`] (a hang fails its test instead of stalling the suite).
fn output_within_deadline(command: &mut Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example is built and starts");
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        unreachable!("both are piped");
    };
    // Both pipes are read to their end on threads of their own, so that neither fills up; the
    // ends arrive through the channel, which is waited on with the deadline.
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let errors = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            text
        });
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        let _ = done_tx.send((text, errors.join().unwrap_or_default()));
    });
    match done.recv_timeout(EXAMPLE_DEADLINE) {
        Ok((stdout, stderr)) => {
            // Both pipes are closed: the example has ended (or is ending) on its own.
            let status = child.wait().expect("the example's exit status");
            Output { status, stdout, stderr }
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not end within {EXAMPLE_DEADLINE:?}: killed");
        }
    }
}

#[test]
fn url_loader_prints_pages_planted_errors_and_a_table() {
    let output = run_example("url_loader", &["--count", "20", "--delay-ms", "5", "--workers", "8"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "url_loader failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // 17 pages and 3 planted failures, once sequentially and once on 8 threads.
    assert_eq!(stdout.lines().filter(|l| l.ends_with(" page is 1024 bytes")).count(), 34, "{stdout}");
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains(" generated an error: ")).collect();
    assert_eq!(errors.len(), 6, "{stdout}");
    assert!(errors.iter().any(|l| l.contains("/forbidden") && l.contains("403")), "{errors:?}");
    assert!(errors.iter().any(|l| l.contains("malformed")), "{errors:?}");
    assert!(errors.iter().any(|l| l.contains("/refused") && l.contains("refused")), "{errors:?}");
    assert!(stdout.contains("sequential") && stdout.contains("8 threads"), "{stdout}");
}

#[test]
fn url_loader_saves_bodies_with_out() {
    let dir = std::env::temp_dir().join(format!("url_loader_out_{}", std::process::id()));
    let output = output_within_deadline(
        Command::new(example("url_loader"))
            .args(["--count", "5", "--delay-ms", "1", "--workers", "2", "--quiet", "--out"])
            .arg(&dir),
    );
    assert!(output.status.success());
    let saved = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(saved, 2, "the 2 pages that load are saved (once per run, same names)");
}

#[test]
fn url_loader_reads_a_url_file_and_reports_every_failure() {
    // No server needed: both URLs fail without leaving the machine (port 1 is closed).
    let file = std::env::temp_dir().join(format!("url_loader_urls_{}.txt", std::process::id()));
    std::fs::write(&file, "# a comment\n\nhttp://127.0.0.1:1/closed\n  http://[::1/bad  \n")
        .expect("writable");
    let output = output_within_deadline(
        Command::new(example("url_loader")).args(["--workers", "2", "--timeout", "5", "--file"]).arg(&file),
    );
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "errors are reported per URL, never fatal: {stdout}");
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains(" generated an error: ")).collect();
    assert_eq!(errors.len(), 4, "2 URLs, sequentially and on 2 threads: {stdout}");
    assert!(errors.iter().any(|l| l.starts_with("http://127.0.0.1:1/closed ")), "{errors:?}");
    assert!(errors.iter().any(|l| l.starts_with("http://[::1/bad ")), "trimmed: {errors:?}");
    assert!(!stdout.contains("comment"), "comment lines are skipped: {stdout}");
}

#[test]
fn url_loader_refuses_bad_options_clearly() {
    let output = run_example("url_loader", &["--workers", "many"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--workers takes a whole number"));
}

#[test]
#[cfg(all(feature = "process", feature = "progress"))]
fn compare_executors_prints_a_table_and_writes_a_well_formed_svg() {
    let svg = std::env::temp_dir().join(format!("compare_{}.svg", std::process::id()));
    let output = output_within_deadline(
        Command::new(example("compare_executors")).args(["--quick", "--delay-ms", "2", "--out"]).arg(&svg),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.matches("warm-up (").count(), 2, "both pairs of pools are warmed up: {stdout}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with(char::is_numeric)).collect();
    assert_eq!(rows.len(), 3, "one row for each N of --quick: {stdout}");
    assert!(rows.iter().all(|r| r.matches("ms").count() == 4), "{rows:?}");
    let chart = std::fs::read_to_string(&svg).expect("the chart was written");
    let _ = std::fs::remove_file(&svg);
    assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"), "a complete SVG document");
    for label in ["threads", "processes", "I/O-bound", "CPU-bound", "tasks (N)"] {
        assert!(chart.contains(label), "the chart shows {label:?}");
    }
    assert!(chart.matches("<polyline").count() >= 4, "four lines: threads and processes, twice");
}

#[test]
#[cfg(feature = "process")]
fn async_service_kills_runaways_at_the_deadline_and_keeps_serving() {
    let output = run_example("async_service", &["--requests", "60", "--deadline-ms", "150", "--gap-ms", "4"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "async_service failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let row = |label: &str| -> Vec<String> {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {label} |")))
            .unwrap_or_else(|| panic!("{stdout}"));
        line.split('|').map(|cell| cell.trim().to_owned()).filter(|cell| !cell.is_empty()).collect()
    };
    let count = |cell: &str| -> usize { cell.parse().unwrap_or_else(|_| panic!("{cell:?} in {stdout}")) };
    let late = |cell: &str| -> (usize, usize) {
        let (runaway, other) = cell.split_once(" / ").unwrap_or_else(|| panic!("{cell:?} in {stdout}"));
        (count(runaway), count(other))
    };
    // Requests 24 and 49 never finish, request 39 crashes its worker. Which other requests
    // miss the deadline depends on the machine's speed; these do not:
    let killing = row("`kill_on_drop()`");
    let (runaways, others) = late(&killing[5]);
    assert_eq!(runaways, 2, "a runaway never answers: {stdout}");
    assert_eq!(
        count(&killing[2]) + runaways + others + count(&killing[6]),
        60,
        "every request ended: {stdout}"
    );
    // Without kill_on_drop both runaways keep their workers: the ten requests queued behind
    // the second one can never be answered.
    let plain = row("plain `.await`");
    let (runaways, others) = late(&plain[5]);
    assert_eq!(runaways, 2, "{stdout}");
    assert!(others >= 10, "the runaways starve the requests behind them: {stdout}");
    // On a thread pool of one thread, the deadline asks the long job to stop, and it does: the
    // next request is answered (the example asserts it within the deadline).
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("thread pool of 1 thread: the long job missed its 150 ms deadline")
                && l.contains("stopped itself")
                && l.contains("the next request was answered in")),
        "{stdout}"
    );
}

#[test]
#[cfg(feature = "process")]
fn dashboard_shows_the_counts_as_they_move_and_they_add_up() {
    let output = run_example("dashboard", &["20"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "dashboard failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Piped, it prints a plain line each time the counts change, with no terminal codes.
    assert!(!stdout.contains('\r') && !stdout.contains('\x1b'), "{stdout:?}");
    let counts: Vec<&str> = stdout.lines().filter(|l| l.starts_with('[')).collect();
    assert!(counts.len() >= 2, "the counts were shown as they moved: {stdout}");
    let last = counts.last().copied().unwrap_or_default();
    for settled in ["] 20/20 ", "busy 0", "queued  0", "completed 18", "failed 2", "cancelled 0"] {
        assert!(last.contains(settled), "{settled:?} in the last counts: {stdout}");
    }
    // Jobs 3 and 13 never end: the task timeout kills them, and their workers are replaced.
    let summary =
        stdout.lines().find(|l| l.starts_with("20 tasks in ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(summary.contains(": 18 completed, 2 killed by the task timeout, 0 other errors; "), "{summary}");
    let replaced = summary
        .split("; ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(" workers replaced"))
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(
        (1..=2).contains(&replaced),
        "each killed worker is replaced (the last one maybe later): {summary}"
    );
    assert!(
        stdout.contains("the counts add up: completed + failed == 20, queued == 0, busy == 0"),
        "{stdout}"
    );
}
