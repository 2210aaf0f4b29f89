//! The time a recipient has to acknowledge a letter: a window per priority, or the appointed
//! hour of a hỏa tốc hẹn giờ letter — as SQL over the stored rows, for the overdue job and
//! the listing (`deadlines`) and for "acknowledged within the deadline" (`stats`).

/// The time to acknowledge per priority, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckWindows {
    pub normal: i64,
    pub khan: i64,
    pub thuong_khan: i64,
    /// Hỏa tốc, and hỏa tốc hẹn giờ whose packet time is not after its acceptance.
    pub hoa_toc: i64,
}

/// When a delivery's deadline is the letter's appointed hour (`d`: deliveries, `doc`:
/// documents): a hỏa tốc hẹn giờ letter whose packet time is after its acceptance.
pub(crate) const APPOINTED: &str = "doc.priority = 4 AND doc.appointed_at > d.created_at";

impl AckWindows {
    /// The SQL expression of a delivery's acknowledgement deadline (`d`: deliveries, `doc`:
    /// documents). The windows are numbers the server holds, never request input.
    pub(crate) fn due_sql(&self) -> String {
        format!(
            "(CASE WHEN {APPOINTED} THEN doc.appointed_at ELSE d.created_at + {} END)",
            self.window_sql("doc.priority")
        )
    }

    /// The SQL expression of the window of the priority in `column` (hỏa tốc hẹn giờ's
    /// appointed hour aside).
    pub(crate) fn window_sql(&self, column: &str) -> String {
        format!(
            "CASE {column} WHEN 1 THEN {} WHEN 2 THEN {} WHEN 3 THEN {} WHEN 4 THEN {} \
             ELSE {} END",
            self.khan, self.thuong_khan, self.hoa_toc, self.hoa_toc, self.normal
        )
    }
}
