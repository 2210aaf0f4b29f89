//! Directory import files: CSV with the header
//! `code,name,parent,push_endpoint,clerk_emails,certificate_sha256` (lists `;`-separated;
//! an optional `active` column takes `true`/`false`), or a JSON array of objects with the same
//! fields (lists as arrays or `;`-separated strings).
//!
//! Every row is checked before anything is written — here the file on its own, then
//! [`apply`] against the directory inside the writer's transaction — so a file is applied
//! whole or not at all, and a refusal names the line (CSV) or entry (JSON) and why.
//! A row is the agency's whole record: its certificate list replaces the one stored.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;
use sqlx::AnyConnection;

use super::agency::{Agency, AgencyName, BoundCertificate, ClerkEmail, FieldError, PushEndpoint};
use super::error::{DirectoryError, Location};
use super::records::{agency_record, certificate_record};
use crate::edxml::OrganId;
use crate::pki::Fingerprint;
use crate::store::{agencies, Upsert};

/// One agency of an import file, parsed and checked on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub location: Location,
    pub agency: Agency,
    pub certificates: Vec<BoundCertificate>,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportReport {
    /// Agencies that were not in the directory.
    pub imported: usize,
    /// Agencies that were, now replaced by the file's record.
    pub updated: usize,
    /// Certificate bindings in the file.
    pub certificates: usize,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "imported {}, updated {}", self.imported, self.updated)
    }
}

/// The two import formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// By file extension (`.csv`, `.json`, any case).
    pub fn of_path(path: &Path) -> Result<Format, DirectoryError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(DirectoryError::Import {
                source_name: path.display().to_string(),
                location: Location::File,
                reason: "the file name must end in .csv or .json".to_owned(),
            }),
        }
    }
}

/// Largest import file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Parses and checks a whole file on its own (codes, fields, duplicates). Rows come back in
/// file order.
pub fn parse(
    bytes: &[u8],
    format: Format,
    source_name: &str,
) -> Result<Vec<ImportRow>, DirectoryError> {
    let refuse = |location: Location, reason: String| DirectoryError::Import {
        source_name: source_name.to_owned(),
        location,
        reason,
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let raw = match format {
        Format::Csv => csv_rows(bytes).map_err(|(l, r)| refuse(l, r))?,
        Format::Json => json_rows(bytes).map_err(|(l, r)| refuse(l, r))?,
    };
    let mut rows = Vec::with_capacity(raw.len());
    for (location, fields) in raw {
        let row = fields
            .into_row(location.clone())
            .map_err(|e| refuse(location, e.to_string()))?;
        rows.push(row);
    }
    check_duplicates(&rows).map_err(|(l, r)| refuse(l, r))?;
    Ok(rows)
}

/// The text fields of one row, before parsing.
#[derive(Debug, Default)]
struct Fields {
    code: String,
    name: String,
    parent: Option<String>,
    push_endpoint: Option<String>,
    clerk_emails: Vec<String>,
    certificate_sha256: Vec<String>,
    active: Option<bool>,
}

impl Fields {
    fn into_row(self, location: Location) -> Result<ImportRow, FieldError> {
        let code = organ("code", &self.code)?;
        let parent = self
            .parent
            .as_deref()
            .map(|p| organ("parent", p))
            .transpose()?;
        if parent.as_ref() == Some(&code) {
            return Err(FieldError {
                field: "parent",
                value: format!("{:?}", self.code),
                reason: "an agency cannot be its own parent",
            });
        }
        let mut clerk_emails: Vec<ClerkEmail> = Vec::new();
        for email in &self.clerk_emails {
            let email = ClerkEmail::parse(email)?;
            if !clerk_emails.contains(&email) {
                clerk_emails.push(email);
            }
        }
        let mut certificates: Vec<BoundCertificate> = Vec::new();
        for text in &self.certificate_sha256 {
            let fingerprint = Fingerprint::parse(text).ok_or_else(|| FieldError {
                field: "certificate_sha256",
                value: format!("{text:?}"),
                reason: "is not a SHA-256 fingerprint (64 hex digits, colons allowed)",
            })?;
            if !certificates.iter().any(|c| c.fingerprint == fingerprint) {
                certificates.push(BoundCertificate::fingerprint_only(fingerprint));
            }
        }
        Ok(ImportRow {
            location,
            agency: Agency {
                code,
                name: AgencyName::parse(&self.name)?,
                parent,
                push_endpoint: self
                    .push_endpoint
                    .as_deref()
                    .map(PushEndpoint::parse)
                    .transpose()?,
                clerk_emails,
                active: self.active.unwrap_or(true),
            },
            certificates,
        })
    }
}

fn organ(field: &'static str, value: &str) -> Result<OrganId, FieldError> {
    OrganId::parse(value.trim()).map_err(|e| FieldError {
        field,
        value: format!("{value:?}"),
        reason: match e {
            crate::edxml::CodeError::InvalidAgencyCode { reason, .. }
            | crate::edxml::CodeError::InvalidOrganId { reason, .. } => reason,
            crate::edxml::CodeError::Unknown { .. } => "is not an agency code",
        },
    })
}

fn list(text: &str) -> Vec<String> {
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn boolean(text: &str) -> Result<Option<bool>, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "1" | "yes" => Ok(Some(true)),
        "false" | "0" | "no" => Ok(Some(false)),
        other => Err(format!("active {other:?} is neither true nor false")),
    }
}

const COLUMNS: [&str; 7] = [
    "code",
    "name",
    "parent",
    "push_endpoint",
    "clerk_emails",
    "certificate_sha256",
    "active",
];

type Problem = (Location, String);

fn csv_rows(bytes: &[u8]) -> Result<Vec<(Location, Fields)>, Problem> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| (Location::Line(1), format!("unreadable header: {e}")))?
        .clone();
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        let known = COLUMNS.iter().find(|c| **c == name).ok_or_else(|| {
            (
                Location::Line(1),
                format!(
                    "unknown column {name:?} (the columns are {})",
                    COLUMNS.join(",")
                ),
            )
        })?;
        if index.insert(known, i).is_some() {
            return Err((Location::Line(1), format!("column {name:?} appears twice")));
        }
    }
    for required in ["code", "name"] {
        if !index.contains_key(required) {
            return Err((
                Location::Line(1),
                format!("the header has no {required:?} column"),
            ));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            (Location::Line(line), csv_reason(&e))
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let cell = |column: &str| {
            index
                .get(column)
                .and_then(|i| record.get(*i))
                .unwrap_or_default()
        };
        let fields = Fields {
            code: cell("code").trim().to_owned(),
            name: cell("name").to_owned(),
            parent: optional(cell("parent")),
            push_endpoint: optional(cell("push_endpoint")),
            clerk_emails: list(cell("clerk_emails")),
            certificate_sha256: list(cell("certificate_sha256")),
            active: boolean(cell("active")).map_err(|r| (Location::Line(line), r))?,
        };
        rows.push((Location::Line(line), fields));
    }
    Ok(rows)
}

fn csv_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "the line is not valid UTF-8".to_owned(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the line has {len} fields where the header has {expected_len}"),
        _ => error.to_string(),
    }
}

/// A JSON list field: an array of strings or one `;`-separated string.
#[derive(Deserialize)]
#[serde(untagged)]
enum JsonList {
    Many(Vec<String>),
    One(String),
}

impl JsonList {
    fn into_vec(self) -> Vec<String> {
        match self {
            JsonList::Many(items) => items
                .iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            JsonList::One(text) => list(&text),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    code: String,
    name: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    push_endpoint: Option<String>,
    #[serde(default)]
    clerk_emails: Option<JsonList>,
    #[serde(default)]
    certificate_sha256: Option<JsonList>,
    #[serde(default)]
    active: Option<bool>,
}

fn json_rows(bytes: &[u8]) -> Result<Vec<(Location, Fields)>, Problem> {
    let entries: Vec<serde_json::Value> = serde_json::from_slice(bytes).map_err(|e| {
        (
            Location::JsonPosition {
                line: e.line(),
                column: e.column(),
            },
            format!("not a JSON array of agencies: {e}"),
        )
    })?;
    let mut rows = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let location = Location::Entry(i + 1);
        let row: JsonRow =
            serde_json::from_value(entry).map_err(|e| (location.clone(), e.to_string()))?;
        let fields = Fields {
            code: row.code.trim().to_owned(),
            name: row.name,
            parent: row.parent.as_deref().and_then(optional),
            push_endpoint: row.push_endpoint.as_deref().and_then(optional),
            clerk_emails: row.clerk_emails.map(JsonList::into_vec).unwrap_or_default(),
            certificate_sha256: row
                .certificate_sha256
                .map(JsonList::into_vec)
                .unwrap_or_default(),
            active: row.active,
        };
        rows.push((location, fields));
    }
    Ok(rows)
}

/// A code or a certificate twice in one file is a mistake the operator must settle.
fn check_duplicates(rows: &[ImportRow]) -> Result<(), Problem> {
    let mut codes: HashMap<&OrganId, &Location> = HashMap::new();
    let mut certificates: HashMap<Fingerprint, (&OrganId, &Location)> = HashMap::new();
    for row in rows {
        if let Some(first) = codes.insert(&row.agency.code, &row.location) {
            return Err((
                row.location.clone(),
                format!("agency {} is already listed at {first}", row.agency.code),
            ));
        }
        for cert in &row.certificates {
            if let Some((other, at)) =
                certificates.insert(cert.fingerprint, (&row.agency.code, &row.location))
            {
                return Err((
                    row.location.clone(),
                    format!(
                        "certificate {} is also listed for agency {other} at {at}; a certificate \
                         belongs to one agency",
                        cert.fingerprint
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The deepest parent chain accepted (the standard has four levels; non-standard codes add a few).
const MAX_DEPTH: usize = 32;

/// Checks the rows against the directory and applies them, on the writer's connection (so the
/// check and the change are one transaction). Any refusal leaves the directory untouched.
pub async fn apply(
    conn: &mut AnyConnection,
    rows: &[ImportRow],
    source_name: &str,
    now: i64,
) -> Result<ImportReport, DirectoryError> {
    let refuse = |location: &Location, reason: String| DirectoryError::Import {
        source_name: source_name.to_owned(),
        location: location.clone(),
        reason,
    };
    let in_file: HashMap<&str, &ImportRow> =
        rows.iter().map(|r| (r.agency.code.as_str(), r)).collect();
    let mut stored_parents: HashMap<String, Option<String>> = HashMap::new();
    for row in rows {
        check_parent_chain(conn, row, &in_file, &mut stored_parents)
            .await?
            .map_or(Ok(()), |reason| Err(refuse(&row.location, reason)))?;
        for cert in &row.certificates {
            let sha = cert.fingerprint.to_string();
            if let Some(owner) = agencies::certificate(conn, &sha).await? {
                let moves_within_file = in_file.contains_key(owner.agency_code.as_str());
                if owner.agency_code != row.agency.code.as_str() && !moves_within_file {
                    return Err(refuse(
                        &row.location,
                        format!(
                            "certificate {sha} is bound to agency {} in the directory; a \
                             certificate belongs to one agency",
                            owner.agency_code
                        ),
                    ));
                }
            }
        }
    }
    let mut report = ImportReport::default();
    for row in parents_first(rows) {
        match agencies::upsert(conn, &agency_record(&row.agency, now)).await? {
            Upsert::Inserted => report.imported += 1,
            Upsert::Updated => report.updated += 1,
        }
    }
    // Unbind first, so that a certificate moving between two agencies of the file is free
    // when it is bound again.
    for row in rows {
        let code = row.agency.code.as_str();
        for old in agencies::certificates_of(conn, code).await? {
            if !row
                .certificates
                .iter()
                .any(|c| c.fingerprint.to_string() == old.sha256)
            {
                agencies::unbind_certificate(conn, code, &old.sha256).await?;
            }
        }
    }
    for row in rows {
        for cert in &row.certificates {
            agencies::bind_certificate(conn, &certificate_record(&row.agency.code, cert, now))
                .await?;
            report.certificates += 1;
        }
    }
    Ok(report)
}

/// Creates or replaces one agency (not its certificates) after the same parent checks as an
/// import.
pub(crate) async fn upsert_one(
    conn: &mut AnyConnection,
    agency: &Agency,
    now: i64,
) -> Result<Upsert, DirectoryError> {
    let row = ImportRow {
        location: Location::Entry(1),
        agency: agency.clone(),
        certificates: Vec::new(),
    };
    let in_file = HashMap::from([(agency.code.as_str(), &row)]);
    if let Some(reason) = check_parent_chain(conn, &row, &in_file, &mut HashMap::new()).await? {
        return Err(DirectoryError::Invalid(reason));
    }
    Ok(agencies::upsert(conn, &agency_record(agency, now)).await?)
}

/// `Some(reason)` when the row's parent is unknown or its chain of parents loops.
async fn check_parent_chain(
    conn: &mut AnyConnection,
    row: &ImportRow,
    in_file: &HashMap<&str, &ImportRow>,
    stored_parents: &mut HashMap<String, Option<String>>,
) -> Result<Option<String>, DirectoryError> {
    let mut seen: HashSet<String> = HashSet::from([row.agency.code.as_str().to_owned()]);
    let mut current = row.agency.parent.as_ref().map(|p| p.as_str().to_owned());
    let mut first = true;
    while let Some(code) = current {
        if !seen.insert(code.clone()) {
            return Ok(Some(format!(
                "the chain of parents of {} loops through {code}",
                row.agency.code
            )));
        }
        if seen.len() > MAX_DEPTH {
            return Ok(Some(format!(
                "the chain of parents of {} is deeper than {MAX_DEPTH} levels",
                row.agency.code
            )));
        }
        current = match in_file.get(code.as_str()) {
            Some(parent_row) => parent_row
                .agency
                .parent
                .as_ref()
                .map(|p| p.as_str().to_owned()),
            None => match stored_parent(conn, &code, stored_parents).await? {
                Some(parent) => parent,
                None if first => {
                    return Ok(Some(format!(
                        "parent {code} is neither in this file nor in the directory"
                    )))
                }
                // A stored agency's parent always exists (foreign key).
                None => None,
            },
        };
        first = false;
    }
    Ok(None)
}

/// `None` when the agency is not stored; `Some(parent)` otherwise.
async fn stored_parent(
    conn: &mut AnyConnection,
    code: &str,
    cache: &mut HashMap<String, Option<String>>,
) -> Result<Option<Option<String>>, DirectoryError> {
    if let Some(parent) = cache.get(code) {
        return Ok(Some(parent.clone()));
    }
    let Some(record) = agencies::get(conn, code).await? else {
        return Ok(None);
    };
    cache.insert(code.to_owned(), record.parent.clone());
    Ok(Some(record.parent))
}

/// Rows ordered so that an agency comes after its parent when both are in the file (the
/// parent reference is checked at each insert). Chains were checked for loops already.
fn parents_first(rows: &[ImportRow]) -> Vec<&ImportRow> {
    let by_code: HashMap<&str, &ImportRow> =
        rows.iter().map(|r| (r.agency.code.as_str(), r)).collect();
    let mut placed: HashSet<&str> = HashSet::new();
    let mut ordered = Vec::with_capacity(rows.len());
    for row in rows {
        let mut chain = vec![row];
        let mut current = row;
        while let Some(parent) = current
            .agency
            .parent
            .as_ref()
            .and_then(|p| by_code.get(p.as_str()))
        {
            if placed.contains(parent.agency.code.as_str()) || chain.len() > rows.len() {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        for r in chain.into_iter().rev() {
            if placed.insert(r.agency.code.as_str()) {
                ordered.push(r);
            }
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    const H49_CERT: &str = "984abdf8458226db178f9b2d848a51076c60259aadc51f30b721ad0bb7c30bd6";

    fn csv(text: &str) -> Result<Vec<ImportRow>, DirectoryError> {
        parse(text.as_bytes(), Format::Csv, "test.csv")
    }

    fn json(text: &str) -> Result<Vec<ImportRow>, DirectoryError> {
        parse(text.as_bytes(), Format::Json, "test.json")
    }

    fn refused_at(result: Result<Vec<ImportRow>, DirectoryError>) -> (Location, String) {
        match result {
            Err(DirectoryError::Import {
                location, reason, ..
            }) => (location, reason),
            other => panic!("expected an import refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_csv_file_reads_into_rows() {
        let rows = csv(&format!(
            "code,name,parent,push_endpoint,clerk_emails,certificate_sha256\n\
             000.00.00.H49,Ủy ban nhân dân tỉnh Quảng Ninh,,,vanthu@quangninh.gov.vn; vp@quangninh.gov.vn,{H49_CERT}\n\
             000.01.01.H49,\"Văn phòng UBND tỉnh, Quảng Ninh\",000.00.00.H49,https://vp.quangninh.gov.vn/inbox,,\n"
        ))
        .expect("parse");
        assert_eq!(rows.len(), 2);
        let first = rows.first().expect("row");
        assert_eq!(first.location, Location::Line(2));
        assert_eq!(first.agency.code.as_str(), "000.00.00.H49");
        assert_eq!(first.agency.clerk_emails.len(), 2);
        assert_eq!(first.certificates.len(), 1);
        assert!(first.agency.active);
        let second = rows.get(1).expect("row");
        assert_eq!(
            second.agency.name.as_str(),
            "Văn phòng UBND tỉnh, Quảng Ninh"
        );
        assert_eq!(
            second.agency.parent.as_ref().map(OrganId::as_str),
            Some("000.00.00.H49")
        );
        assert!(second.agency.push_endpoint.is_some());
    }

    #[test]
    fn columns_may_come_in_any_order_and_optional_ones_may_be_left_out() {
        let rows = csv("name,code,active\r\nBộ Thử nghiệm,000.00.00.G22,false\r\n").expect("parse");
        assert_eq!(rows.len(), 1);
        assert!(!rows.first().expect("row").agency.active);
    }

    #[test]
    fn csv_refusals_name_the_line() {
        let header = "code,name,parent,push_endpoint,clerk_emails,certificate_sha256\n";
        let cases = [
            (
                format!("{header}000.00.00.H49,A,,,,\n00.00.00.H49,B,,,,\n"),
                3,
                "13 characters",
            ),
            (
                format!("{header}000.00.00.H49,A,,,,\n000.00.00.h49,B,,,,\n"),
                3,
                "capital letter",
            ),
            (
                format!("{header}000.00.00.H49,A,,,,\n000.00.00.H50,,,,,\n"),
                3,
                "name",
            ),
            (
                format!("{header}000.00.00.H49,A,,ftp://x,,\n"),
                2,
                "https://",
            ),
            (
                format!("{header}000.00.00.H49,A,,,not-an-address,\n"),
                2,
                "clerk e-mail",
            ),
            (format!("{header}000.00.00.H49,A,,,,abcd\n"), 2, "SHA-256"),
            (
                format!("{header}000.00.00.H49,A,000.00.00.H49,,,\n"),
                2,
                "own parent",
            ),
            (format!("{header}000.00.00.H49,A,,,\n"), 2, "5 fields"),
            (
                format!("{header}000.00.00.H49,A,,,,\n000.00.00.H49,B,,,,\n"),
                3,
                "already listed at line 2",
            ),
            (
                format!("{header}000.00.00.H49,A,,,,{H49_CERT}\n000.00.00.H08,B,,,,{H49_CERT}\n"),
                3,
                "one agency",
            ),
            ("code,name,colour\n".to_owned(), 1, "unknown column"),
            ("name,parent\n".to_owned(), 1, "no \"code\" column"),
        ];
        for (text, line, needle) in cases {
            let (location, reason) = refused_at(csv(&text));
            assert_eq!(location, Location::Line(line), "{text}");
            assert!(reason.contains(needle), "{reason} should mention {needle}");
        }
        let mut bytes = format!("{header}000.00.00.H49,").into_bytes();
        bytes.extend_from_slice(b"\xff\xfe,,,,\n");
        let (location, reason) = refused_at(parse(&bytes, Format::Csv, "t.csv"));
        assert_eq!(location, Location::Line(2));
        assert!(reason.contains("UTF-8"), "{reason}");
    }

    #[test]
    fn a_json_file_reads_into_rows_with_lists_in_either_form() {
        let rows = json(&format!(
            r#"[{{"code":"000.00.00.H49","name":"UBND tỉnh Quảng Ninh","clerk_emails":["a@qn.gov.vn"],
                 "certificate_sha256":"{H49_CERT}"}},
                {{"code":"vxp.saas.03","name":"Hệ thống thử nghiệm","parent":"000.00.00.H49",
                 "clerk_emails":"b@qn.gov.vn;c@qn.gov.vn","active":false}}]"#
        ))
        .expect("parse");
        assert_eq!(rows.len(), 2);
        let second = rows.get(1).expect("row");
        assert_eq!(second.location, Location::Entry(2));
        assert!(matches!(second.agency.code, OrganId::NonStandard(_)));
        assert_eq!(second.agency.clerk_emails.len(), 2);
        assert!(!second.agency.active);
    }

    #[test]
    fn json_refusals_name_the_entry_or_position() {
        let (location, reason) = refused_at(json(
            r#"[{"code":"000.00.00.H49","name":"A"},{"code":"000.00.00.h49","name":"B"}]"#,
        ));
        assert_eq!(location, Location::Entry(2));
        assert!(reason.contains("capital letter"), "{reason}");
        let (location, reason) = refused_at(json(
            r#"[{"code":"000.00.00.H49","name":"A","colour":"red"}]"#,
        ));
        assert_eq!(location, Location::Entry(1));
        assert!(reason.contains("colour"), "{reason}");
        let (location, _) = refused_at(json("[\n{\"code\":\"000.00.00.H49\",\n\"name\":"));
        assert!(
            matches!(location, Location::JsonPosition { line: 3, .. }),
            "{location:?}"
        );
        let (location, _) = refused_at(json(r#"{"code":"000.00.00.H49","name":"A"}"#));
        assert!(matches!(location, Location::JsonPosition { .. }));
    }

    #[test]
    fn parents_come_before_their_children() {
        let rows = csv("code,name,parent\n\
             000.01.01.H49,C,000.00.01.H49\n\
             000.00.01.H49,B,000.00.00.H49\n\
             000.00.00.H08,X,\n\
             000.00.00.H49,A,\n")
        .expect("parse");
        let order: Vec<&str> = parents_first(&rows)
            .iter()
            .map(|r| r.agency.code.as_str())
            .collect();
        assert_eq!(
            order,
            [
                "000.00.00.H49",
                "000.00.01.H49",
                "000.01.01.H49",
                "000.00.00.H08"
            ]
        );
    }

    #[test]
    fn formats_are_told_by_extension() {
        assert_eq!(
            Format::of_path(Path::new("a/b.CSV")).ok(),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::of_path(Path::new("b.json")).ok(),
            Some(Format::Json)
        );
        assert!(Format::of_path(Path::new("b.xlsx")).is_err());
    }
}
