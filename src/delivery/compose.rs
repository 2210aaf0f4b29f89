//! What a clerk's mail says, in Vietnamese: one event, or a digest of several to the same
//! clerks. Only what identifies a letter — number/notation, subject, sender, priority, due
//! date, a link — never its content or attachments: a mailbox is not the secure channel.

use crate::edxml::Priority;
use crate::store::mails::{MailBatch, MailEvent, MailItem};

/// A composed mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Longest subject line shown in a mail's Subject, in characters.
const SUBJECT_CHARS: usize = 120;

/// The mail for `batch`; links to `console` when given.
pub fn compose(batch: &MailBatch, console: Option<&str>) -> Composed {
    let to = batch.agency_name.as_deref().unwrap_or(&batch.agency);
    let subject = match batch.items.as_slice() {
        [one] => subject_of(one),
        items => format!(
            "[Liên thông] {} thông báo mới về văn bản của {to}",
            items.len()
        ),
    };
    let mut text = format!("Kính gửi bộ phận văn thư {to},\n\n");
    let mut html = format!("<p>Kính gửi bộ phận văn thư <b>{}</b>,</p>\n", escape(to));
    for item in &batch.items {
        let (title, lines) = describe(item, console);
        text.push_str(&format!("{title}\n"));
        html.push_str(&format!("<h3>{}</h3>\n<table>\n", escape(&title)));
        for (label, value) in &lines {
            text.push_str(&format!("  {label}: {value}\n"));
            let value_html = if value.starts_with("http://") || value.starts_with("https://") {
                format!("<a href=\"{0}\">{0}</a>", escape(value))
            } else {
                escape(value)
            };
            html.push_str(&format!(
                "<tr><td>{}</td><td>{value_html}</td></tr>\n",
                escape(label)
            ));
        }
        text.push('\n');
        html.push_str("</table>\n");
    }
    let footer = "Thư này do hệ thống liên thông văn bản gửi tự động; xin đừng trả lời. \
                  Nội dung văn bản chỉ có trong hệ thống quản lý văn bản của cơ quan.";
    text.push_str(footer);
    text.push('\n');
    html.push_str(&format!("<p><small>{}</small></p>\n", escape(footer)));
    Composed {
        subject,
        text,
        html,
    }
}

fn subject_of(item: &MailItem) -> String {
    let notation = item.notation.as_deref().unwrap_or("không số");
    let summary = shorten(item.subject.as_deref().unwrap_or_default());
    match item.event {
        MailEvent::Arrived => format!("[Liên thông] Văn bản đến: {notation} – {summary}"),
        MailEvent::Refused => format!(
            "[Liên thông] Văn bản bị từ chối: {notation} – {}",
            named(item.sender_name.as_deref(), &item.sender)
        ),
        MailEvent::Parked => format!("[Liên thông] Chưa chuyển được văn bản: {notation}"),
        MailEvent::Overdue => format!(
            "[Liên thông] Quá hạn xác nhận: {notation} – {}",
            named(item.recipient_name.as_deref(), &item.recipient)
        ),
        MailEvent::OverdueHandling => format!(
            "[Liên thông] Quá hạn xử lý: {notation} – {}",
            named(item.recipient_name.as_deref(), &item.recipient)
        ),
    }
}

/// The heading and the lines of one event.
fn describe(item: &MailItem, console: Option<&str>) -> (String, Vec<(&'static str, String)>) {
    let title = match item.event {
        MailEvent::Arrived => "Có văn bản mới gửi đến cơ quan",
        MailEvent::Refused => "Cơ quan nhận đã từ chối văn bản (trạng thái 02)",
        MailEvent::Parked => "Hệ thống chưa chuyển được văn bản đến hệ thống của cơ quan nhận",
        MailEvent::Overdue => "Cơ quan nhận chưa xác nhận đã nhận văn bản trong hạn",
        MailEvent::OverdueHandling => {
            "Đã quá hạn xử lý mà cơ quan nhận chưa báo hoàn thành (trạng thái 06)"
        }
    };
    let mut lines: Vec<(&'static str, String)> = Vec::new();
    lines.push((
        "Số/ký hiệu",
        item.notation
            .clone()
            .unwrap_or_else(|| "(không có)".to_owned()),
    ));
    if let Some(subject) = &item.subject {
        lines.push(("Trích yếu", subject.clone()));
    }
    // Who the other side is: the sender of an arriving letter, the recipient that refused (a
    // refusal is a status packet: its sender), the recipient a push could not reach or that
    // let a deadline pass.
    lines.push(match item.event {
        MailEvent::Arrived => (
            "Cơ quan gửi",
            named(item.sender_name.as_deref(), &item.sender),
        ),
        MailEvent::Refused => (
            "Cơ quan từ chối",
            named(item.sender_name.as_deref(), &item.sender),
        ),
        MailEvent::Parked | MailEvent::Overdue | MailEvent::OverdueHandling => (
            "Cơ quan nhận",
            named(item.recipient_name.as_deref(), &item.recipient),
        ),
    });
    if let Some(priority) = item.priority.and_then(Priority::of_level) {
        lines.push(("Độ khẩn", priority.label_vi().to_owned()));
    }
    if let Some(due) = &item.due_date {
        lines.push(("Hạn xử lý", vietnamese_date(due)));
    }
    lines.push(("Thời điểm", vietnam_time(item.received_at)));
    if let Some(detail) = &item.detail {
        lines.push(match item.event {
            MailEvent::Refused => ("Lý do từ chối", detail.clone()),
            // An overdue acknowledgement's detail is its deadline, microseconds.
            MailEvent::Overdue => (
                "Hạn xác nhận",
                detail.parse().map_or_else(|_| detail.clone(), vietnam_time),
            ),
            _ => ("Lý do", detail.clone()),
        });
    }
    if let Some(base) = console {
        lines.push((
            "Xem",
            format!(
                "{base}/documents/{}/{}",
                percent(&item.document_sender),
                percent(&item.document_id)
            ),
        ));
    }
    (title.to_owned(), lines)
}

fn named(name: Option<&str>, code: &str) -> String {
    match name {
        Some(name) => format!("{name} ({code})"),
        None => code.to_owned(),
    }
}

fn shorten(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= SUBJECT_CHARS {
        return one_line;
    }
    let cut: String = one_line.chars().take(SUBJECT_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// `2026-12-31` → `31/12/2026`.
fn vietnamese_date(iso: &str) -> String {
    match iso.split('-').collect::<Vec<_>>().as_slice() {
        [y, m, d] => format!("{d}/{m}/{y}"),
        _ => iso.to_owned(),
    }
}

/// Microseconds since the epoch as `05/12/2026 18:54 (giờ Việt Nam)`.
fn vietnam_time(micros: i64) -> String {
    let offset = time::UtcOffset::from_hms(7, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let format = time::macros::format_description!("[day]/[month]/[year] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.to_offset(offset).format(&format).ok())
        .map_or_else(|| micros.to_string(), |t| format!("{t} (giờ Việt Nam)"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A path segment with everything but unreserved characters percent-encoded.
fn percent(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(event: MailEvent) -> MailItem {
        MailItem {
            id: 1,
            event,
            delivery_seq: 7,
            detail: (event == MailEvent::Refused).then(|| "Gửi nhầm cơ quan".to_owned()),
            packet_id: "p".to_owned(),
            sender: "000.00.00.G22".to_owned(),
            sender_name: Some("Bộ Nội vụ".to_owned()),
            recipient: "000.00.00.H49".to_owned(),
            recipient_name: Some("UBND tỉnh Quảng Ninh".to_owned()),
            document_sender: "000.00.00.G22".to_owned(),
            document_id: "G22,2026/12/05,15/BTN-VP".to_owned(),
            notation: Some("15/BTN-VP".to_owned()),
            subject: Some("Về việc triển khai gửi nhận văn bản điện tử".to_owned()),
            priority: Some(1),
            due_date: Some("2026-12-31".to_owned()),
            // 2025-12-05 11:54:45 UTC: 18:54 in Vietnam (UTC+7).
            received_at: 1_764_935_685_000_000,
        }
    }

    fn batch(items: Vec<MailItem>) -> MailBatch {
        MailBatch {
            batch: "b".to_owned(),
            agency: "000.00.00.H49".to_owned(),
            agency_name: Some("UBND tỉnh Quảng Ninh".to_owned()),
            clerks: vec!["vanthu@quangninh.example.vn".to_owned()],
            attempts: 0,
            oldest: 0,
            items,
        }
    }

    #[test]
    fn an_arrival_names_the_letter_and_links_to_it_but_carries_no_content() {
        let mail = compose(
            &batch(vec![item(MailEvent::Arrived)]),
            Some("https://lienthong.example.gov.vn"),
        );
        assert_eq!(
            mail.subject,
            "[Liên thông] Văn bản đến: 15/BTN-VP – Về việc triển khai gửi nhận văn bản điện tử"
        );
        for expected in [
            "Số/ký hiệu: 15/BTN-VP",
            "Cơ quan gửi: Bộ Nội vụ (000.00.00.G22)",
            "Độ khẩn: Khẩn",
            "Hạn xử lý: 31/12/2026",
            "Thời điểm: 05/12/2025 18:54 (giờ Việt Nam)",
            "Xem: https://lienthong.example.gov.vn/documents/000.00.00.G22/G22%2C2026%2F12%2F05%2C15%2FBTN-VP",
        ] {
            assert!(mail.text.contains(expected), "{expected} not in\n{}", mail.text);
        }
        assert!(
            mail.html.contains("<td>Độ khẩn</td><td>Khẩn</td>"),
            "{}",
            mail.html
        );
    }

    #[test]
    fn a_refusal_gives_the_reason_and_several_events_make_one_digest() {
        let refused = compose(&batch(vec![item(MailEvent::Refused)]), None);
        assert!(refused
            .subject
            .starts_with("[Liên thông] Văn bản bị từ chối: 15/BTN-VP"));
        assert!(refused.text.contains("Lý do từ chối: Gửi nhầm cơ quan"));
        assert!(!refused.text.contains("Xem:"));
        let digest = compose(
            &batch(vec![item(MailEvent::Arrived), item(MailEvent::Arrived)]),
            None,
        );
        assert_eq!(
            digest.subject,
            "[Liên thông] 2 thông báo mới về văn bản của UBND tỉnh Quảng Ninh"
        );
        assert_eq!(
            digest
                .text
                .matches("Có văn bản mới gửi đến cơ quan")
                .count(),
            2
        );
    }

    #[test]
    fn markup_in_a_subject_is_escaped_in_the_html_part() {
        let mut sneaky = item(MailEvent::Arrived);
        sneaky.subject = Some("<script>alert(1)</script> & co".to_owned());
        let mail = compose(&batch(vec![sneaky]), None);
        assert!(mail
            .html
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
        assert!(!mail.html.contains("<script>"));
    }
}
