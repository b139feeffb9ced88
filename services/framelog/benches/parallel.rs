//! `just bench parallel` (`cargo bench -p framelog --bench parallel`): one video encoded by many
//! workers (issue 16), measured on REAL processes: a nats-server and N `framelog serve --only
//! transcoder` processes sharing one media dir, each pinned to one core (`taskset -c k`, one job
//! at a time), fed transcode requests for generated 1080p30 H.264 + AAC sources (1 and 5 minutes;
//! cached under `target/bench-media`). Times run from the request's publish to the
//! `transcode.playable` and `ready.published` events; CPU is the workers' own rusage from `/proc`
//! (the processes plus their reaped ffmpeg children) next to the billed `completed.cpu_seconds`.
//!
//! Parts (`-- --only playable|workers|cpu`, default all): time to playable of both sources on one
//! worker; time to ready of the long source on 1 against 2 workers; the long source's CPU against
//! today's single-process ladder and the seed's one ffmpeg per profile (`parallel/baseline.rs`).
//! `-- --quick`: 20 s and 60 s sources. `-- --minutes 60`: only the time to playable of a
//! 60-minute source (generated once, cached). The chunked path's settings pass through from the
//! environment: `FRAMELOG_TRANSCODE_RANGE_SEGMENTS`, `FRAMELOG_TRANSCODE_ITEM_SLOTS` (default 1).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use framelog_core::media::{FsMediaStore, SharedMediaStore, source_key};
use framelog_events::{AggregateId, Event, TenantId, TranscodeData};
use framelog_tests::NatsServer;
use framelog_tests::media::{VideoSpec, generate_video};
use framelog_tests::tools::workspace_root;
use futures::StreamExt;

#[path = "parallel/baseline.rs"]
mod baseline;

const TENANT: &str = "bench";

/// One `framelog serve --only transcoder` process pinned to a core; killed on drop.
struct WorkerProc {
    child: Child,
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nats-server, the shared media dir and the bench's own platform (to publish requests).
struct Cluster {
    nats: NatsServer,
    platform: framelog_core::Platform,
    media: SharedMediaStore,
    media_root: PathBuf,
    work: tempfile::TempDir,
    _data: tempfile::TempDir,
}

/// Seconds of CPU (user + system, own and reaped children) of process `pid` so far.
fn proc_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    // Fields after the command: state is field 3; utime, stime, cutime, cstime are 14..=17.
    let ticks: u64 =
        rest.split_whitespace().skip(11).take(4).filter_map(|f| f.parse::<u64>().ok()).sum();
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok();
        out.and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().next().unwrap_or("?").to_owned())
        .unwrap_or_else(|_| "?".into())
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

impl Cluster {
    async fn start() -> Cluster {
        let nats = NatsServer::start();
        let (platform, data) = framelog_tests::platform(&nats).await;
        let work = tempfile::Builder::new().prefix("framelog-bench-parallel-").tempdir().unwrap();
        let media_root = work.path().join("media");
        let media: SharedMediaStore = Arc::new(FsMediaStore::new(&media_root).unwrap());
        Cluster { nats, platform, media, media_root, work, _data: data }
    }

    /// `n` transcoder processes named `<label>-<k>`, worker k pinned to core k (mod cores).
    fn workers(&self, label: &str, n: usize) -> Vec<WorkerProc> {
        let bin = env!("CARGO_BIN_EXE_framelog");
        (0..n)
            .map(|k| {
                let name = format!("{label}-{k}");
                let data = self.work.path().join(&name);
                let log = std::fs::File::create(self.work.path().join(format!("{name}.log")));
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", &(k % cores()).to_string(), bin, "serve", "--listen"])
                    .args(["127.0.0.1:0", "--nats-url", &self.nats.url(), "--only", "transcoder"])
                    .arg("--data-dir")
                    .arg(&data)
                    .arg("--media-dir")
                    .arg(&self.media_root)
                    .args(["--transcode-worker-name", &name])
                    .env_remove("FRAMELOG_NATS_URL")
                    .env_remove("RUST_LOG")
                    .env("FRAMELOG_TRANSCODE_ENCODER", "libx264")
                    .env("FRAMELOG_TRANSCODE_CONCURRENCY", "1")
                    .stdout(Stdio::piped())
                    .stderr(log.map(Stdio::from).unwrap_or_else(|_| Stdio::null()));
                if std::env::var_os("FRAMELOG_TRANSCODE_ITEM_SLOTS").is_none() {
                    cmd.env("FRAMELOG_TRANSCODE_ITEM_SLOTS", "1");
                }
                let mut child = cmd.spawn().expect("taskset and the framelog binary");
                let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
                lines
                    .by_ref()
                    .map_while(Result::ok)
                    .find(|l| l.contains("listening on"))
                    .unwrap_or_else(|| panic!("{name} did not start: see {}.log", data.display()));
                std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
                WorkerProc { child }
            })
            .collect()
    }

    /// Stores `source` as video `id`'s source, publishes its transcode request and follows its
    /// events until `ready.published` (or `transcode.playable` when `until_ready` is false).
    async fn transcode(
        &self,
        workers: &[WorkerProc],
        source: &Path,
        id: &str,
        until_ready: bool,
    ) -> Job {
        let key = source_key(TENANT, id);
        let copy = self.work.path().join(format!("{id}.source"));
        std::fs::copy(source, &copy).unwrap();
        self.media.put_file(&key, &copy).await.unwrap();
        let probe = framelog_core::probe::probe(source, Duration::from_secs(60)).await.unwrap();
        let client = self.nats.client().await;
        let mut events = client.subscribe(format!("vid.{TENANT}.*.*.{id}")).await.unwrap();
        let cpu = || workers.iter().map(|w| proc_cpu(w.child.id())).sum::<f64>();
        let cpu_before = cpu();
        let request = Event::new(
            uuid::Uuid::now_v7(),
            time::OffsetDateTime::now_utc(),
            "framelog/bench",
            TenantId::new(TENANT).unwrap(),
            AggregateId::new(id).unwrap(),
            TranscodeData::Requested { source_key: key, probe },
        );
        let started = Instant::now();
        self.platform.events.publish(&request).await.unwrap();
        let mut job = Job::default();
        let limit = Duration::from_secs(4 * 3600);
        while let Ok(Some(m)) = tokio::time::timeout(limit, events.next()).await {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap_or_default();
            let at = started.elapsed().as_secs_f64();
            match m.subject.as_str().split('.').nth(3).unwrap_or_default() {
                "playable" if job.playable.is_none() => {
                    job.playable = Some(at);
                    println!("  {id}: playable at {at:.2} s");
                    if !until_ready {
                        break;
                    }
                }
                "completed" => job.billed_cpu = v["data"]["cpu_seconds"].as_f64().unwrap_or(0.0),
                "published" => {
                    job.ready = Some(at);
                    println!("  {id}: ready at {at:.2} s");
                    break;
                }
                "failed" if v["data"]["permanent"] != true => println!("  {id}: retried: {v}"),
                "failed" | "dead_lettered" => panic!("{id}: {} {v}", m.subject),
                _ => {}
            }
        }
        job.cpu = cpu() - cpu_before;
        // Wall figures mean little on a loaded machine: say how loaded it was.
        println!("  {id}: {:.2} s CPU over the job (load now {})", job.cpu, loadavg());
        job
    }
}

/// What one transcode took, in seconds from its request.
#[derive(Debug, Default)]
struct Job {
    playable: Option<f64>,
    ready: Option<f64>,
    /// The workers' own CPU over the job (processes and reaped children).
    cpu: f64,
    /// `completed.cpu_seconds`, what the tenant is billed.
    billed_cpu: f64,
}

/// A cached generated 1080p30 H.264 + AAC source of `secs` seconds.
fn source(secs: u32) -> PathBuf {
    let dir = workspace_root().join("target/bench-media");
    let path = dir.join(format!("parallel-1080p30-{secs}s.mp4"));
    if !path.exists() {
        println!("generating a {secs} s 1080p30 source (cached in {})...", dir.display());
        std::fs::create_dir_all(&dir).unwrap();
        // Generated aside and renamed: an interrupted run leaves no half-written source.
        let scratch = tempfile::Builder::new().prefix("gen-").tempdir_in(&dir).unwrap();
        let made = if secs >= 600 && secs.is_multiple_of(60) {
            // A long source (only ever packaged by the passthrough) is the 1-minute one
            // repeated by stream copy: seconds to make instead of a long encode.
            let unit = source(60);
            let list = scratch.path().join("list.txt");
            let line = format!("file '{}'\n", unit.display());
            std::fs::write(&list, line.repeat((secs / 60) as usize)).unwrap();
            let out = scratch.path().join("s.mp4");
            let ok = Command::new("ffmpeg")
                .args(["-v", "error", "-f", "concat", "-safe", "0", "-i"])
                .arg(&list)
                .args(["-c", "copy"])
                .arg(&out)
                .status()
                .unwrap();
            assert!(ok.success(), "ffmpeg concat failed");
            out
        } else {
            generate_video(scratch.path(), "s.mp4", &VideoSpec::new(1920, 1080, secs.into()))
        };
        std::fs::rename(made, &path).unwrap();
    }
    path
}

/// Pins every thread of this process (and so the baselines' ffmpeg) to `cpus` (`0`, `0-1`).
fn pin_self(cpus: &str) {
    let pid = std::process::id().to_string();
    let status =
        Command::new("taskset").args(["-a", "-p", "-c", cpus, &pid]).stdout(Stdio::null()).status();
    assert!(status.map(|s| s.success()).unwrap_or(false), "taskset -p failed");
}

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

fn secs(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Some(minutes) = arg("--minutes").and_then(|m| m.parse::<u32>().ok()) {
        return long_playable(minutes).await;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let only = arg("--only");
    let part = |p: &str| only.as_deref().is_none_or(|o| o == p);
    let (short, long) = if quick { (20, 60) } else { (60, 300) };
    let (short_name, long_name) = (label(short), label(long));
    let (short_src, long_src) = (source(short), source(long));
    let cluster = Cluster::start().await;
    println!("load {} on {} cores", loadavg(), cores());

    let (mut p_short, mut one) = (None, None);
    if part("playable") || part("workers") || part("cpu") {
        println!("\n== 1 worker (core 0) ==");
        let w = cluster.workers("one", 1);
        if part("playable") {
            p_short = cluster.transcode(&w, &short_src, "short-1w", true).await.playable;
        }
        let until_ready = part("workers") || part("cpu");
        one = Some(cluster.transcode(&w, &long_src, "long-1w", until_ready).await);
    }
    let one = one.unwrap_or_default();
    if let (true, Some(ps), Some(pl)) = (part("playable"), p_short, one.playable) {
        for (name, len, p) in [(&short_name, short, ps), (&long_name, long, pl)] {
            let (base, ratio) = match mux(len) {
                Some((m, bucket)) => (format!("{m:.1} s (Mux median, {bucket})"), p / m),
                None => ("-".to_owned(), f64::NAN),
            };
            println!("TABLE|time to playable, {name} 1080p30|{p:.2} s|{base}|{ratio:.2}|< 5 s");
        }
        println!(
            "TABLE|time to playable, {long_name} vs {short_name}|{pl:.2} s|{ps:.2} s ({short_name})|{:.2}|<= 1.3",
            pl / ps
        );
    }
    if part("workers") {
        println!("\n== 2 workers (cores 0 and 1) ==");
        let w = cluster.workers("two", 2);
        let two = cluster.transcode(&w, &long_src, "long-2w", true).await;
        let (r1, r2) = (secs(one.ready), secs(two.ready));
        println!("1 worker: {one:?}\n2 workers: {two:?}");
        println!(
            "TABLE|time to ready, {long_name}, 2 workers vs 1|{r2:.2} s|{r1:.2} s (1 worker)|{:.2}|>= 1.8",
            r1 / r2
        );
        println!(
            "TABLE|CPU, {long_name}, 2 workers|{:.2} s (billed {:.2} s)|{:.2} s (1 worker)|{:.2}|-",
            two.cpu,
            two.billed_cpu,
            one.cpu,
            two.cpu / one.cpu
        );
    }
    if part("cpu") {
        println!("\n== baselines on {long_name}, bench process on core 0 (load {}) ==", loadavg());
        pin_self("0");
        let dir = cluster.work.path().join("baselines");
        let single = baseline::single_process(&long_src, &dir).await;
        println!("single-process ladder: {:.2} s wall {:.2} s CPU", single.wall, single.cpu);
        let seed = baseline::seed(&long_src, &dir).await;
        println!("seed ladder: {:.2} s wall {:.2} s CPU", seed.wall, seed.cpu);
        pin_self(&format!("0-{}", cores() - 1));
        println!("ours, 1 worker: {one:?}");
        println!(
            "TABLE|ladder CPU, {long_name}, ours vs single process|{:.2} s (billed {:.2} s)|{:.2} s (1 ffmpeg, whole ladder + taps)|{:.2}|<= 1.10",
            one.cpu,
            one.billed_cpu,
            single.cpu,
            one.cpu / single.cpu
        );
        println!(
            "TABLE|ladder CPU, {long_name}, vs seed|{:.2} s|{:.2} s (1 ffmpeg/profile + thumbnails from source)|{:.2}|>= 1.3",
            one.cpu,
            seed.cpu,
            seed.cpu / one.cpu
        );
        println!(
            "TABLE|ladder wall, {long_name}, 1 worker vs seed|{:.2} s|{:.2} s (seed, same core)|{:.2}|>= 1.3",
            secs(one.ready),
            seed.wall,
            seed.wall / secs(one.ready)
        );
    }
}

/// Mux's published median time to playable for a video of `secs` seconds, and its bucket.
fn mux(secs: u32) -> Option<(f64, &'static str)> {
    match secs {
        0..=60 => Some((2.0, "< 1 min")),
        300..=1200 => Some((9.0, "5-20 min")),
        3600.. => Some((93.5, "> 60 min")),
        _ => None,
    }
}

fn label(secs: u32) -> String {
    if secs.is_multiple_of(60) { format!("{}-min", secs / 60) } else { format!("{secs}-s") }
}

/// `--minutes M`: the time to playable of one M-minute source on one worker, once.
async fn long_playable(minutes: u32) {
    let src = source(minutes * 60);
    let cluster = Cluster::start().await;
    println!("== {minutes}-min source, 1 worker (load {}) ==", loadavg());
    let w = cluster.workers("long", 1);
    let job = cluster.transcode(&w, &src, &format!("m{minutes}"), false).await;
    let p = secs(job.playable);
    let (m, bucket) = mux(minutes * 60).unwrap_or((93.5, "> 60 min"));
    println!(
        "TABLE|time to playable, {minutes}-min 1080p30|{p:.2} s|{m:.1} s (Mux median, {bucket})|{:.2}|< {m:.1} s",
        p / m
    );
}
