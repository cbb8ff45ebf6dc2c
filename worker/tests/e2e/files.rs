//! Files end to end, the same suite on both storages: local disk (URLs
//! signed by the API) and a real SeaweedFS (`weed server -s3`, which really
//! checks presigned signatures and expiry). Contents are made and read back
//! by independent tools (Pillow, Python's `wave` and e-mail header parser:
//! `test-support/files_tools.py`; audio and video by ffmpeg, measured by
//! ffprobe).

use std::{sync::Arc, time::Duration};

use launchpad_domain::{
    files::storage::{self, ObjectKey, Presign, Storage, StorageConfig},
    jobs::{EnqueueCtx, NewJob, enqueue_one},
    kinds,
};
use object_store::ObjectStoreExt;
use reqwest::Method;
use sha2::{Digest, Sha256};
use test_support::{
    SeaweedFs, TestApp, Tokens, WorkerProcess,
    app::{JWT_SECRET, Json, Resp, json},
    eventually,
};

const WAIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Local,
    S3,
}

struct Files {
    app: TestApp,
    admin: Tokens,
    customer: String,
    storage: Arc<dyn Storage>,
    worker_env: Vec<(String, String)>,
    worker: Option<WorkerProcess>,
    _weed: Option<SeaweedFs>,
}

impl Files {
    /// The API on `backend`, a customer, and a worker on the same storage.
    async fn new(backend: Backend) -> Self {
        let mut s = Self::without_worker(backend).await;
        s.start_worker();
        s
    }

    async fn without_worker(backend: Backend) -> Self {
        let weed = match backend {
            Backend::Local => None,
            Backend::S3 => Some(SeaweedFs::start().await),
        };
        let prefix = "tenant-files";
        let app = TestApp::spawn_with(|s| {
            s.webhooks_allow_insecure = true;
            if let Some(w) = &weed {
                s.files.storage = w.storage_config(prefix);
            }
        })
        .await;
        let worker_env = match (&weed, &app.settings.files.storage) {
            (Some(w), _) => w.env(prefix),
            (None, StorageConfig::Local { dir }) => {
                vec![("LAUNCHPAD_STORAGE_DIR".into(), dir.display().to_string())]
            }
            (None, other) => panic!("unexpected storage {other:?}"),
        };
        let storage = storage::build(&app.settings.files.storage, b"test").unwrap();
        let admin = app.admin().await;
        let customer = app.create_customer(&admin, "files").await;
        Self {
            app,
            admin,
            customer,
            storage,
            worker_env,
            worker: None,
            _weed: weed,
        }
    }

    fn start_worker(&mut self) {
        let env: Vec<(&str, &str)> = self
            .worker_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.worker = Some(WorkerProcess::spawn(&self.app.db.url, &env));
    }

    fn url(&self, url: &str) -> String {
        if url.starts_with('/') {
            self.app.url(url)
        } else {
            url.to_string()
        }
    }

    /// Creates a file as admin; returns the answer (201 expected by callers).
    async fn create_as(&self, token: &str, body: Json) -> Resp {
        self.app.post("/api/v1/files", token, &body).await
    }

    async fn create(
        &self,
        filename: &str,
        content_type: &str,
        purpose: &str,
        bytes: &[u8],
        sha: bool,
    ) -> Json {
        let mut body = json!({
            "customer_id": self.customer, "filename": filename, "content_type": content_type,
            "size": bytes.len(), "purpose": purpose,
        });
        if sha {
            body["sha256"] = hex::encode(Sha256::digest(bytes)).into();
        }
        let r = self.create_as(&self.admin.access, body).await;
        r.expect(201);
        assert_eq!(r.body["file"]["status"], "pending", "{}", r.text);
        r.body.clone()
    }

    /// Sends the upload request of `created` with `bytes`.
    async fn put(&self, upload: &Json, bytes: Vec<u8>) -> reqwest::Response {
        assert_eq!(upload["method"], "PUT");
        let mut rb = self
            .app
            .client
            .put(self.url(upload["url"].as_str().unwrap()))
            .body(bytes);
        for (k, v) in upload["headers"].as_object().unwrap() {
            rb = rb.header(k, v.as_str().unwrap());
        }
        rb.send().await.unwrap()
    }

    async fn complete(&self, id: &str) -> Json {
        let r = self
            .app
            .post(
                &format!("/api/v1/files/{id}/complete"),
                &self.admin.access,
                &json!(null),
            )
            .await;
        r.expect(202);
        r.body.clone()
    }

    async fn file(&self, id: &str) -> Resp {
        self.app
            .get(&format!("/api/v1/files/{id}"), &self.admin.access)
            .await
    }

    async fn wait_status(&self, id: &str, status: &str) -> Json {
        eventually(WAIT, &format!("file {id} to be {status}"), || async {
            let r = self.file(id).await;
            (r.body["status"] == status).then(|| r.body.clone())
        })
        .await
    }

    async fn wait_job(&self, id: &str) -> Json {
        eventually(WAIT, &format!("job {id} to finish"), || async {
            let r = self
                .app
                .get(&format!("/api/v1/jobs/{id}"), &self.admin.access)
                .await;
            matches!(
                r.body["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
            .then(|| r.body.clone())
        })
        .await
    }

    /// Uploads through the upload URL and completes; returns the file id.
    async fn upload(
        &self,
        filename: &str,
        content_type: &str,
        purpose: &str,
        bytes: &[u8],
        sha: bool,
    ) -> String {
        let c = self
            .create(filename, content_type, purpose, bytes, sha)
            .await;
        let r = self.put(&c["upload"], bytes.to_vec()).await;
        assert!(r.status().is_success(), "upload: {}", r.status());
        let id = c["file"]["id"].as_str().unwrap().to_string();
        self.complete(&id).await;
        id
    }

    async fn get_url(&self, url: &str) -> reqwest::Response {
        self.app.client.get(self.url(url)).send().await.unwrap()
    }

    fn key(&self, id: &str) -> ObjectKey {
        ObjectKey::of(self.customer.parse().unwrap(), id.parse().unwrap())
    }

    async fn stored(&self, key: &ObjectKey) -> bool {
        match self.storage.objects().head(&self.storage.path(key)).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => panic!("head {key}: {e}"),
        }
    }
}

fn pdf(n: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.4\n".to_vec();
    let mut x: u32 = 0x1234_5678;
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push((x >> 24) as u8);
    }
    v
}

fn tool(args: &[&str]) -> Json {
    let out = std::process::Command::new(test_support::smtp::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../test-support/files_tools.py"
        ))
        .args(args)
        .output()
        .expect("run files_tools.py");
    assert!(
        out.status.success(),
        "files_tools.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        Json::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Makes a file with `files_tools.py make-…` and returns its bytes.
fn made(args: &[&str]) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!("lp-made-{}", ulid::Ulid::generate()));
    let p = path.to_str().unwrap();
    let mut a = args.to_vec();
    a.push(p);
    tool(&a);
    let b = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    b
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn local() {
                    super::$name(super::Backend::Local).await
                }
                #[tokio::test]
                async fn s3() {
                    super::$name(super::Backend::S3).await
                }
            }
        )*
    };
}

both!(
    presigned_round_trip_gives_identical_bytes,
    tampered_or_expired_urls_are_refused,
    a_body_over_the_declared_size_is_refused_midstream_and_nothing_kept,
    bytes_that_are_not_the_declared_type_are_rejected,
    a_sha256_mismatch_is_rejected,
    image_facts_and_thumbnail,
    wav_duration_and_format,
    audio_and_video_facts_agree_with_ffprobe,
    complete_before_upload_rejects_once_without_retrying,
    delete_while_processing,
    orphan_cleanup_removes_orphans_and_strays_and_keeps_attached_files,
);

async fn presigned_round_trip_gives_identical_bytes(b: Backend) {
    let f = Files::new(b).await;
    f.app
        .post(
            "/api/v1/webhooks/endpoints",
            &f.admin.access,
            &json!({"customer_id": f.customer, "url": "http://127.0.0.1:9/hook", "event_types": ["file.ready"]}),
        )
        .await
        .expect(201);
    let bytes = pdf(300_000);
    let name = "Résumé – Q3 ✓ \"final\".pdf";
    let c = f
        .create(name, "application/pdf", "asset", &bytes, true)
        .await;
    let id = c["file"]["id"].as_str().unwrap();
    assert!(c["upload"]["expires_at"].is_string());
    assert_eq!(c["upload"]["headers"]["content-type"], "application/pdf");
    let r = f.put(&c["upload"], bytes.clone()).await;
    assert!(r.status().is_success(), "{}", r.status());
    let job = f.complete(id).await;
    // Completing again answers the same job.
    let again = f.complete(id).await;
    assert_eq!(again["id"], job["id"]);
    let file = f.wait_status(id, "ready").await;
    assert_eq!(file["detected_type"], "application/pdf");
    assert_eq!(file["filename"], name);
    assert_eq!(
        f.wait_job(job["id"].as_str().unwrap()).await["status"],
        "succeeded"
    );

    // download_url, then the 302 of /content: the same bytes, and a
    // Content-Disposition that a standard parser reads as the original name.
    let direct = f.get_url(file["download_url"].as_str().unwrap()).await;
    assert_eq!(direct.status(), 200);
    let cd = direct
        .headers()
        .get("content-disposition")
        .expect("content-disposition")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(direct.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let parsed = tool(&["disposition", &cd]);
    assert_eq!(parsed["disposition"], "attachment", "{cd}");
    assert_eq!(parsed["filename"], name, "{cd}");
    assert!(parsed["fallback"].as_str().unwrap().is_ascii());
    let r = f
        .app
        .get(&format!("/api/v1/files/{id}/content"), &f.admin.access)
        .await;
    r.expect(302);
    let via = f.get_url(r.header("location").unwrap()).await;
    assert_eq!(via.status(), 200);
    assert_eq!(via.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // The key is ours, never the filename.
    assert!(f.stored(&f.key(id)).await);
    // file.ready was recorded with the file as the API shows it.
    let data: Json = sqlx::query_scalar(
        "SELECT payload -> 'data' FROM webhook_messages WHERE event_type = 'file.ready'",
    )
    .fetch_one(&f.app.db.pool)
    .await
    .unwrap();
    assert_eq!(data["id"], id);
    assert_eq!(data["status"], "ready");
    // Listed with its status and purpose filters.
    let list = f
        .app
        .get("/api/v1/files?status=ready&purpose=asset", &f.admin.access)
        .await;
    list.expect(200);
    assert_eq!(list.body["items"][0]["id"], id);
    let none = f
        .app
        .get("/api/v1/files?status=pending", &f.admin.access)
        .await;
    assert_eq!(none.body["items"], json!([]));
}

fn tamper(url: &str) -> String {
    // Flip the last character of the signature (the URLs end with it on
    // local storage; S3 puts X-Amz-Signature last as well).
    let mut s = url.to_string();
    let last = s.pop().unwrap();
    s.push(if last == '0' { '1' } else { '0' });
    s
}

async fn tampered_or_expired_urls_are_refused(b: Backend) {
    let f = Files::new(b).await;
    let bytes = pdf(10_000);
    let c = f
        .create("a.pdf", "application/pdf", "asset", &bytes, false)
        .await;
    let id = c["file"]["id"].as_str().unwrap().to_string();
    let mut bad = c["upload"].clone();
    bad["url"] = tamper(c["upload"]["url"].as_str().unwrap()).into();
    assert_eq!(f.put(&bad, bytes.clone()).await.status(), 403);
    // A signed content type is part of the signature.
    let mut other_type = c["upload"].clone();
    other_type["headers"]["content-type"] = "text/plain".into();
    assert_eq!(f.put(&other_type, bytes.clone()).await.status(), 403);
    // Expired, with a valid signature otherwise.
    let key = f.key(&id);
    let local_path = format!("/api/v1/files/{id}/upload");
    let expired = match b {
        Backend::Local => {
            let signer =
                storage::UrlSigner::new(&storage::derive_signing_key(JWT_SECRET.as_bytes()));
            let exp = chrono::Utc::now().timestamp() - 5;
            let ok_but_old = format!(
                "{local_path}?expires={exp}&signature={}",
                signer.sign("PUT", &local_path, exp)
            );
            json!({"method": "PUT", "url": ok_but_old, "headers": {"content-type": "application/pdf"}})
        }
        Backend::S3 => {
            let s = f
                .storage
                .presign(Presign {
                    put: true,
                    key: &key,
                    local_path: &local_path,
                    expires_in: Duration::from_secs(1),
                    content_type: Some("application/pdf"),
                    content_disposition: None,
                })
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(2500)).await;
            json!({"method": "PUT", "url": s.url, "headers": {"content-type": "application/pdf"}})
        }
    };
    let r = f.put(&expired, bytes.clone()).await;
    assert_eq!(r.status(), 403);
    if b == Backend::Local {
        let body: Json = r.json().await.unwrap();
        assert_eq!(body["code"], "url_expired");
        // Another file's URL does not open this one.
        let other = f
            .create("b.pdf", "application/pdf", "asset", &bytes, false)
            .await;
        let mut swapped = c["upload"].clone();
        swapped["url"] = c["upload"]["url"]
            .as_str()
            .unwrap()
            .replace(&id, other["file"]["id"].as_str().unwrap())
            .into();
        assert_eq!(f.put(&swapped, bytes.clone()).await.status(), 403);
    }
    assert!(!f.stored(&key).await, "nothing stored by refused requests");

    // Downloads: the same.
    let ok = f.put(&c["upload"], bytes.clone()).await;
    assert!(ok.status().is_success());
    f.complete(&id).await;
    let file = f.wait_status(&id, "ready").await;
    let url = file["download_url"].as_str().unwrap();
    assert_eq!(f.get_url(url).await.status(), 200);
    assert_eq!(f.get_url(&tamper(url)).await.status(), 403);
}

async fn a_body_over_the_declared_size_is_refused_midstream_and_nothing_kept(b: Backend) {
    let f = Files::new(b).await;
    let declared = pdf(1 << 20);
    let c = f
        .create("big.pdf", "application/pdf", "asset", &declared, false)
        .await;
    let id = c["file"]["id"].as_str().unwrap().to_string();
    // 3 MiB in 64 kB chunks without a Content-Length: refused while streaming.
    let chunks = || {
        let body = pdf(3 << 20);
        let parts: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        reqwest::Body::wrap_stream(futures::stream::iter(parts))
    };
    let direct = f
        .app
        .send_raw(
            Method::POST,
            &format!("/api/v1/files/{id}/content"),
            Some(&f.admin.access),
            &[("content-type", "application/pdf")],
            chunks(),
        )
        .await;
    assert_eq!(direct.expect_problem(413)["code"], "file_too_large");
    // With a Content-Length over the size: refused before reading.
    let r = f
        .app
        .send_raw(
            Method::POST,
            &format!("/api/v1/files/{id}/content"),
            Some(&f.admin.access),
            &[("content-type", "application/pdf")],
            pdf(2 << 20),
        )
        .await;
    r.expect_problem(413);
    // Shorter than declared: refused too.
    let r = f
        .app
        .send_raw(
            Method::POST,
            &format!("/api/v1/files/{id}/content"),
            Some(&f.admin.access),
            &[("content-type", "application/pdf")],
            pdf(1000),
        )
        .await;
    assert_eq!(r.expect_problem(422)["code"], "size_mismatch");
    assert!(!f.stored(&f.key(&id)).await);
    match b {
        Backend::Local => {
            let url = f.url(c["upload"]["url"].as_str().unwrap());
            let r = f
                .app
                .client
                .put(url)
                .header("content-type", "application/pdf")
                .body(chunks())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 413);
            assert!(!f.stored(&f.key(&id)).await);
            // No staging file left behind either.
            let StorageConfig::Local { dir } = &f.app.settings.files.storage else {
                unreachable!()
            };
            let leftovers: Vec<_> = std::fs::read_dir(dir.join(&f.customer))
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
        Backend::S3 => {
            // The store cannot bound a presigned PUT: processing checks the size.
            let r = f.put(&c["upload"], pdf(3 << 20)).await;
            assert!(r.status().is_success());
            f.complete(&id).await;
            let file = f.wait_status(&id, "rejected").await;
            assert!(
                file["rejection_reason"]
                    .as_str()
                    .unwrap()
                    .contains("size mismatch"),
                "{file}"
            );
        }
    }
    // The file stays usable: the right bytes go through.
    if b == Backend::Local {
        let r = f
            .app
            .send_raw(
                Method::POST,
                &format!("/api/v1/files/{id}/content"),
                Some(&f.admin.access),
                &[("content-type", "application/pdf")],
                declared.clone(),
            )
            .await;
        r.expect(200);
        f.complete(&id).await;
        f.wait_status(&id, "ready").await;
    }
}

async fn bytes_that_are_not_the_declared_type_are_rejected(b: Backend) {
    let f = Files::new(b).await;
    f.app
        .post(
            "/api/v1/webhooks/endpoints",
            &f.admin.access,
            &json!({"customer_id": f.customer, "url": "http://127.0.0.1:9/hook"}),
        )
        .await
        .expect(201);
    let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
    elf.resize(4096, 0);
    let id = f
        .upload("invoice.pdf", "application/pdf", "asset", &elf, false)
        .await;
    let file = f.wait_status(&id, "rejected").await;
    assert!(
        file["rejection_reason"]
            .as_str()
            .unwrap()
            .contains("executable"),
        "{file}"
    );
    assert_eq!(file["detected_type"], "application/x-executable");
    assert!(file.get("download_url").is_none());
    let r = f
        .app
        .get(&format!("/api/v1/files/{id}/content"), &f.admin.access)
        .await;
    assert_eq!(r.expect_problem(409)["code"], "file_not_ready");
    let png = made(&["make-png", "8", "8"]);
    let id2 = f
        .upload("photo.jpg", "image/jpeg", "asset", &png, false)
        .await;
    let file = f.wait_status(&id2, "rejected").await;
    assert!(
        file["rejection_reason"]
            .as_str()
            .unwrap()
            .contains("image/png"),
        "{file}"
    );
    let n = f
        .app
        .count("SELECT count(*) FROM webhook_messages WHERE event_type = 'file.rejected'")
        .await;
    assert_eq!(n, 2);
}

async fn a_sha256_mismatch_is_rejected(b: Backend) {
    let f = Files::new(b).await;
    let bytes = pdf(50_000);
    let mut body = json!({
        "customer_id": f.customer, "filename": "x.pdf", "content_type": "application/pdf",
        "size": bytes.len(), "purpose": "asset",
        "sha256": hex::encode(Sha256::digest(b"something else")),
    });
    let r = f.create_as(&f.admin.access, body.clone()).await;
    r.expect(201);
    f.put(&r.body["upload"], bytes.clone()).await;
    let id = r.body["file"]["id"].as_str().unwrap();
    f.complete(id).await;
    let file = f.wait_status(id, "rejected").await;
    assert!(
        file["rejection_reason"]
            .as_str()
            .unwrap()
            .contains("sha256 mismatch"),
        "{file}"
    );
    // Upper-case digests are accepted (and compared lower-case).
    body["sha256"] = hex::encode_upper(Sha256::digest(&bytes)).into();
    let r = f.create_as(&f.admin.access, body).await;
    r.expect(201);
    f.put(&r.body["upload"], bytes).await;
    let id = r.body["file"]["id"].as_str().unwrap();
    f.complete(id).await;
    f.wait_status(id, "ready").await;
}

async fn image_facts_and_thumbnail(b: Backend) {
    let f = Files::new(b).await;
    let jpeg = made(&["make-jpeg", "1200", "800"]);
    let id = f
        .upload("cover.jpg", "image/jpeg", "course_thumbnail", &jpeg, false)
        .await;
    let file = f.wait_status(&id, "ready").await;
    assert_eq!(file["facts"]["width"], 1200);
    assert_eq!(file["facts"]["height"], 800);
    assert_eq!(file["thumbnail"]["width"], 320);
    assert_eq!(file["thumbnail"]["height"], 213);
    let t = f.get_url(file["thumbnail"]["url"].as_str().unwrap()).await;
    assert_eq!(t.status(), 200);
    let path = std::env::temp_dir().join(format!("lp-thumb-{}", ulid::Ulid::generate()));
    std::fs::write(&path, t.bytes().await.unwrap()).unwrap();
    let size = tool(&["image-size", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(size, json!({"format": "PNG", "width": 320, "height": 213}));
    // A PNG smaller than the box keeps its size.
    let png = made(&["make-png", "100", "50"]);
    let id = f
        .upload("small.png", "image/png", "asset", &png, false)
        .await;
    let file = f.wait_status(&id, "ready").await;
    assert_eq!(file["facts"], json!({"width": 100, "height": 50}));
    assert_eq!(file["thumbnail"]["width"], 100);
}

async fn wav_duration_and_format(b: Backend) {
    let f = Files::new(b).await;
    let wav = made(&["make-wav", "2500", "22050", "2"]);
    let id = f
        .upload("intro.wav", "audio/wav", "lesson_media", &wav, true)
        .await;
    let file = f.wait_status(&id, "ready").await;
    assert_eq!(file["detected_type"], "audio/wav");
    assert_eq!(
        file["facts"],
        json!({"duration_ms": 2500, "channels": 2, "sample_rate": 22050, "bits_per_sample": 16})
    );
}

/// Runs ffmpeg (quiet, overwriting) with `args` and the output file;
/// returns its bytes and ffprobe's report of it.
fn ffmpeg(args: &[&str], ext: &str) -> (Vec<u8>, Json) {
    let path = std::env::temp_dir().join(format!("lp-media-{}.{ext}", ulid::Ulid::generate()));
    let run = |cmd: &str, args: &[&str]| {
        let out = std::process::Command::new(cmd)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("{cmd} (Debian package ffmpeg; scripts/test.sh installs it): {e}")
            });
        assert!(
            out.status.success(),
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let p = path.to_str().unwrap();
    let mut a = vec!["-hide_banner", "-loglevel", "error", "-y"];
    a.extend(args);
    a.push(p);
    run("ffmpeg", &a);
    let probe = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-of",
            "json",
            "-show_entries",
            "format=duration:stream=codec_type,channels,sample_rate,width,height",
            p,
        ],
    );
    let b = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    (b, serde_json::from_slice(&probe).unwrap())
}

/// The file's facts are ffprobe's: duration within 60 ms (MP3 and Opus
/// encoder padding, which ffprobe counts differently), channels and sample
/// rate of the audio stream, width and height of the video stream.
fn assert_facts_match(name: &str, facts: &Json, probe: &Json) {
    let streams = probe["streams"].as_array().unwrap();
    let stream = |kind: &str| streams.iter().find(|s| s["codec_type"] == kind);
    let expected: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let got = facts["duration_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("{name}: {facts}"));
    assert!(
        (got as f64 - expected * 1000.0).abs() <= 60.0,
        "{name}: duration {got} ms, ffprobe says {expected} s"
    );
    let a = stream("audio").unwrap();
    assert_eq!(
        facts["channels"], a["channels"],
        "{name}: {facts} vs {probe}"
    );
    assert_eq!(
        facts["sample_rate"].to_string(),
        a["sample_rate"].as_str().unwrap(),
        "{name}: {facts} vs {probe}"
    );
    if let Some(v) = stream("video") {
        assert_eq!(
            (&facts["width"], &facts["height"]),
            (&v["width"], &v["height"]),
            "{name}"
        );
    }
}

async fn audio_and_video_facts_agree_with_ffprobe(b: Backend) {
    let f = Files::new(b).await;
    let sine = |rate: u32, seconds: &str| {
        format!("sine=frequency=440:sample_rate={rate}:duration={seconds}")
    };
    let (s44, s48, s22) = (sine(44_100, "3"), sine(48_000, "3"), sine(22_050, "1.75"));
    // A lyrics tag longer than the head the job reads first: the frames
    // start after it.
    let lyrics = "la ".repeat(25_000);
    let lyrics = format!("lyrics={lyrics}");
    let video = "testsrc2=size=640x360:rate=25:duration=2";
    let cases: Vec<(&str, &str, Vec<u8>, Json)> = vec![
        {
            let (b, p) = ffmpeg(
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    &s44,
                    "-ac",
                    "2",
                    "-c:a",
                    "libmp3lame",
                    "-b:a",
                    "320k",
                    "-metadata",
                    &lyrics,
                ],
                "mp3",
            );
            assert!(b.starts_with(b"ID3") && b[6..10] != [0; 4]);
            ("song.mp3", "audio/mpeg", b, p)
        },
        {
            // ffmpeg's default: the moov box after the media data.
            let (b, p) = ffmpeg(
                &[
                    "-f", "lavfi", "-i", &s44, "-ac", "2", "-c:a", "aac", "-b:a", "256k",
                ],
                "m4a",
            );
            let at = |k: &[u8]| b.windows(4).position(|w| w == k).unwrap();
            assert!(at(b"moov") > at(b"mdat") && at(b"moov") > 64 * 1024);
            ("talk.m4a", "audio/mp4", b, p)
        },
        {
            let (b, p) = ffmpeg(
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    video,
                    "-f",
                    "lavfi",
                    "-i",
                    &sine(48_000, "2"),
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-b:v",
                    "2M",
                    "-pix_fmt",
                    "yuv420p",
                    "-c:a",
                    "aac",
                    "-ac",
                    "1",
                    "-shortest",
                ],
                "mp4",
            );
            ("lesson.mp4", "video/mp4", b, p)
        },
        {
            let (b, p) = ffmpeg(
                &[
                    "-f", "lavfi", "-i", &s48, "-ac", "2", "-c:a", "libopus", "-b:a", "256k",
                ],
                "opus",
            );
            assert!(b.len() > 64 * 1024);
            ("voice.opus", "audio/ogg", b, p)
        },
        {
            let (b, p) = ffmpeg(
                &["-f", "lavfi", "-i", &s22, "-ac", "2", "-c:a", "flac"],
                "flac",
            );
            ("take.flac", "audio/flac", b, p)
        },
        {
            let (b, p) = ffmpeg(
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc2=size=320x240:rate=25:duration=2",
                    "-f",
                    "lavfi",
                    "-i",
                    &sine(48_000, "2"),
                    "-c:v",
                    "libvpx",
                    "-c:a",
                    "libopus",
                    "-ac",
                    "2",
                    "-shortest",
                ],
                "webm",
            );
            ("clip.webm", "video/webm", b, p)
        },
    ];
    let mut ids = Vec::new();
    for (name, content_type, bytes, _) in &cases {
        ids.push(
            f.upload(name, content_type, "lesson_media", bytes, false)
                .await,
        );
    }
    for ((name, content_type, _, probe), id) in cases.iter().zip(&ids) {
        let file = f.wait_status(id, "ready").await;
        let detected = file["detected_type"].as_str().unwrap();
        assert!(
            sniff_agrees(content_type, detected),
            "{name}: detected {detected}"
        );
        assert_facts_match(name, &file["facts"], probe);
    }
}

fn sniff_agrees(declared: &str, detected: &str) -> bool {
    declared == detected || (declared == "audio/mp4" && detected == "video/mp4")
}

async fn complete_before_upload_rejects_once_without_retrying(b: Backend) {
    let f = Files::new(b).await;
    let c = f
        .create("never.pdf", "application/pdf", "asset", &pdf(1000), false)
        .await;
    let id = c["file"]["id"].as_str().unwrap();
    let job = f.complete(id).await;
    let file = f.wait_status(id, "rejected").await;
    assert!(
        file["rejection_reason"]
            .as_str()
            .unwrap()
            .contains("object not found"),
        "{file}"
    );
    let job = f.wait_job(job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["result"]["status"], "rejected");
    // Uploading after the verdict is refused.
    let r = f.put(&c["upload"], pdf(1000)).await;
    if b == Backend::Local {
        assert_eq!(r.status(), 409);
    }
}

async fn delete_while_processing(b: Backend) {
    let mut f = Files::without_worker(b).await;
    let bytes = pdf(20_000);
    let c = f
        .create("gone.pdf", "application/pdf", "asset", &bytes, false)
        .await;
    let id = c["file"]["id"].as_str().unwrap().to_string();
    assert!(f.put(&c["upload"], bytes).await.status().is_success());
    let job = f.complete(&id).await;
    assert_eq!(f.file(&id).await.body["status"], "processing");
    f.app
        .delete(&format!("/api/v1/files/{id}"), &f.admin.access)
        .await
        .expect(204);
    f.file(&id).await.expect_problem(404);
    f.start_worker();
    let job = f.wait_job(job["id"].as_str().unwrap()).await;
    assert_eq!(job["result"]["status"], "deleted", "{job}");
    let key = f.key(&id);
    eventually(WAIT, "the object to be removed", || async {
        (!f.stored(&key).await).then_some(())
    })
    .await;
    eventually(WAIT, "the record to be purged", || async {
        let n = f
            .app
            .count(&format!(
                "SELECT count(*) FROM files WHERE id = '{id}' AND purged_at IS NOT NULL"
            ))
            .await;
        (n == 1).then_some(())
    })
    .await;
}

async fn orphan_cleanup_removes_orphans_and_strays_and_keeps_attached_files(b: Backend) {
    let f = Files::new(b).await;
    let bytes = pdf(5_000);
    let attached = f
        .upload("kept.pdf", "application/pdf", "asset", &bytes, false)
        .await;
    f.wait_status(&attached, "ready").await;
    sqlx::query("UPDATE files SET attached_to = 'asset:test', attached_at = now(), created_at = now() - interval '3 days' WHERE id = $1::uuid")
        .bind(&attached)
        .execute(&f.app.db.pool)
        .await
        .unwrap();
    let c = f
        .create("orphan.pdf", "application/pdf", "asset", &bytes, false)
        .await;
    let orphan = c["file"]["id"].as_str().unwrap().to_string();
    assert!(
        f.put(&c["upload"], bytes.clone())
            .await
            .status()
            .is_success()
    );
    sqlx::query("UPDATE files SET created_at = now() - interval '25 hours' WHERE id = $1::uuid")
        .bind(&orphan)
        .execute(&f.app.db.pool)
        .await
        .unwrap();
    let c = f
        .create("fresh.pdf", "application/pdf", "asset", &bytes, false)
        .await;
    let fresh = c["file"]["id"].as_str().unwrap().to_string();
    assert!(
        f.put(&c["upload"], bytes.clone())
            .await
            .status()
            .is_success()
    );
    // An object no record references (a crash between upload and record).
    let stray = ObjectKey::of(
        f.customer.parse().unwrap(),
        launchpad_domain::files::FileId::new(),
    );
    f.storage
        .objects()
        .put(&f.storage.path(&stray), bytes.clone().into())
        .await
        .unwrap();
    let job = {
        let mut conn = f.app.db.pool.acquire().await.unwrap();
        enqueue_one(
            &mut conn,
            NewJob::of::<kinds::FilesCleanup>(
                &kinds::FilesCleanupPayload {
                    orphan_hours: 24,
                    stray_minutes: 0,
                },
                &EnqueueCtx::default(),
            ),
        )
        .await
        .unwrap()
    };
    let job = f.wait_job(&job.id.to_string()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["orphans_deleted"], 1, "{job}");
    assert_eq!(job["result"]["stray_objects_deleted"], 1, "{job}");
    assert!(!f.stored(&f.key(&orphan)).await);
    assert!(!f.stored(&stray).await);
    f.file(&orphan).await.expect_problem(404);
    assert!(f.stored(&f.key(&attached)).await);
    assert!(f.stored(&f.key(&fresh)).await);
    f.file(&attached).await.expect(200);
    f.file(&fresh).await.expect(200);
}

#[tokio::test]
async fn other_tenants_files_are_not_found() {
    let f = Files::new(Backend::Local).await;
    let other = f.app.create_customer(&f.admin, "other").await;
    let mine = f
        .app
        .user(
            &f.admin,
            "exec@files.test",
            &["customer_exec"],
            &[&f.customer],
        )
        .await;
    let theirs = f
        .app
        .user(&f.admin, "exec@other.test", &["customer_exec"], &[&other])
        .await;
    let member = f
        .app
        .user(
            &f.admin,
            "member@files.test",
            &["customer_member"],
            &[&f.customer],
        )
        .await;
    let bytes = pdf(2_000);
    // The caller's only customer is implied.
    let r = f
        .create_as(
            &mine.access,
            json!({"filename": "m.pdf", "content_type": "application/pdf", "size": bytes.len(), "purpose": "asset"}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["file"]["customer_id"], f.customer.as_str());
    let id = r.body["file"]["id"].as_str().unwrap().to_string();
    for (method, path) in [
        (Method::GET, format!("/api/v1/files/{id}")),
        (Method::GET, format!("/api/v1/files/{id}/content")),
        (Method::POST, format!("/api/v1/files/{id}/complete")),
        (Method::POST, format!("/api/v1/files/{id}/content")),
        (Method::DELETE, format!("/api/v1/files/{id}")),
    ] {
        let ct = [("content-type", "application/pdf")];
        let r = f
            .app
            .call_with(method.clone(), &path, Some(&theirs.access), None, &ct)
            .await;
        assert_eq!(r.status.as_u16(), 404, "{method} {path}: {}", r.text);
        // A member of the same customer does not see an unattached file either.
        let r = f
            .app
            .call_with(method.clone(), &path, Some(&member.access), None, &ct)
            .await;
        assert_eq!(r.status.as_u16(), 404, "{method} {path}: {}", r.text);
    }
    let list = f.app.get("/api/v1/files", &theirs.access).await;
    assert_eq!(list.body["items"], json!([]));
    // Creating in another tenant: 404 as for a missing customer.
    let r = f
        .create_as(
            &theirs.access,
            json!({"customer_id": f.customer, "filename": "x.pdf", "content_type": "application/pdf", "size": 10, "purpose": "asset"}),
        )
        .await;
    r.expect_problem(404);
    f.app
        .get(
            &format!("/api/v1/customers/{}/storage", f.customer),
            &theirs.access,
        )
        .await
        .expect_problem(404);
    // Owner sees it; once attached the customer's members do.
    f.app
        .get(&format!("/api/v1/files/{id}"), &mine.access)
        .await
        .expect(200);
    sqlx::query(
        "UPDATE files SET attached_to = 'asset:x', attached_at = now() WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(&f.app.db.pool)
    .await
    .unwrap();
    f.app
        .get(&format!("/api/v1/files/{id}"), &member.access)
        .await
        .expect(200);
    f.app
        .get(&format!("/api/v1/files/{id}"), &theirs.access)
        .await
        .expect_problem(404);
    // An attached file cannot be deleted.
    let r = f
        .app
        .delete(&format!("/api/v1/files/{id}"), &mine.access)
        .await;
    assert_eq!(r.expect_problem(409)["code"], "file_attached");
}

#[tokio::test]
async fn bad_inputs_are_refused_with_the_field_named() {
    let f = Files::without_worker(Backend::Local).await;
    let base = json!({
        "customer_id": f.customer, "filename": "ok.pdf", "content_type": "application/pdf",
        "size": 100, "purpose": "asset",
    });
    let with = |k: &str, v: Json| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let long = "x".repeat(10_000);
    let cases = [
        (with("filename", "../../etc/passwd".into()), "/filename"),
        (with("filename", "a\u{0}b.pdf".into()), "/filename"),
        (with("filename", "a\u{7}b\r\n.pdf".into()), "/filename"),
        (with("filename", long.into()), "/filename"),
        (with("filename", "..".into()), "/filename"),
        (with("size", 0.into()), "/size"),
        (with("size", (-5).into()), "/size"),
        (with("content_type", "pdf".into()), "/content_type"),
        (with("content_type", "text/".into()), "/content_type"),
        (with("content_type", "a/b/c".into()), "/content_type"),
        (
            with("content_type", "text/plain\u{0}".into()),
            "/content_type",
        ),
        (
            with("content_type", "application/x-msdownload".into()),
            "/content_type",
        ),
        (with("sha256", "abc".into()), "/sha256"),
        (with("purpose", "nope".into()), "/purpose"),
    ];
    for (body, pointer) in cases {
        let r = f.create_as(&f.admin.access, body.clone()).await;
        r.expect_problem(400);
        assert!(
            r.pointers().contains(&pointer.to_string()),
            "{body}: {}",
            r.text
        );
    }
    // Over the purpose's limit (thumbnails: 20 MiB).
    let r = f
        .create_as(
            &f.admin.access,
            json!({"customer_id": f.customer, "filename": "t.png", "content_type": "image/png",
                   "size": 21 * 1024 * 1024, "purpose": "course_thumbnail"}),
        )
        .await;
    assert_eq!(r.expect_problem(413)["code"], "file_too_large");
    // Admins name the customer.
    let mut no_customer = base.clone();
    no_customer.as_object_mut().unwrap().remove("customer_id");
    let r = f.create_as(&f.admin.access, no_customer).await;
    assert!(
        r.pointers().contains(&"/customer_id".to_string()),
        "{}",
        r.text
    );
    // Quota: 413 over it; usage by purpose.
    let path = format!("/api/v1/customers/{}/storage", f.customer);
    f.app
        .put(&path, &f.admin.access, &json!({"quota_bytes": 1000}))
        .await
        .expect(200);
    f.create_as(&f.admin.access, with("size", 600.into()))
        .await
        .expect(201);
    let r = f.create_as(&f.admin.access, with("size", 600.into())).await;
    assert_eq!(r.expect_problem(413)["code"], "storage_quota_exceeded");
    let u = f.app.get(&path, &f.admin.access).await;
    u.expect(200);
    assert_eq!(u.body["bytes"], 600);
    assert_eq!(u.body["quota_bytes"], 1000);
    assert_eq!(
        u.body["by_purpose"],
        json!([{"purpose": "asset", "files": 1, "bytes": 600}])
    );
    // Signed routes: garbage signatures and missing parameters.
    let id = launchpad_domain::files::FileId::new();
    let r = f
        .app
        .send_raw(
            Method::PUT,
            &format!("/api/v1/files/{id}/upload?expires=1&signature=zz"),
            None,
            &[("content-type", "application/pdf")],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.expect_problem(403)["code"], "invalid_signature");
    let r = f
        .app
        .send_raw(
            Method::PUT,
            &format!("/api/v1/files/{id}/upload"),
            None,
            &[("content-type", "application/pdf")],
            b"x".to_vec(),
        )
        .await;
    r.expect_problem(400);
}

#[tokio::test]
async fn files_attach_to_assets_courses_and_video_lessons_with_checks() {
    let f = Files::new(Backend::Local).await;
    let token = &f.admin.access;
    let cop = f
        .app
        .post(
            "/api/v1/cops",
            token,
            &json!({"customer_id": f.customer, "name": "Data CoP"}),
        )
        .await;
    cop.expect(201);
    let asset = f
        .app
        .post(
            &format!("/api/v1/cops/{}/assets", cop.body["id"].as_str().unwrap()),
            token,
            &json!({"kind": "doc", "title": "Guide", "url": "https://d.example.com/guide"}),
        )
        .await;
    asset.expect(201);
    let asset = asset.body["id"].as_str().unwrap().to_string();
    let course = f
        .app
        .post(
            "/api/v1/courses",
            token,
            &json!({"customer_id": f.customer, "title": "Lakehouse 101", "level": "beginner"}),
        )
        .await;
    course.expect(201);
    let course = course.body["id"].as_str().unwrap().to_string();
    let lesson = |kind: &'static str| {
        let app = &f.app;
        let course = course.clone();
        async move {
            let r = app
                .post(
                    &format!("/api/v1/courses/{course}/lessons"),
                    token,
                    &json!({"kind": kind, "title": format!("A {kind} lesson")}),
                )
                .await;
            r.expect(201);
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let video = lesson("video").await;
    let text = lesson("text").await;

    let doc = f
        .upload("guide.pdf", "application/pdf", "asset", &pdf(4_000), false)
        .await;
    let cover = made(&["make-jpeg", "64", "48"]);
    let cover = f
        .upload("cover.jpg", "image/jpeg", "course_thumbnail", &cover, false)
        .await;
    let wav = made(&["make-wav", "500", "8000", "1"]);
    let media = f
        .upload("intro.wav", "audio/wav", "lesson_media", &wav, false)
        .await;
    for id in [&doc, &cover, &media] {
        f.wait_status(id, "ready").await;
    }
    let pending = f
        .create("later.pdf", "application/pdf", "asset", &pdf(100), false)
        .await;
    let pending = pending["file"]["id"].as_str().unwrap().to_string();

    let f = &f;
    let put = |path: String, file: Json| async move {
        f.app
            .put(&path, &f.admin.access, &json!({"file_id": file}))
            .await
    };
    let asset_path = format!("/api/v1/assets/{asset}/file");
    // Wrong purpose, not ready, unknown: 400 naming the field.
    for bad in [
        &cover,
        &pending,
        &launchpad_domain::files::FileId::new().to_string(),
    ] {
        let r = put(asset_path.clone(), json!(bad)).await;
        r.expect_problem(400);
        assert_eq!(r.pointers(), vec!["/file_id".to_string()], "{}", r.text);
    }
    let r = put(asset_path.clone(), json!(doc)).await;
    r.expect(200);
    assert_eq!(r.body["file_id"], doc.as_str());
    assert_eq!(r.body["url"], "https://d.example.com/guide");
    assert_eq!(
        f.file(&doc).await.body["attached_to"],
        format!("asset:{asset}")
    );
    // One resource at a time.
    let r = put(
        format!("/api/v1/courses/{course}/lessons/{video}/media"),
        json!(doc),
    )
    .await;
    r.expect_problem(400);

    let r = put(format!("/api/v1/courses/{course}/thumbnail"), json!(cover)).await;
    r.expect(200);
    assert_eq!(r.body["thumbnail_file_id"], cover.as_str());
    let r = put(
        format!("/api/v1/courses/{course}/lessons/{video}/media"),
        json!(media),
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["media_file_id"], media.as_str());
    let r = put(
        format!("/api/v1/courses/{course}/lessons/{text}/media"),
        json!(media),
    )
    .await;
    assert_eq!(r.expect_problem(422)["code"], "lesson_not_video");

    // Another tenant's file is no file at all.
    let other = f.app.create_customer(&f.admin, "elsewhere").await;
    let bytes = pdf(300);
    let r = f
        .create_as(
            token,
            json!({"customer_id": other, "filename": "o.pdf", "content_type": "application/pdf",
                   "size": bytes.len(), "purpose": "asset"}),
        )
        .await;
    r.expect(201);
    f.put(&r.body["upload"], bytes).await;
    let foreign = r.body["file"]["id"].as_str().unwrap().to_string();
    f.complete(&foreign).await;
    f.wait_status(&foreign, "ready").await;
    let r = put(asset_path.clone(), json!(foreign)).await;
    r.expect_problem(400);

    // Detaching frees the file (an orphan again, deletable).
    let r = put(asset_path.clone(), Json::Null).await;
    r.expect(200);
    assert!(r.body.get("file_id").is_none(), "{}", r.text);
    assert!(f.file(&doc).await.body.get("attached_to").is_none());
    f.app
        .delete(&format!("/api/v1/files/{doc}"), token)
        .await
        .expect(204);
    let r = f.app.delete(&format!("/api/v1/files/{cover}"), token).await;
    assert_eq!(r.expect_problem(409)["code"], "file_attached");
}
