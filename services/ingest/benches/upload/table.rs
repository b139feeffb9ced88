//! The rows `just bench upload` prints: one table at the end, and one `TABLE|` line per row for
//! `deploy/bench.sh`'s summary.

/// One measured comparison, or why it was not measured.
pub enum Row {
    Measured {
        /// What was measured, e.g. `tus 500 MiB (5 MiB PATCHes)`.
        name: String,
        /// Our throughput, MiB/s.
        ours: f64,
        /// The baseline's throughput, MiB/s.
        baseline: f64,
        /// Who the baseline is, e.g. `@tus/server 2.4 FileStore`.
        baseline_name: String,
        /// The lowest acceptable `ours / baseline`.
        goal: f64,
    },
    Skipped {
        name: String,
        why: String,
    },
}

impl Row {
    pub fn skipped(name: impl Into<String>, why: impl Into<String>) -> Row {
        Row::Skipped { name: name.into(), why: why.into() }
    }
}

/// MiB/s for `bytes` in `d`.
pub fn mibps(bytes: u64, d: std::time::Duration) -> f64 {
    bytes as f64 / 1048576.0 / d.as_secs_f64()
}

/// Prints the table and the `TABLE|measure|ours|baseline|ratio|goal` lines.
pub fn print(rows: &[Row]) {
    println!();
    println!("| row | MiB/s ours | MiB/s baseline | ratio | goal |");
    println!("|---|---|---|---|---|");
    for r in rows {
        match r {
            Row::Measured { name, ours, baseline, baseline_name, goal } => {
                let ratio = ours / baseline;
                let verdict = if ratio >= *goal { "met" } else { "NOT met" };
                println!(
                    "| {name} | {ours:.0} | {baseline:.0} ({baseline_name}) | {ratio:.2} | >= {goal:.2} ({verdict}) |"
                );
            }
            Row::Skipped { name, why } => println!("| {name} | skipped: {why} | | | |"),
        }
    }
    for r in rows {
        match r {
            Row::Measured { name, ours, baseline, baseline_name, goal } => println!(
                "TABLE|{name}|{ours:.0} MiB/s|{baseline:.0} MiB/s ({baseline_name})|{:.2}|>= {goal:.2}",
                ours / baseline
            ),
            Row::Skipped { name, why } => println!("TABLE|{name}|skipped: {why}|||"),
        }
    }
}
