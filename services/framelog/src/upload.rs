//! `framelog upload <file>`: uploads a video with the REST chunked protocol, several chunks in
//! flight, a progress bar, and resume: running the same command again continues where the
//! last run stopped (the upload id is remembered per file in the state directory).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cli::UploadArgs;

pub mod plan;

use plan::Plan;

/// What is remembered about an upload in progress.
#[derive(Debug, Serialize, Deserialize)]
struct Remembered {
    server: String,
    upload_id: String,
    video_id: String,
    size: u64,
    sha256: String,
}

fn state_file(dir: &Path, server: &str, file: &Path, size: u64, mtime: u64) -> PathBuf {
    let key = format!("{server}\n{}\n{size}\n{mtime}", file.display());
    dir.join(format!("{}.json", &hex::encode(Sha256::digest(key.as_bytes()))[..32]))
}

/// The default state directory: `$XDG_CACHE_HOME/framelog/uploads` or `~/.cache/...`.
pub fn default_state_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("framelog/uploads")
}

async fn api_error(res: reqwest::Response) -> anyhow::Error {
    let status = res.status();
    let body = plan::json(res).await.unwrap_or_default();
    let msg = plan::printable(body["error"]["message"].as_str().unwrap_or("no message"));
    let code = plan::printable(body["error"]["code"].as_str().unwrap_or("error"));
    anyhow::anyhow!("server answered {status}: {code}: {msg}")
}

fn sha256_file(path: &Path, bar: &ProgressBar) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        bar.inc(n as u64);
    }
    Ok(hex::encode(h.finalize()))
}

/// Runs `framelog upload`.
pub async fn upload(args: UploadArgs) -> anyhow::Result<()> {
    let server = args.server.trim_end_matches('/').to_owned();
    let key =
        args.api_key.clone().context("an API key is needed: --api-key or FRAMELOG_API_KEY")?;
    let meta = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", args.file.display());
    }
    let size = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let path = args.file.canonicalize()?;
    let state_dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
    std::fs::create_dir_all(&state_dir)?;
    let state_path = state_file(&state_dir, &server, &path, size, mtime);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;
    let auth = format!("Bearer {key}");

    let remembered: Option<Remembered> =
        std::fs::read(&state_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let mut resume = None;
    if let Some(r) = remembered {
        let res = http
            .get(format!("{server}/v1/videos/upload/{}", r.upload_id))
            .header("authorization", &auth)
            .send()
            .await?;
        if res.status().is_success() && r.size == size {
            let status = plan::json(res).await?;
            match status["state"].as_str() {
                Some("open") => resume = Some((r, status)),
                Some("completed") => {
                    print_done(&server, &r.video_id);
                    let _ = std::fs::remove_file(&state_path);
                    return Ok(());
                }
                _ => {}
            }
        }
    }
    let (r, plan) = match resume {
        Some((r, status)) => {
            let plan = Plan::from_answer(&status, size)?;
            eprintln!(
                "resuming upload {} ({} of {} chunks already there)",
                r.upload_id,
                plan.total_chunks - plan.missing_chunks(),
                plan.total_chunks
            );
            (r, plan)
        }
        None => {
            let bar = bar(size, "hashing");
            let p = path.clone();
            let sha256 = tokio::task::spawn_blocking({
                let bar = bar.clone();
                move || sha256_file(&p, &bar)
            })
            .await??;
            bar.finish_and_clear();
            let filename = path.file_name().and_then(|n| n.to_str()).unwrap_or("upload").to_owned();
            let res = http
                .post(format!("{server}/v1/videos/upload"))
                .header("authorization", &auth)
                .json(&serde_json::json!({"filename": filename, "size": size, "sha256": sha256}))
                .send()
                .await?;
            if !res.status().is_success() {
                return Err(api_error(res).await);
            }
            let created = plan::json(res).await?;
            // Checked before anything is remembered: a bad answer leaves no state behind.
            let plan = Plan::from_answer(&created, size)?;
            let r = Remembered {
                server: server.clone(),
                upload_id: plan::id(&created, "upload_id")?.to_owned(),
                video_id: plan::id(&created, "video_id")?.to_owned(),
                size,
                sha256,
            };
            std::fs::write(&state_path, serde_json::to_vec(&r)?)?;
            (r, plan)
        }
    };
    let bar = bar(size, "uploading");
    bar.set_position(plan.bytes_present(size));
    let file = Arc::new(std::fs::File::open(&path)?);
    let results = futures::stream::iter(plan.chunks())
        .map(|n| {
            let (http, file, auth, bar) = (http.clone(), file.clone(), auth.clone(), bar.clone());
            let url = format!("{server}/v1/videos/upload/{}/chunk/{n}", r.upload_id);
            let (off, len) = plan.span(n, size);
            async move {
                let buf = tokio::task::spawn_blocking(move || {
                    let mut b = vec![0u8; len];
                    file.read_exact_at(&mut b, off).map(|_| b)
                })
                .await??;
                let digest = hex::encode(Sha256::digest(&buf));
                let body = bytes::Bytes::from(buf);
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let res = http
                        .put(&url)
                        .header("authorization", &auth)
                        .header("x-chunk-sha256", &digest)
                        .body(body.clone())
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().is_success() => break,
                        Ok(r) if r.status().is_client_error() => return Err(api_error(r).await),
                        Ok(_) | Err(_) if attempt < 5 => {
                            tokio::time::sleep(Duration::from_millis(500 * attempt)).await
                        }
                        Ok(r) => return Err(api_error(r).await),
                        Err(e) => return Err(e.into()),
                    }
                }
                bar.inc(len as u64);
                Ok::<(), anyhow::Error>(())
            }
        })
        .buffer_unordered(args.parallel.max(1))
        .collect::<Vec<_>>()
        .await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        bar.abandon();
        bail!("{e:#}\nrun the same command again to resume");
    }
    bar.finish_and_clear();
    let res = http
        .post(format!("{server}/v1/videos/upload/{}/complete", r.upload_id))
        .header("authorization", &auth)
        .send()
        .await?;
    if !res.status().is_success() {
        let e = api_error(res).await;
        let _ = std::fs::remove_file(&state_path);
        return Err(e);
    }
    let _ = std::fs::remove_file(&state_path);
    print_done(&server, &r.video_id);
    Ok(())
}

fn bar(len: u64, what: &'static str) -> ProgressBar {
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    b.set_message(what);
    b
}

fn print_done(server: &str, video: &str) {
    println!("video_id: {video}");
    println!("watch: {server}/watch/{video}");
}
