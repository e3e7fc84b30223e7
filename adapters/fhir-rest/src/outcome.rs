//! A server's reason for a refusal, in one line: the OperationOutcome's
//! issues when the answer is one, else the status line. The request body is
//! never part of it.

use hyper::StatusCode;
use serde::Deserialize;

/// The longest reason kept; a server's diagnostics can be pages long.
const MAX_REASON_CHARS: usize = 1000;

#[derive(Deserialize)]
struct OperationOutcome {
    #[serde(rename = "resourceType")]
    resource_type: String,
    #[serde(default)]
    issue: Vec<Issue>,
}

#[derive(Deserialize)]
struct Issue {
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    details: Option<Details>,
    #[serde(default)]
    diagnostics: Option<String>,
}

#[derive(Deserialize)]
struct Details {
    #[serde(default)]
    text: Option<String>,
}

/// `HTTP 422 Unprocessable Entity`.
pub(crate) fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// The issues of an OperationOutcome body, `severity code: text` joined
/// with `; `; `None` when the body is not one or has no issue.
pub(crate) fn issues(body: &[u8]) -> Option<String> {
    let outcome: OperationOutcome = serde_json::from_slice(body).ok()?;
    issues_of(outcome)
}

/// The same, for an outcome already parsed as JSON (a transaction
/// response entry's `response.outcome`).
pub(crate) fn issues_in(value: &serde_json::Value) -> Option<String> {
    issues_of(OperationOutcome::deserialize(value).ok()?)
}

fn issues_of(outcome: OperationOutcome) -> Option<String> {
    if outcome.resource_type != "OperationOutcome" || outcome.issue.is_empty() {
        return None;
    }
    let text = outcome
        .issue
        .iter()
        .map(|issue| {
            let label = [issue.severity.as_deref(), issue.code.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let details = issue.details.as_ref().and_then(|d| d.text.as_deref());
            let said = match (details, issue.diagnostics.as_deref()) {
                (Some(text), Some(diagnostics)) if text != diagnostics => {
                    format!("{text} ({diagnostics})")
                }
                (Some(text), _) => text.to_owned(),
                (None, Some(diagnostics)) => diagnostics.to_owned(),
                (None, None) => "(no text)".to_owned(),
            };
            if label.is_empty() {
                said
            } else {
                format!("{label}: {said}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(one_line(&text))
}

/// The status line, with the outcome's issues when the body holds them.
pub(crate) fn refusal(status: StatusCode, body: &[u8]) -> String {
    match issues(body) {
        Some(issues) => format!("{}: {issues}", status_line(status)),
        None => status_line(status),
    }
}

/// Whitespace runs (newlines included) become one space; long text is cut.
fn one_line(text: &str) -> String {
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = line.char_indices().nth(MAX_REASON_CHARS) {
        line.truncate(cut);
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_gives_its_issues_and_anything_else_the_status_line() {
        let body = br#"{"resourceType":"OperationOutcome","issue":[
            {"severity":"error","code":"invalid","details":{"text":"Patient.birthDate: bad date"},"diagnostics":"line 3\ncolumn 4"},
            {"severity":"warning","code":"business-rule","diagnostics":"checked late"}]}"#;
        assert_eq!(
            refusal(StatusCode::UNPROCESSABLE_ENTITY, body),
            "HTTP 422 Unprocessable Entity: error invalid: Patient.birthDate: bad date (line 3 column 4); warning business-rule: checked late"
        );
        assert_eq!(
            refusal(StatusCode::NOT_FOUND, b"<html>not here</html>"),
            "HTTP 404 Not Found"
        );
        assert_eq!(
            refusal(StatusCode::BAD_REQUEST, br#"{"resourceType":"Bundle"}"#),
            "HTTP 400 Bad Request"
        );
    }

    #[test]
    fn long_reasons_are_cut() {
        let text = "å".repeat(5000);
        let body = format!(
            r#"{{"resourceType":"OperationOutcome","issue":[{{"diagnostics":"{text}"}}]}}"#
        );
        let reason = issues(body.as_bytes()).expect("issues");
        assert_eq!(reason.chars().count(), MAX_REASON_CHARS + 1);
    }
}
