//! The Python client that SDK users generate: openapi-python-client (the
//! version `scripts/test.sh` pins and installs) run on the committed
//! `openapi/openapi.json`, and a driver script that uses it against a
//! running API (`python/sdk_roundtrip.py`).

use std::path::{Path, PathBuf};

use crate::smtp::python;

/// The name the generated package is imported as.
pub const PACKAGE: &str = "launchpad_client";

/// The committed spec that clients are generated from.
pub fn committed_spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
}

/// A generated client: the directory that holds the package [`PACKAGE`].
/// Removed on drop when this process generated it.
pub struct PythonSdk {
    pub parent: PathBuf,
    owned: bool,
}

impl PythonSdk {
    /// A client generated into `parent` by the caller (removed on drop).
    pub fn at(parent: PathBuf) -> Self {
        Self {
            parent,
            owned: true,
        }
    }
}

impl Drop for PythonSdk {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.parent);
        }
    }
}

/// Runs openapi-python-client on `spec` into `parent/PACKAGE`, failing on
/// any warning (a model or an operation it had to leave out).
pub async fn generate(spec: &Path, parent: &Path) -> Result<(), String> {
    let out = tokio::process::Command::new(python())
        .args(["-m", "openapi_python_client", "generate", "--meta", "none"])
        .arg("--config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("python/openapi-python-client.json"))
        .arg("--path")
        .arg(spec)
        .arg("--output-path")
        .arg(parent.join(PACKAGE))
        .args(["--overwrite", "--fail-on-warning"])
        .output()
        .await
        .map_err(|e| format!("{}: {e}", python()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // openapi-python-client exits 0 after some warnings ("Client was
    // generated, but some pieces may be missing"): those fail too.
    if !out.status.success() || text.contains("Warning") {
        return Err(format!(
            "openapi-python-client failed on {} ({}; scripts/test.sh installs it): {text}",
            spec.display(),
            out.status
        ));
    }
    Ok(())
}

/// The client generated from the committed spec: the one `scripts/test.sh`
/// generated (`LAUNCHPAD_PYTHON_SDK`, the directory holding the package),
/// else one generated now.
pub async fn sdk() -> PythonSdk {
    if let Ok(dir) = std::env::var("LAUNCHPAD_PYTHON_SDK") {
        let parent = PathBuf::from(dir);
        assert!(
            parent.join(PACKAGE).join("__init__.py").exists(),
            "LAUNCHPAD_PYTHON_SDK={} holds no generated {PACKAGE}",
            parent.display()
        );
        return PythonSdk {
            parent,
            owned: false,
        };
    }
    let parent = std::env::temp_dir().join(format!(
        "launchpad-python-sdk-{}-{}",
        std::process::id(),
        ulid::Ulid::generate()
    ));
    std::fs::create_dir_all(&parent).expect("create the SDK directory");
    let sdk = PythonSdk {
        parent,
        owned: true,
    };
    if let Err(e) = generate(&committed_spec(), &sdk.parent).await {
        panic!("{e}");
    }
    sdk
}

/// Runs `python/sdk_roundtrip.py` with the client against the API at
/// `base` as `email`/`password`; returns its output, or the reason it failed.
pub async fn round_trip(
    sdk: &PythonSdk,
    base: &str,
    email: &str,
    password: &str,
) -> Result<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/sdk_roundtrip.py");
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(180),
        tokio::process::Command::new(python())
            .arg(script)
            .arg(&sdk.parent)
            .args([PACKAGE, base, email, password])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "the SDK round trip took over 180 s".to_string())?
    .map_err(|e| format!("{}: {e}", python()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{}\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
