//! The coded values of edXML: agency codes (mã định danh, spec §3), status codes (§2),
//! business document types, priorities. Each is parsed once at the edge and then trusted.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a coded value was refused. The reader wraps this with the element path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("{value} is not a valid agency code: {reason} (the standard form is DDD.DD.DD.LDD, e.g. 000.00.00.H49)")]
    InvalidAgencyCode { value: String, reason: &'static str },
    #[error("{value} is not a valid organisation id: {reason}")]
    InvalidOrganId { value: String, reason: &'static str },
    #[error("{value} is not a known {what} (known values: {known})")]
    Unknown {
        what: &'static str,
        value: String,
        known: &'static str,
    },
}

impl CodeError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            CodeError::InvalidAgencyCode { .. } | CodeError::InvalidOrganId { .. } => {
                "edxml.invalid_agency_code"
            }
            CodeError::Unknown { .. } => "edxml.invalid_value",
        }
    }
}

/// Quotes an untrusted value for an error message, cut short so that hostile input cannot
/// flood logs.
pub(crate) fn shown(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut cut: String = value.chars().take(MAX_CHARS).collect();
    if value.chars().nth(MAX_CHARS).is_some() {
        cut.push('…');
    }
    format!("{cut:?}")
}

/// A standard agency code `V1V2V3.Z1Z2.Y1Y2.X1X2X3` (13 characters). Level 1 (`X1X2X3`, a
/// capital letter and two digits) is the ministry, province or other top-level body; levels
/// 2 (`Y1Y2`), 3 (`Z1Z2`) and 4 (`V1V2V3`) are digits, all zeros when the level is unused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgencyCode(String);

impl AgencyCode {
    /// Length of the standard form.
    pub const LEN: usize = 13;

    /// Accepts only the strict 13-character form.
    pub fn parse(value: &str) -> Result<AgencyCode, CodeError> {
        let invalid = |reason| CodeError::InvalidAgencyCode {
            value: shown(value),
            reason,
        };
        let b = value.as_bytes();
        if b.len() != Self::LEN {
            return Err(invalid("it must be exactly 13 characters long"));
        }
        if b[3] != b'.' || b[6] != b'.' || b[9] != b'.' {
            return Err(invalid("dots are expected at positions 4, 7 and 10"));
        }
        let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
        if !digits(0..3) || !digits(4..6) || !digits(7..9) {
            return Err(invalid(
                "levels 2 to 4 (the first three groups) must be digits",
            ));
        }
        if !b[10].is_ascii_uppercase() || !digits(11..13) {
            return Err(invalid(
                "level 1 (the last group) must be a capital letter followed by two digits",
            ));
        }
        Ok(AgencyCode(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The deepest level in use: 1 for a top-level body (`000.00.00.H49`), up to 4.
    pub fn level(&self) -> u8 {
        match self.lower_groups().iter().position(|g| !is_zeros(g)) {
            Some(i) => 4 - i as u8,
            None => 1,
        }
    }

    /// The code one level up, found by zeroing the deepest level in use; `None` at level 1.
    pub fn parent(&self) -> Option<AgencyCode> {
        let groups = self.lower_groups();
        let deepest = groups.iter().position(|g| !is_zeros(g))?;
        let mut parent = String::with_capacity(Self::LEN);
        for (i, group) in groups.iter().enumerate() {
            if i == deepest {
                parent.push_str(&"0".repeat(group.len()));
            } else {
                parent.push_str(group);
            }
            parent.push('.');
        }
        parent.push_str(self.0.get(10..).unwrap_or_default());
        Some(AgencyCode(parent))
    }

    /// The level-1 part, e.g. `H49`.
    pub fn top_level(&self) -> &str {
        self.0.get(10..).unwrap_or_default()
    }

    /// Levels 4, 3 and 2, left to right as written.
    fn lower_groups(&self) -> [&str; 3] {
        let s = &self.0;
        [
            s.get(0..3).unwrap_or_default(),
            s.get(4..6).unwrap_or_default(),
            s.get(7..9).unwrap_or_default(),
        ]
    }
}

fn is_zeros(group: &str) -> bool {
    group.bytes().all(|b| b == b'0')
}

impl fmt::Display for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AgencyCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgencyCode::parse(s)
    }
}

/// A code outside the standard form (e.g. the axis's test code `vxp.saas.03`). Only the
/// directory can vouch for it: it is kept apart from [`AgencyCode`] so that every caller has
/// to decide what to do with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NonStandardCode(String);

impl NonStandardCode {
    /// Longest non-standard code accepted, in characters.
    pub const MAX_LEN: usize = 64;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NonStandardCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identifier of an agency as written in `OrganId`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrganId {
    /// A code in the standard form, validated strictly.
    Standard(AgencyCode),
    /// Any other code: accept it only if the directory lists it.
    NonStandard(NonStandardCode),
}

impl OrganId {
    /// A value that is written like a standard code (four dot-separated groups, the first
    /// three all digits) must be one; anything else becomes [`OrganId::NonStandard`] if it is
    /// non-empty, at most 64 characters, and free of whitespace and control characters.
    pub fn parse(value: &str) -> Result<OrganId, CodeError> {
        if looks_standard(value) {
            return AgencyCode::parse(value).map(OrganId::Standard);
        }
        let invalid = |reason| CodeError::InvalidOrganId {
            value: shown(value),
            reason,
        };
        if value.is_empty() {
            return Err(invalid("it is empty"));
        }
        if value.chars().count() > NonStandardCode::MAX_LEN {
            return Err(invalid("it is longer than 64 characters"));
        }
        if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("it contains whitespace or control characters"));
        }
        Ok(OrganId::NonStandard(NonStandardCode(value.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        match self {
            OrganId::Standard(code) => code.as_str(),
            OrganId::NonStandard(code) => code.as_str(),
        }
    }

    /// The standard code, if this is one.
    pub fn standard(&self) -> Option<&AgencyCode> {
        match self {
            OrganId::Standard(code) => Some(code),
            OrganId::NonStandard(_) => None,
        }
    }
}

fn looks_standard(value: &str) -> bool {
    let groups: Vec<&str> = value.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .take(3)
            .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
}

impl fmt::Display for OrganId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OrganId {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrganId::parse(s)
    }
}

impl From<AgencyCode> for OrganId {
    fn from(code: AgencyCode) -> Self {
        OrganId::Standard(code)
    }
}

/// Parses a small non-negative number written with ASCII digits only (no sign, no spaces).
fn small_number(value: &str, max_digits: usize) -> Option<u8> {
    if value.is_empty() || value.len() > max_digits || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// The status a recipient (or, for 13, the sender) reports on a document (spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusCode {
    /// 01: arrived at the recipient's system, not yet handled by a clerk.
    Inbox,
    /// 02: refused (also: refuses a revoke order).
    Rejection,
    /// 03: accepted and registered in the incoming book (also: agrees to a revoke).
    Acceptance,
    /// 04: a leader assigned it for handling.
    Assignment,
    /// 05: an officer is handling it.
    Processing,
    /// 06: handling completed.
    Finish,
    /// 13: the sender asks to take the document back.
    Cancellation,
    /// 15: agrees to a take-back or an update.
    ChangeAcceptance,
    /// 16: refuses a take-back or an update.
    ChangeRejection,
}

impl StatusCode {
    pub const ALL: [StatusCode; 9] = [
        StatusCode::Inbox,
        StatusCode::Rejection,
        StatusCode::Acceptance,
        StatusCode::Assignment,
        StatusCode::Processing,
        StatusCode::Finish,
        StatusCode::Cancellation,
        StatusCode::ChangeAcceptance,
        StatusCode::ChangeRejection,
    ];

    /// Accepts the two-digit form (`"03"`) and, because some clients write the number
    /// without padding, the one-digit form (`"3"`).
    pub fn parse(value: &str) -> Result<StatusCode, CodeError> {
        let number = small_number(value, 2);
        Self::ALL
            .into_iter()
            .find(|c| Some(c.number()) == number)
            .ok_or_else(|| CodeError::Unknown {
                what: "status code",
                value: shown(value),
                known: "01, 02, 03, 04, 05, 06, 13, 15, 16",
            })
    }

    pub fn number(self) -> u8 {
        match self {
            StatusCode::Inbox => 1,
            StatusCode::Rejection => 2,
            StatusCode::Acceptance => 3,
            StatusCode::Assignment => 4,
            StatusCode::Processing => 5,
            StatusCode::Finish => 6,
            StatusCode::Cancellation => 13,
            StatusCode::ChangeAcceptance => 15,
            StatusCode::ChangeRejection => 16,
        }
    }

    /// The two-digit form written in packets.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Inbox => "01",
            StatusCode::Rejection => "02",
            StatusCode::Acceptance => "03",
            StatusCode::Assignment => "04",
            StatusCode::Processing => "05",
            StatusCode::Finish => "06",
            StatusCode::Cancellation => "13",
            StatusCode::ChangeAcceptance => "15",
            StatusCode::ChangeRejection => "16",
        }
    }

    /// The English name clients use in status file names (`status_acceptance_03`).
    pub fn name(self) -> &'static str {
        match self {
            StatusCode::Inbox => "inbox",
            StatusCode::Rejection => "rejection",
            StatusCode::Acceptance => "acceptance",
            StatusCode::Assignment => "assignment",
            StatusCode::Processing => "processing",
            StatusCode::Finish => "finish",
            StatusCode::Cancellation => "cancellation",
            StatusCode::ChangeAcceptance => "change-acceptance",
            StatusCode::ChangeRejection => "change-rejection",
        }
    }

    /// The label a Vietnamese clerk sees.
    pub fn label_vi(self) -> &'static str {
        match self {
            StatusCode::Inbox => "Đã đến",
            StatusCode::Rejection => "Từ chối tiếp nhận",
            StatusCode::Acceptance => "Đã tiếp nhận",
            StatusCode::Assignment => "Phân công xử lý",
            StatusCode::Processing => "Đang xử lý",
            StatusCode::Finish => "Hoàn thành",
            StatusCode::Cancellation => "Lấy lại văn bản",
            StatusCode::ChangeAcceptance => "Đồng ý lấy lại / cập nhật",
            StatusCode::ChangeRejection => "Từ chối lấy lại / cập nhật",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a message packet does (`Bussiness/BussinessDocType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BusinessDocType {
    /// 0: a new document.
    #[default]
    New,
    /// 1: revokes (thu hồi) an earlier document.
    Revoke,
    /// 2: updates (cập nhật) an earlier document.
    Update,
    /// 3: replaces (thay thế) an earlier document.
    Replace,
}

impl BusinessDocType {
    pub fn parse(value: &str) -> Result<BusinessDocType, CodeError> {
        match small_number(value, 2) {
            Some(0) => Ok(BusinessDocType::New),
            Some(1) => Ok(BusinessDocType::Revoke),
            Some(2) => Ok(BusinessDocType::Update),
            Some(3) => Ok(BusinessDocType::Replace),
            _ => Err(CodeError::Unknown {
                what: "business document type",
                value: shown(value),
                known: "0 new, 1 revoke, 2 update, 3 replace",
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BusinessDocType::New => "0",
            BusinessDocType::Revoke => "1",
            BusinessDocType::Update => "2",
            BusinessDocType::Replace => "3",
        }
    }

    /// Whether the packet acts on an earlier document, which it must then name.
    pub fn refers_to_original(self) -> bool {
        self != BusinessDocType::New
    }
}

impl fmt::Display for BusinessDocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How fast a document must be handled (`OtherInfo/Priority`, độ khẩn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Priority {
    /// 0: normal (thường).
    #[default]
    Normal,
    /// 1: urgent (khẩn).
    Urgent,
    /// 2: very urgent (thượng khẩn).
    VeryUrgent,
    /// 3: express (hỏa tốc).
    Express,
    /// 4: express at a set time (hỏa tốc hẹn giờ).
    ExpressScheduled,
}

impl Priority {
    pub fn parse(value: &str) -> Result<Priority, CodeError> {
        match small_number(value, 2) {
            Some(0) => Ok(Priority::Normal),
            Some(1) => Ok(Priority::Urgent),
            Some(2) => Ok(Priority::VeryUrgent),
            Some(3) => Ok(Priority::Express),
            Some(4) => Ok(Priority::ExpressScheduled),
            _ => Err(CodeError::Unknown {
                what: "priority",
                value: shown(value),
                known: "0 to 4",
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "0",
            Priority::Urgent => "1",
            Priority::VeryUrgent => "2",
            Priority::Express => "3",
            Priority::ExpressScheduled => "4",
        }
    }

    /// 0 (normal) … 4 (hỏa tốc hẹn giờ), as stored.
    pub fn level(self) -> u8 {
        match self {
            Priority::Normal => 0,
            Priority::Urgent => 1,
            Priority::VeryUrgent => 2,
            Priority::Express => 3,
            Priority::ExpressScheduled => 4,
        }
    }

    /// The priority of a stored level.
    pub fn of_level(level: i64) -> Option<Priority> {
        [
            Priority::Normal,
            Priority::Urgent,
            Priority::VeryUrgent,
            Priority::Express,
            Priority::ExpressScheduled,
        ]
        .into_iter()
        .find(|p| i64::from(p.level()) == level)
    }

    /// The ASCII keyword the API and the CLI use (`lienthong packet build --priority`).
    pub fn keyword(self) -> &'static str {
        match self {
            Priority::Normal => "thuong",
            Priority::Urgent => "khan",
            Priority::VeryUrgent => "thuong-khan",
            Priority::Express => "hoa-toc",
            Priority::ExpressScheduled => "hoa-toc-hen-gio",
        }
    }

    pub fn label_vi(self) -> &'static str {
        match self {
            Priority::Normal => "Thường",
            Priority::Urgent => "Khẩn",
            Priority::VeryUrgent => "Thượng khẩn",
            Priority::Express => "Hỏa tốc",
            Priority::ExpressScheduled => "Hỏa tốc hẹn giờ",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! serde_as_string {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                <$ty>::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_string!(AgencyCode);
serde_as_string!(OrganId);
serde_as_string!(StatusCode);
serde_as_string!(BusinessDocType);
serde_as_string!(Priority);

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> AgencyCode {
        AgencyCode::parse(s).unwrap()
    }

    #[test]
    fn agency_code_accepts_only_the_strict_form() {
        for ok in [
            "000.00.00.G22",
            "000.00.00.H49",
            "000.01.01.H08",
            "123.45.67.A00",
        ] {
            assert_eq!(code(ok).as_str(), ok);
        }
        for bad in [
            "",
            "000.00.00.G2",
            "000.00.00.G222",
            "000-00-00-G22",
            "000.00.00.g22",
            "000.00.00.222",
            "000.00.00.GG2",
            "0a0.00.00.G22",
            "000.0.000.G22",
            " 000.00.00.G2",
            "000.00.00.Ｇ2",
        ] {
            let err = AgencyCode::parse(bad).unwrap_err();
            assert_eq!(err.code(), "edxml.invalid_agency_code", "{bad:?}");
        }
    }

    #[test]
    fn agency_code_levels_and_parents() {
        assert_eq!(code("000.00.00.H08").level(), 1);
        assert_eq!(code("000.00.01.H08").level(), 2);
        assert_eq!(code("000.02.01.H08").level(), 3);
        assert_eq!(code("007.02.01.H08").level(), 4);
        assert_eq!(code("000.00.00.H08").parent(), None);
        assert_eq!(code("000.02.01.H08").parent(), Some(code("000.00.01.H08")));
        assert_eq!(code("000.00.01.H08").parent(), Some(code("000.00.00.H08")));
        assert_eq!(code("007.02.01.H08").parent(), Some(code("000.02.01.H08")));
        assert_eq!(code("007.02.01.H08").top_level(), "H08");
        // A skipped level is not invented: the parent is the next level actually in use.
        assert_eq!(code("000.03.00.G22").parent(), Some(code("000.00.00.G22")));
        assert_eq!(code("000.03.00.G22").to_string(), "000.03.00.G22");
    }

    #[test]
    fn organ_id_keeps_non_standard_codes_apart() {
        assert_eq!(
            OrganId::parse("000.00.00.H49").unwrap(),
            OrganId::Standard(code("000.00.00.H49"))
        );
        let saas = OrganId::parse("vxp.saas.03").unwrap();
        assert!(matches!(saas, OrganId::NonStandard(_)));
        assert_eq!(saas.as_str(), "vxp.saas.03");
        assert_eq!(saas.standard(), None);
        // Written like a standard code but broken: refused, not demoted to non-standard.
        assert_eq!(
            OrganId::parse("000.00.00.H4").unwrap_err().code(),
            "edxml.invalid_agency_code"
        );
        for bad in ["", "a b", "x\u{7}y", &"x".repeat(65)] {
            assert_eq!(
                OrganId::parse(bad).unwrap_err().code(),
                "edxml.invalid_agency_code",
                "{bad:?}"
            );
        }
        assert!(OrganId::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn status_codes_round_trip_and_name_themselves() {
        for c in StatusCode::ALL {
            assert_eq!(StatusCode::parse(c.as_str()).unwrap(), c);
            assert_eq!(c.as_str().len(), 2);
            assert!(!c.label_vi().is_empty());
        }
        assert_eq!(StatusCode::parse("3").unwrap(), StatusCode::Acceptance);
        assert_eq!(StatusCode::Acceptance.name(), "acceptance");
        assert_eq!(StatusCode::ChangeRejection.name(), "change-rejection");
        assert_eq!(StatusCode::parse("16").unwrap().number(), 16);
        for bad in ["07", "14", "00", "", "003", "+3", " 3", "ab"] {
            let err = StatusCode::parse(bad).unwrap_err();
            assert_eq!(err.code(), "edxml.invalid_value");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn business_types_and_priorities() {
        assert_eq!(BusinessDocType::parse("0").unwrap(), BusinessDocType::New);
        assert_eq!(
            BusinessDocType::parse("3").unwrap(),
            BusinessDocType::Replace
        );
        assert!(BusinessDocType::Revoke.refers_to_original());
        assert!(!BusinessDocType::New.refers_to_original());
        let err = BusinessDocType::parse("4").unwrap_err();
        assert!(err.to_string().contains("\"4\""), "{err}");
        assert_eq!(Priority::parse("4").unwrap(), Priority::ExpressScheduled);
        assert_eq!(Priority::parse("2").unwrap().as_str(), "2");
        assert_eq!(
            Priority::parse("5").unwrap_err().code(),
            "edxml.invalid_value"
        );
        assert_eq!(
            Priority::parse("-1").unwrap_err().code(),
            "edxml.invalid_value"
        );
    }

    #[test]
    fn serde_uses_the_written_form() {
        let id = OrganId::parse("000.00.00.G22").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"000.00.00.G22\"");
        assert_eq!(serde_json::from_str::<OrganId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<AgencyCode>("\"vxp.saas.03\"").is_err());
        assert_eq!(
            serde_json::from_str::<StatusCode>("\"05\"").unwrap(),
            StatusCode::Processing
        );
    }

    #[test]
    fn error_values_are_cut_short() {
        let long = "9".repeat(500);
        let err = StatusCode::parse(&long).unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
    }
}
