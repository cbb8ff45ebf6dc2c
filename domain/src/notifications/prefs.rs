//! Preferences: per person, type and channel, over the tenant's defaults,
//! over the platform's ([`NotificationType::defaults`]); and the person's
//! digest (how often, in which zone).

use std::collections::HashMap;

use sqlx::{FromRow, PgConnection, PgPool};

use super::{Channel, Channels, NotificationType};
use crate::{
    error::{Error, FieldError, Result},
    ids::{CustomerId, UserId},
    tenancy::Caller,
    text_enum, values,
};

text_enum! {
    /// How often the digest e-mail comes.
    pub enum DigestFrequency {
        /// Every day at 08:00 in the person's zone.
        Daily = "daily",
        /// Every Monday at 08:00 in the person's zone.
        Weekly = "weekly",
        /// Never.
        Off = "off",
    }
}

/// One type's channels for a person (or a tenant).
#[derive(Debug, Clone, poem_openapi::Object, serde::Serialize)]
pub struct TypePreference {
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub notification_type: NotificationType,
    pub in_app: bool,
    pub email: bool,
    pub digest: bool,
    /// Channels that cannot be turned off for this type.
    pub mandatory: Vec<Channel>,
}

/// A person's notification preferences: every type with its channels as
/// they apply (the person's choice, else the tenant's default, else the
/// platform's), and the digest.
#[derive(Debug, Clone, poem_openapi::Object, serde::Serialize)]
pub struct Preferences {
    pub digest_frequency: DigestFrequency,
    /// The digest's zone (IANA): the person's choice, else their tenant's.
    pub time_zone: String,
    pub types: Vec<TypePreference>,
}

/// One change: a channel of a type, on or off. Names are checked here so
/// that a wrong one answers 400 naming its field.
#[derive(Debug, Clone)]
pub struct Change {
    pub notification_type: String,
    pub channel: String,
    pub enabled: bool,
}

/// A change of preferences, as sent.
#[derive(Debug, Clone, Default)]
pub struct PreferencesInput {
    pub digest_frequency: Option<String>,
    pub time_zone: Option<String>,
    pub changes: Vec<Change>,
}

#[derive(FromRow)]
struct Row {
    #[sqlx(rename = "type")]
    notification_type: String,
    in_app: Option<bool>,
    email: Option<bool>,
    digest: Option<bool>,
}

type Overrides = HashMap<String, (Option<bool>, Option<bool>, Option<bool>)>;

fn overrides(rows: Vec<Row>) -> Overrides {
    rows.into_iter()
        .map(|r| (r.notification_type, (r.in_app, r.email, r.digest)))
        .collect()
}

fn apply(base: Channels, o: Option<&(Option<bool>, Option<bool>, Option<bool>)>) -> Channels {
    match o {
        None => base,
        Some((i, e, d)) => Channels {
            in_app: i.unwrap_or(base.in_app),
            email: e.unwrap_or(base.email),
            digest: d.unwrap_or(base.digest),
        },
    }
}

fn view(t: NotificationType, mut c: Channels) -> TypePreference {
    for m in t.mandatory() {
        c.set(*m, true);
    }
    TypePreference {
        notification_type: t,
        in_app: c.in_app,
        email: c.email,
        digest: c.digest,
        mandatory: t.mandatory().to_vec(),
    }
}

/// The customer whose defaults apply to a person: their first.
async fn home_customer(
    conn: &mut PgConnection,
    user: UserId,
) -> Result<Option<(CustomerId, String)>> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.time_zone FROM user_customers uc JOIN customers c ON c.id = uc.customer_id
         WHERE uc.user_id = $1 ORDER BY uc.created_at, c.id LIMIT 1",
    )
    .bind(user)
    .fetch_optional(conn)
    .await?)
}

async fn tenant_rows(conn: &mut PgConnection, customer: CustomerId) -> Result<Overrides> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT type, in_app, email, digest FROM notification_tenant_defaults WHERE customer_id = $1",
    )
    .bind(customer)
    .fetch_all(conn)
    .await?;
    Ok(overrides(rows))
}

/// A person's preferences as they apply.
pub async fn get(db: &PgPool, user: UserId) -> Result<Preferences> {
    let mut conn = db.acquire().await?;
    load(&mut conn, user).await
}

/// Whether `t`'s e-mails reach `user`, as their preferences apply.
pub async fn email_on(conn: &mut PgConnection, user: UserId, t: NotificationType) -> Result<bool> {
    Ok(load(conn, user)
        .await?
        .types
        .iter()
        .any(|p| p.notification_type == t && p.email))
}

async fn load(conn: &mut PgConnection, user: UserId) -> Result<Preferences> {
    let home = home_customer(conn, user).await?;
    let tenant = match &home {
        Some((c, _)) => tenant_rows(conn, *c).await?,
        None => Overrides::new(),
    };
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT type, in_app, email, digest FROM notification_preferences WHERE user_id = $1",
    )
    .bind(user)
    .fetch_all(&mut *conn)
    .await?;
    let own = overrides(rows);
    let settings: Option<(DigestFrequency, Option<String>)> = sqlx::query_as(
        "SELECT digest_frequency, time_zone FROM notification_settings WHERE user_id = $1",
    )
    .bind(user)
    .fetch_optional(&mut *conn)
    .await?;
    let (frequency, zone) = settings.unwrap_or((DigestFrequency::Daily, None));
    let time_zone = zone
        .or_else(|| home.map(|(_, z)| z))
        .unwrap_or_else(|| "UTC".into());
    let types = NotificationType::ALL
        .iter()
        .map(|t| {
            let c = apply(
                apply(t.defaults(), tenant.get(t.as_str())),
                own.get(t.as_str()),
            );
            view(*t, c)
        })
        .collect();
    Ok(Preferences {
        digest_frequency: frequency,
        time_zone,
        types,
    })
}

/// Checked changes: (type, channel, on), or every problem with a pointer
/// under `prefix` (`/preferences/0/type`, …).
fn check_changes(
    prefix: &str,
    changes: &[Change],
) -> std::result::Result<Vec<(NotificationType, Channel, bool)>, Vec<FieldError>> {
    let mut ok = vec![];
    let mut errors = vec![];
    for (i, c) in changes.iter().enumerate() {
        let t = NotificationType::parse(c.notification_type.trim());
        let ch = Channel::parse(c.channel.trim());
        if t.is_none() {
            let known: Vec<&str> = NotificationType::ALL.iter().map(|t| t.as_str()).collect();
            errors.push(FieldError::new(
                format!("{prefix}/{i}/type"),
                format!(
                    "unknown notification type `{}`; one of: {}",
                    c.notification_type,
                    known.join(", ")
                ),
            ));
        }
        if ch.is_none() {
            errors.push(FieldError::new(
                format!("{prefix}/{i}/channel"),
                format!(
                    "unknown channel `{}`; one of: in_app, email, digest",
                    c.channel
                ),
            ));
        }
        if let (Some(t), Some(ch)) = (t, ch) {
            if !c.enabled && t.is_mandatory(ch) {
                errors.push(FieldError::new(
                    format!("{prefix}/{i}/enabled"),
                    format!(
                        "the {} channel of {} cannot be turned off",
                        ch.as_str(),
                        t.as_str()
                    ),
                ));
            } else {
                ok.push((t, ch, c.enabled));
            }
        }
    }
    if errors.is_empty() {
        Ok(ok)
    } else {
        Err(errors)
    }
}

/// Upserts one value per change into `table` keyed by (`key`, type).
async fn write(
    conn: &mut PgConnection,
    table: &'static str,
    key_column: &'static str,
    key: uuid::Uuid,
    changes: &[(NotificationType, Channel, bool)],
) -> Result<()> {
    for (t, ch, on) in changes {
        let column = ch.as_str();
        sqlx::query(sqlf!(
            "INSERT INTO {table} ({key_column}, type, {column}) VALUES ($1, $2, $3)
             ON CONFLICT ({key_column}, type) DO UPDATE SET {column} = $3, updated_at = now()"
        ))
        .bind(key)
        .bind(t)
        .bind(on)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Changes a person's preferences (what is not named stays); answers them
/// as they now apply. Unknown types or channels, a mandatory channel turned
/// off, an unknown frequency or zone: 400 naming each field.
pub async fn put(db: &PgPool, user: UserId, input: PreferencesInput) -> Result<Preferences> {
    let mut errors = vec![];
    let changes = check_changes("/preferences", &input.changes).unwrap_or_else(|e| {
        errors.extend(e);
        vec![]
    });
    let frequency = match input.digest_frequency.as_deref().map(str::trim) {
        None => None,
        Some(f) => match DigestFrequency::parse(f) {
            Some(f) => Some(f),
            None => {
                errors.push(FieldError::new(
                    "/digest_frequency",
                    format!("unknown frequency `{f}`; one of: daily, weekly, off"),
                ));
                None
            }
        },
    };
    let zone = match input.time_zone.as_deref().map(str::trim) {
        None => None,
        Some(z) => match values::time_zone(z) {
            Ok(tz) => Some(tz.name().to_string()),
            Err(m) => {
                errors.push(FieldError::new("/time_zone", m));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let mut tx = db.begin().await?;
    write(
        &mut tx,
        "notification_preferences",
        "user_id",
        user.0,
        &changes,
    )
    .await?;
    if frequency.is_some() || zone.is_some() {
        sqlx::query(
            "INSERT INTO notification_settings (user_id, digest_frequency, time_zone)
             VALUES ($1, coalesce($2, 'daily'), $3)
             ON CONFLICT (user_id) DO UPDATE SET
                 digest_frequency = coalesce($2, notification_settings.digest_frequency),
                 time_zone = coalesce($3, notification_settings.time_zone), updated_at = now()",
        )
        .bind(user)
        .bind(frequency)
        .bind(zone)
        .execute(&mut *tx)
        .await?;
    }
    let out = load(&mut tx, user).await?;
    tx.commit().await?;
    Ok(out)
}

/// A tenant's defaults: every type with its channels (the tenant's
/// override, else the platform's).
pub async fn tenant_defaults(
    db: &PgPool,
    caller: &Caller,
    customer: CustomerId,
) -> Result<Vec<TypePreference>> {
    caller.scope().ensure(customer, "customer")?;
    let mut conn = db.acquire().await?;
    tenant_view(&mut conn, customer).await
}

async fn tenant_view(conn: &mut PgConnection, customer: CustomerId) -> Result<Vec<TypePreference>> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1)")
        .bind(customer)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Err(Error::not_found("customer"));
    }
    let tenant = tenant_rows(conn, customer).await?;
    Ok(NotificationType::ALL
        .iter()
        .map(|t| view(*t, apply(t.defaults(), tenant.get(t.as_str()))))
        .collect())
}

/// Changes a tenant's defaults (admins and the tenant's customer_execs).
pub async fn put_tenant_defaults(
    db: &PgPool,
    caller: &Caller,
    customer: CustomerId,
    changes: Vec<Change>,
) -> Result<Vec<TypePreference>> {
    caller.scope().ensure(customer, "customer")?;
    if !caller.can_manage_customer(customer) {
        return Err(Error::forbidden(
            "requires the admin role or customer_exec of the customer",
        ));
    }
    let changes = check_changes("/defaults", &changes).map_err(Error::Validation)?;
    let mut tx = db.begin().await?;
    // 404 for a customer that does not exist.
    tenant_view(&mut tx, customer).await?;
    write(
        &mut tx,
        "notification_tenant_defaults",
        "customer_id",
        customer.0,
        &changes,
    )
    .await?;
    let out = tenant_view(&mut tx, customer).await?;
    tx.commit().await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(t: &str, c: &str, on: bool) -> Change {
        Change {
            notification_type: t.into(),
            channel: c.into(),
            enabled: on,
        }
    }

    #[test]
    fn bad_changes_name_their_fields() {
        let errs = check_changes(
            "/preferences",
            &[
                change("event_created", "email", false),
                change("nope", "sms", true),
                change("webhook_endpoint_disabled", "email", false),
            ],
        )
        .unwrap_err();
        let pointers: Vec<&str> = errs.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/preferences/1/type",
                "/preferences/1/channel",
                "/preferences/2/enabled"
            ]
        );
        let ok = check_changes("/preferences", &[change("job_failed", "digest", false)]).unwrap();
        assert_eq!(ok, [(NotificationType::JobFailed, Channel::Digest, false)]);
    }

    #[test]
    fn overrides_layer_over_defaults() {
        let base = NotificationType::EventCreated.defaults();
        assert!(!base.email);
        let c = apply(base, Some(&(None, Some(true), Some(false))));
        assert!(c.in_app && c.email && !c.digest);
    }
}
