//! A fresh database per test, cloned from a template migrated once per
//! migration set (`CREATE DATABASE … TEMPLATE …`).

use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, PgPool, postgres::PgPoolOptions};

/// The server's admin URL (database `postgres`), from
/// `LAUNCHPAD_TEST_DATABASE_URL` or the local default.
pub fn admin_url() -> String {
    std::env::var("LAUNCHPAD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into())
}

fn with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if base[..i].contains("//") && i > base.find("//").unwrap() + 1 => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

fn template_name() -> String {
    let mut h = Sha256::new();
    for m in launchpad_domain::db::MIGRATOR.iter() {
        h.update(m.version.to_le_bytes());
        h.update(&*m.checksum);
    }
    h.update(launchpad_domain::db::LEGACY_TRANSPORT_SQL.as_bytes());
    format!("lp_tpl_{}", &hex::encode(h.finalize())[..16])
}

/// Test databases older than this are leftovers of killed test runs (a test
/// drops its database when it ends; none runs for hours).
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(3 * 3600);

/// Drops leftover test databases, once per test process. Their names carry
/// the ULID they were created with, hence their age.
async fn sweep_leftovers(admin: &mut PgConnection) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SWEPT.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return;
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'lp\\_test\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    for name in names
        .iter()
        .filter(|n| is_leftover(n, std::time::SystemTime::now()))
    {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut *admin)
        .await;
    }
}

fn is_leftover(name: &str, now: std::time::SystemTime) -> bool {
    name.strip_prefix("lp_test_")
        .and_then(|u| ulid::Ulid::from_string(&u.to_uppercase()).ok())
        .and_then(|u| now.duration_since(u.datetime()).ok())
        .is_some_and(|age| age > LEFTOVER_AGE)
}

async fn ensure_template(admin: &mut PgConnection) -> anyhow::Result<String> {
    let name = template_name();
    // One creator at a time across test processes.
    sqlx::query("SELECT pg_advisory_lock(72700042)")
        .execute(&mut *admin)
        .await?;
    let result = async {
        sweep_leftovers(&mut *admin).await;
        let ready: Option<bool> =
            sqlx::query_scalar("SELECT datistemplate FROM pg_database WHERE datname = $1")
                .bind(&name)
                .fetch_optional(&mut *admin)
                .await?;
        if ready != Some(true) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *admin)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut *admin)
                .await?;
            let url = with_db(&admin_url(), &name);
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await?;
            launchpad_domain::db::migrate(&pool).await?;
            pool.close().await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {name} WITH IS_TEMPLATE true"
            )))
            .execute(&mut *admin)
            .await?;
        }
        anyhow::Ok(())
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock(72700042)")
        .execute(&mut *admin)
        .await?;
    result?;
    Ok(name)
}

/// A database of its own for one test; dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn new() -> Self {
        Self::try_new()
            .await
            .expect("create a test database (is PostgreSQL running? see scripts/db.sh)")
    }

    /// An empty database (no migrations, no tables): for tests of
    /// `launchpad-api migrate`. Dropped like any other test database.
    pub async fn empty() -> Self {
        Self::try_empty()
            .await
            .expect("create an empty test database (is PostgreSQL running? see scripts/db.sh)")
    }

    async fn try_empty() -> anyhow::Result<Self> {
        let mut admin = PgConnection::connect(&admin_url()).await?;
        let name = format!(
            "lp_test_{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let url = with_db(&admin_url(), &name);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await?;
        Ok(Self { name, url, pool })
    }

    async fn try_new() -> anyhow::Result<Self> {
        let mut admin = PgConnection::connect(&admin_url()).await?;
        let template = ensure_template(&mut admin).await?;
        let name = format!(
            "lp_test_{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        // Cloning needs the template free of connections; retry briefly if another test is cloning.
        let mut tries = 0;
        loop {
            match sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {name} TEMPLATE {template}"
            )))
            .execute(&mut admin)
            .await
            {
                Ok(_) => break,
                Err(e) if tries < 50 && e.to_string().contains("being accessed by other users") => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        admin.close().await?;
        let url = with_db(&admin_url(), &name);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await?;
        Ok(Self { name, url, pool })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Best effort, off the test's runtime: drop the database with its connections.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(mut c) = PgConnection::connect(&admin_url()).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut c)
                        .await;
                    }
                });
            }
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::{is_leftover, with_db};

    #[test]
    fn leftovers_are_test_databases_older_than_three_hours() {
        let now = std::time::SystemTime::now();
        let old = ulid::Ulid::from_datetime(now - std::time::Duration::from_secs(4 * 3600));
        let new = ulid::Ulid::from_datetime(now - std::time::Duration::from_secs(600));
        let name = |u: ulid::Ulid| format!("lp_test_{}", u.to_string().to_lowercase());
        assert!(is_leftover(&name(old), now));
        assert!(!is_leftover(&name(new), now));
        assert!(!is_leftover("lp_tpl_0123456789abcdef", now));
        assert!(!is_leftover("lp_test_not-a-ulid", now));
    }

    #[test]
    fn swaps_database_name() {
        assert_eq!(
            with_db("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_db("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_db("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
    }
}
