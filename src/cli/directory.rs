//! `lienthong agency list`: the directory streamed page by page (1,000 agencies and one
//! certificate query a page), so that the national directory's 111,000 agencies print in
//! bounded memory, as a table or as a JSON array in the import format.

use std::io::{self, Write};

use lienthong::directory::{Agency, BoundCertificate, Directory, DirectoryError};
use lienthong::store::AgencyFilter;

use super::Failure;

/// Agencies read and written per round.
const PAGE: u32 = 1000;

/// One agency in the import format, fields in the CSV header's order.
#[derive(serde::Serialize)]
struct Listed<'a> {
    code: &'a str,
    name: &'a str,
    parent: Option<&'a str>,
    push_endpoint: Option<&'a str>,
    clerk_emails: Vec<&'a str>,
    certificate_sha256: Vec<String>,
    active: bool,
}

/// Streams the agencies `filter` selects (its `after` and `limit` are used for paging) to
/// stdout; returns how many were printed. A closed pipe (`| head`) ends the listing quietly.
pub async fn list(
    directory: &Directory,
    mut filter: AgencyFilter,
    json: bool,
) -> Result<u64, Failure> {
    let fail = |e: DirectoryError| Failure::new(e.code(), e.to_string());
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut printed = 0u64;
    filter.limit = Some(PAGE);
    let header = if json {
        "[".to_owned()
    } else {
        format!(
            "{:15}  {:15}  {:>5}  {:6}  NAME",
            "CODE", "PARENT", "CERTS", "ACTIVE"
        )
    };
    let written = writeln!(out, "{header}");
    if stopped(written)? {
        return Ok(0);
    }
    loop {
        let page = directory.list(&filter).await.map_err(fail)?;
        let certificates = directory.certificates_of_page(&page).await.map_err(fail)?;
        for agency in &page {
            let certs = certificates
                .get(agency.code.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let written = if json {
                json_entry(&mut out, agency, certs, printed == 0)
            } else {
                table_row(&mut out, agency, certs.len())
            };
            if stopped(written)? {
                return Ok(printed);
            }
            printed += 1;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => {
                filter.after = Some(last.code.as_str().to_owned())
            }
            _ => break,
        }
    }
    let footer = if json {
        "\n]".to_owned()
    } else {
        format!("{printed} agencies")
    };
    let written = writeln!(out, "{footer}").and_then(|()| out.flush());
    stopped(written)?;
    Ok(printed)
}

/// Whether the reader has gone (a closed pipe); any other write error is a failure.
fn stopped(written: io::Result<()>) -> Result<bool, Failure> {
    match written {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(true),
        Err(e) => Err(Failure::new(
            "cli.io",
            format!("cannot write the listing: {e}"),
        )),
    }
}

fn json_entry(
    out: &mut impl Write,
    agency: &Agency,
    certs: &[BoundCertificate],
    first: bool,
) -> io::Result<()> {
    let entry = Listed {
        code: agency.code.as_str(),
        name: agency.name.as_str(),
        parent: agency.parent.as_ref().map(|p| p.as_str()),
        push_endpoint: agency.push_endpoint.as_ref().map(|e| e.as_str()),
        clerk_emails: agency.clerk_emails.iter().map(|e| e.as_str()).collect(),
        certificate_sha256: certs.iter().map(|c| c.fingerprint.to_string()).collect(),
        active: agency.active,
    };
    out.write_all(if first { b"\n  " } else { b",\n  " })?;
    serde_json::to_writer(&mut *out, &entry).map_err(io::Error::other)
}

fn table_row(out: &mut impl Write, agency: &Agency, certs: usize) -> io::Result<()> {
    writeln!(
        out,
        "{:15}  {:15}  {:>5}  {:6}  {}",
        agency.code.as_str(),
        agency.parent.as_ref().map_or("-", |p| p.as_str()),
        certs,
        if agency.active { "yes" } else { "no" },
        agency.name
    )
}
