//! Conversions between the directory's parsed types and the store's plain rows. Rows read
//! back are parsed again: a value that no longer parses means the database was changed
//! outside lienthong, and is reported as `store.corrupt`.

use crate::edxml::OrganId;
use crate::pki::Fingerprint;
use crate::store::{AgencyRecord, CertificateRecord, StoreError};

use super::agency::{Agency, AgencyName, BoundCertificate, ClerkEmail, PushEndpoint};

pub(crate) fn agency_record(agency: &Agency, now: i64) -> AgencyRecord {
    AgencyRecord {
        code: agency.code.as_str().to_owned(),
        name: agency.name.as_str().to_owned(),
        parent: agency.parent.as_ref().map(|p| p.as_str().to_owned()),
        push_endpoint: agency.push_endpoint.as_ref().map(|e| e.as_str().to_owned()),
        clerk_emails: agency
            .clerk_emails
            .iter()
            .map(|e| e.as_str().to_owned())
            .collect(),
        active: agency.active,
        created_at: now,
        updated_at: now,
    }
}

pub(crate) fn agency_from_record(record: AgencyRecord) -> Result<Agency, StoreError> {
    let bad = |what: String| StoreError::corrupt(format!("agency {}: {what}", record.code));
    let code = OrganId::parse(&record.code).map_err(|e| bad(e.to_string()))?;
    let parent = record
        .parent
        .as_deref()
        .map(OrganId::parse)
        .transpose()
        .map_err(|e| bad(e.to_string()))?;
    let name = AgencyName::parse(&record.name).map_err(|e| bad(e.to_string()))?;
    let push_endpoint = record
        .push_endpoint
        .as_deref()
        .map(PushEndpoint::parse)
        .transpose()
        .map_err(|e| bad(e.to_string()))?;
    let clerk_emails = record
        .clerk_emails
        .iter()
        .map(|e| ClerkEmail::parse(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    Ok(Agency {
        code,
        name,
        parent,
        push_endpoint,
        clerk_emails,
        active: record.active,
    })
}

pub(crate) fn certificate_record(
    agency: &OrganId,
    cert: &BoundCertificate,
    now: i64,
) -> CertificateRecord {
    CertificateRecord {
        agency_code: agency.as_str().to_owned(),
        sha256: cert.fingerprint.to_string(),
        subject: cert.subject.clone(),
        serial: cert.serial.clone(),
        not_after: cert.not_after,
        created_at: now,
    }
}

pub(crate) fn certificate_from_record(
    record: CertificateRecord,
) -> Result<BoundCertificate, StoreError> {
    let fingerprint = Fingerprint::parse(&record.sha256).ok_or_else(|| {
        StoreError::corrupt(format!(
            "agency {}: certificate fingerprint {:?} is not 64 hex digits",
            record.agency_code, record.sha256
        ))
    })?;
    Ok(BoundCertificate {
        fingerprint,
        subject: record.subject,
        serial: record.serial,
        not_after: record.not_after,
    })
}
