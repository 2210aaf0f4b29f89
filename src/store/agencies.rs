//! Repository of the directory's tables: `agencies`, `agency_certificates`,
//! `agency_credentials`. Every function takes the connection it runs on: a pooled one for
//! reads, the writer's for writes (see [`super::Store::write`]).

use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use sqlx::Row;

use super::error::StoreError;
use super::records::{
    AgencyFilter, AgencyRecord, CertificateRecord, CredentialRecord, CredentialRole, Upsert,
};
use super::sql::{chunks, Style};

const AGENCY_COLUMNS: &str =
    "code, name, parent, push_endpoint, clerk_emails, active, created_at, updated_at";

fn agency_from_row(row: &AnyRow) -> Result<AgencyRecord, StoreError> {
    let emails: String = row.try_get("clerk_emails")?;
    let clerk_emails: Vec<String> = serde_json::from_str(&emails).map_err(|e| {
        StoreError::corrupt(format!("agencies.clerk_emails is not a JSON list: {e}"))
    })?;
    Ok(AgencyRecord {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        parent: row.try_get("parent")?,
        push_endpoint: row.try_get("push_endpoint")?,
        clerk_emails,
        active: row.try_get::<i64, _>("active")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn json_list(items: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| StoreError::Database(e.to_string()))
}

/// Inserts the agency or, when its code exists, replaces every field but `created_at`.
/// The parent must exist (`store.conflict` otherwise).
pub async fn upsert(conn: &mut AnyConnection, agency: &AgencyRecord) -> Result<Upsert, StoreError> {
    let existed = exists(conn, &agency.code).await?;
    sqlx::query(
        "INSERT INTO agencies (code, name, parent, push_endpoint, clerk_emails, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent, \
         push_endpoint = excluded.push_endpoint, clerk_emails = excluded.clerk_emails, \
         active = excluded.active, updated_at = excluded.updated_at",
    )
    .bind(&agency.code)
    .bind(&agency.name)
    .bind(&agency.parent)
    .bind(&agency.push_endpoint)
    .bind(json_list(&agency.clerk_emails)?)
    .bind(i64::from(agency.active))
    .bind(agency.created_at)
    .bind(agency.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(if existed {
        Upsert::Updated
    } else {
        Upsert::Inserted
    })
}

/// Whether an agency with this code exists.
pub async fn exists(conn: &mut AnyConnection, code: &str) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT 1 AS one FROM agencies WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// One agency by code.
pub async fn get(conn: &mut AnyConnection, code: &str) -> Result<Option<AgencyRecord>, StoreError> {
    let sql = format!("SELECT {AGENCY_COLUMNS} FROM agencies WHERE code = $1");
    let row = sqlx::query(&sql)
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(agency_from_row).transpose()
}

/// Agencies matching `filter`, by code. The SQL names only the conditions given (a
/// `($1 IS NULL OR parent = $1)` form would keep SQLite off its indexes): by parent on
/// `agencies_by_parent`, a subtree by a recursive walk down that index, paging on the primary key.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &AgencyFilter,
) -> Result<Vec<AgencyRecord>, StoreError> {
    let sql = list_sql(filter);
    let mut query = sqlx::query(&sql);
    for value in [&filter.under, &filter.parent, &filter.prefix, &filter.after]
        .into_iter()
        .flatten()
    {
        query = query.bind(value);
    }
    if let Some(prefix) = &filter.prefix {
        query = query.bind(prefix_end(prefix));
    }
    let rows = query
        .bind(filter.limit.map_or(i64::MAX, i64::from))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(agency_from_row).collect()
}

/// The SELECT for `filter`, its parameters in the order `list` binds them: under, parent,
/// prefix, after, the prefix's upper bound, the limit.
fn list_sql(filter: &AgencyFilter) -> String {
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    let mut sql = String::new();
    let mut conditions = Vec::new();
    if filter.under.is_some() {
        sql.push_str(&format!(
            "WITH RECURSIVE subtree (code) AS (\
             SELECT code FROM agencies WHERE parent = {} \
             UNION ALL SELECT a.code FROM agencies a JOIN subtree s ON a.parent = s.code) ",
            next()
        ));
        conditions.push("code IN (SELECT code FROM subtree)".to_owned());
    }
    sql.push_str(&format!("SELECT {AGENCY_COLUMNS} FROM agencies"));
    if filter.parent.is_some() {
        conditions.push(format!("parent = {}", next()));
    }
    let prefix = filter.prefix.as_ref().map(|_| next());
    if filter.after.is_some() {
        conditions.push(format!("code > {}", next()));
    }
    if let Some(low) = prefix {
        // A range on the primary key, so the index serves it (codes compare byte by byte:
        // SQLite's BINARY collation, PostgreSQL's C.UTF-8); substr() keeps the answer exact.
        conditions.push(format!(
            "code >= {low} AND code < {} AND substr(code, 1, length({low})) = {low}",
            next()
        ));
    }
    if filter.active_only {
        conditions.push("active = 1".to_owned());
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY code LIMIT {}", next()));
    sql
}

/// A text above every text that starts with `prefix`: its last character raised by one (the
/// largest character has no successor and is dropped, as is anything after it).
fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32) {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    char::MAX.to_string()
}

/// Number of agencies.
pub async fn count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM agencies")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get("n")?)
}

/// Activates or deactivates an agency; false when there is no such agency.
pub async fn set_active(
    conn: &mut AnyConnection,
    code: &str,
    active: bool,
    at: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE agencies SET active = $2, updated_at = $3 WHERE code = $1")
        .bind(code)
        .bind(i64::from(active))
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Sets an agency's push endpoint (`Some(None)` removes it) and whether it takes pushes
/// (`None`: leave as is); false when there is no such agency. Pushes already queued follow the
/// new endpoint on their next attempt.
pub async fn set_push(
    conn: &mut AnyConnection,
    code: &str,
    endpoint: Option<Option<&str>>,
    enabled: Option<bool>,
    at: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE agencies SET push_endpoint = CASE WHEN $2 = 1 THEN $3 ELSE push_endpoint END, \
         push_enabled = COALESCE($4, push_enabled), updated_at = $5 WHERE code = $1",
    )
    .bind(code)
    .bind(i64::from(endpoint.is_some()))
    .bind(endpoint.flatten())
    .bind(enabled.map(i64::from))
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// An agency's push endpoint and whether it takes pushes; `None` when there is no such agency.
pub async fn push_setting(
    conn: &mut AnyConnection,
    code: &str,
) -> Result<Option<(Option<String>, bool)>, StoreError> {
    let row = sqlx::query("SELECT push_endpoint, push_enabled FROM agencies WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|row| {
        let enabled: i64 = row.try_get("push_enabled")?;
        Ok((row.try_get("push_endpoint")?, enabled == 1))
    })
    .transpose()
}

const CERTIFICATE_COLUMNS: &str = "agency_code, sha256, subject, serial, not_after, created_at";

fn certificate_from_row(row: &AnyRow) -> Result<CertificateRecord, StoreError> {
    Ok(CertificateRecord {
        agency_code: row.try_get("agency_code")?,
        sha256: row.try_get("sha256")?,
        subject: row.try_get("subject")?,
        serial: row.try_get("serial")?,
        not_after: row.try_get("not_after")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Binds a certificate to its agency, or refreshes the details of an existing binding (details
/// given as `None` keep what is stored). A certificate bound to another agency is a
/// `store.conflict`: a certificate identifies one agency.
pub async fn bind_certificate(
    conn: &mut AnyConnection,
    cert: &CertificateRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO agency_certificates (agency_code, sha256, subject, serial, not_after, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (agency_code, sha256) DO UPDATE SET \
         subject = COALESCE(excluded.subject, agency_certificates.subject), \
         serial = COALESCE(excluded.serial, agency_certificates.serial), \
         not_after = COALESCE(excluded.not_after, agency_certificates.not_after)",
    )
    .bind(&cert.agency_code)
    .bind(&cert.sha256)
    .bind(&cert.subject)
    .bind(&cert.serial)
    .bind(cert.not_after)
    .bind(cert.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes one binding; false when it did not exist.
pub async fn unbind_certificate(
    conn: &mut AnyConnection,
    agency_code: &str,
    sha256: &str,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("DELETE FROM agency_certificates WHERE agency_code = $1 AND sha256 = $2")
            .bind(agency_code)
            .bind(sha256)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Makes `certs` the agency's whole set of certificates: others are unbound, the listed ones
/// bound (keeping the first binding time of those already bound).
pub async fn replace_certificates(
    conn: &mut AnyConnection,
    agency_code: &str,
    certs: &[CertificateRecord],
) -> Result<(), StoreError> {
    for old in certificates_of(conn, agency_code).await? {
        if !certs.iter().any(|c| c.sha256 == old.sha256) {
            unbind_certificate(conn, agency_code, &old.sha256).await?;
        }
    }
    for cert in certs {
        bind_certificate(conn, cert).await?;
    }
    Ok(())
}

/// The certificates bound to one agency, by fingerprint.
pub async fn certificates_of(
    conn: &mut AnyConnection,
    agency_code: &str,
) -> Result<Vec<CertificateRecord>, StoreError> {
    let sql = format!(
        "SELECT {CERTIFICATE_COLUMNS} FROM agency_certificates WHERE agency_code = $1 ORDER BY sha256"
    );
    let rows = sqlx::query(&sql)
        .bind(agency_code)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(certificate_from_row).collect()
}

/// The certificates of the agencies named (a page of a listing), by agency and fingerprint:
/// an `IN` list on the primary key per chunk of codes, so that only their rows are read — a
/// filtered page (a subtree, a parent's children) is scattered over the code order, and a range
/// from its first to its last code could cover most of the directory.
pub async fn certificates_of_agencies(
    conn: &mut AnyConnection,
    codes: &[&str],
) -> Result<Vec<CertificateRecord>, StoreError> {
    let style = Style::of(conn);
    let mut found = Vec::new();
    for chunk in chunks(codes) {
        let sql = format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM agency_certificates \
             WHERE agency_code IN ({}) ORDER BY agency_code, sha256",
            style.parameters(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for code in chunk {
            query = query.bind(*code);
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.push(certificate_from_row(&row)?);
        }
    }
    Ok(found)
}

/// The binding of a certificate, whoever it is bound to (mTLS: client certificate → agency).
pub async fn certificate(
    conn: &mut AnyConnection,
    sha256: &str,
) -> Result<Option<CertificateRecord>, StoreError> {
    let sql = format!("SELECT {CERTIFICATE_COLUMNS} FROM agency_certificates WHERE sha256 = $1");
    let row = sqlx::query(&sql)
        .bind(sha256)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(certificate_from_row).transpose()
}

/// Every binding of an active agency, by agency then fingerprint.
pub async fn active_certificates(
    conn: &mut AnyConnection,
) -> Result<Vec<CertificateRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT c.agency_code, c.sha256, c.subject, c.serial, c.not_after, c.created_at \
         FROM agency_certificates c JOIN agencies a ON a.code = c.agency_code \
         WHERE a.active = 1 ORDER BY c.agency_code, c.sha256",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(certificate_from_row).collect()
}

const CREDENTIAL_COLUMNS: &str =
    "system_id, agency_code, secret_hash, created_at, revoked_at, role, audit_scope, reads_packets";

fn credential_from_row(row: &AnyRow) -> Result<CredentialRecord, StoreError> {
    Ok(CredentialRecord {
        system_id: row.try_get("system_id")?,
        agency_code: row.try_get("agency_code")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        role: {
            let role: String = row.try_get("role")?;
            CredentialRole::parse(&role)
                .ok_or_else(|| StoreError::corrupt(format!("credential role {role:?}")))?
        },
        audit_scope: row.try_get("audit_scope")?,
        reads_packets: row.try_get::<i64, _>("reads_packets")? != 0,
    })
}

/// Stores a new credential; an existing system id is a `store.conflict`.
pub async fn insert_credential(
    conn: &mut AnyConnection,
    credential: &CredentialRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO agency_credentials (system_id, agency_code, secret_hash, created_at, \
         revoked_at, role, audit_scope, reads_packets) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&credential.system_id)
    .bind(&credential.agency_code)
    .bind(&credential.secret_hash)
    .bind(credential.created_at)
    .bind(credential.revoked_at)
    .bind(credential.role.as_str())
    .bind(credential.audit_scope.as_deref())
    .bind(i64::from(credential.reads_packets))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One credential by system id (revoked ones too: the caller decides).
pub async fn credential(
    conn: &mut AnyConnection,
    system_id: &str,
) -> Result<Option<CredentialRecord>, StoreError> {
    let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM agency_credentials WHERE system_id = $1");
    let row = sqlx::query(&sql)
        .bind(system_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(credential_from_row).transpose()
}

/// The credentials of one agency, by system id.
pub async fn credentials_of(
    conn: &mut AnyConnection,
    agency_code: &str,
) -> Result<Vec<CredentialRecord>, StoreError> {
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM agency_credentials WHERE agency_code = $1 ORDER BY system_id"
    );
    let rows = sqlx::query(&sql)
        .bind(agency_code)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(credential_from_row).collect()
}

/// Revokes a credential at `at`; false when it does not exist or was already revoked.
pub async fn revoke_credential(
    conn: &mut AnyConnection,
    system_id: &str,
    at: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE agency_credentials SET revoked_at = $2 WHERE system_id = $1 AND revoked_at IS NULL",
    )
    .bind(system_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
