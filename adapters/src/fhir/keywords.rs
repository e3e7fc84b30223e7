//! Keyword-structured notes (sökord) as one readable text attachment, and
//! back, exactly.
//!
//! Each section is a heading line `## <keyword>` followed by its text;
//! sections are separated by one blank line. A text line that begins with `#`
//! or `\` is written with a `\` in front, so no text line can look like a
//! heading, and reading drops that `\` again:
//!
//! ```text
//! ## Aktuellt
//! Kommer på hälsobesök i årskurs 4.
//!
//! ## Bedömning
//! \# inte en rubrik
//! ```
//!
//! Because text never contains a newline followed by `## `, the sections come
//! back exactly as they were, including empty texts and trailing newlines.
//! It is served as `text/markdown; charset=utf-8` with the `content.format`
//! code `keyword-sections`.

use brygga_mapping::model::KeywordSection;

/// The attachment text for `sections`; a keyword with a line break is refused
/// (it would split its heading).
pub fn render(sections: &[KeywordSection]) -> Result<String, String> {
    let mut out = String::with_capacity(
        sections
            .iter()
            .map(|s| s.keyword.len() + s.text.len() + 8)
            .sum(),
    );
    for (index, section) in sections.iter().enumerate() {
        if section.keyword.contains(['\n', '\r']) {
            return Err(format!(
                "keyword {} holds a line break, which a keyword heading cannot",
                index + 1
            ));
        }
        if index > 0 {
            out.push_str("\n\n");
        }
        out.push_str("## ");
        out.push_str(&section.keyword);
        out.push('\n');
        for (line_index, line) in section.text.split('\n').enumerate() {
            if line_index > 0 {
                out.push('\n');
            }
            if line.starts_with(['#', '\\']) {
                out.push('\\');
            }
            out.push_str(line);
        }
    }
    Ok(out)
}

/// The sections of an attachment text written by [`render`].
pub fn parse(text: &str) -> Result<Vec<KeywordSection>, String> {
    let mut sections = Vec::new();
    if text.is_empty() {
        return Ok(sections);
    }
    let mut rest = text
        .strip_prefix("## ")
        .ok_or("the text does not begin with a \"## \" keyword heading")?;
    loop {
        let (keyword, body) = rest
            .split_once('\n')
            .ok_or("a keyword heading is not followed by a line break")?;
        let (escaped, next) = match body.find("\n## ") {
            Some(at) => {
                let separator = at
                    .checked_sub(1)
                    .filter(|&i| body.as_bytes()[i] == b'\n')
                    .ok_or("a keyword heading does not follow a blank line")?;
                (&body[..separator], Some(&body[at + 4..]))
            }
            None => (body, None),
        };
        let mut section_text = String::with_capacity(escaped.len());
        for (line_index, line) in escaped.split('\n').enumerate() {
            if line_index > 0 {
                section_text.push('\n');
            }
            section_text.push_str(line.strip_prefix('\\').unwrap_or(line));
        }
        sections.push(KeywordSection {
            keyword: keyword.to_owned(),
            text: section_text,
        });
        match next {
            Some(next) => rest = next,
            None => return Ok(sections),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(keyword: &str, text: &str) -> KeywordSection {
        KeywordSection {
            keyword: keyword.to_owned(),
            text: text.to_owned(),
        }
    }

    #[test]
    fn sections_render_readably() {
        let text = render(&[
            section("Aktuellt", "Mår bra."),
            section("Bedömning", "Frisk."),
        ])
        .expect("renders");
        assert_eq!(text, "## Aktuellt\nMår bra.\n\n## Bedömning\nFrisk.");
    }

    #[test]
    fn every_shape_of_text_comes_back_exactly() {
        let cases: Vec<Vec<KeywordSection>> = vec![
            vec![],
            vec![section("", "")],
            vec![section("A", ""), section("B", "")],
            vec![section("A", "x\n"), section("B", "\n\ny")],
            vec![section("A", "## not a heading\n#also not\n\\backslash")],
            vec![section("A", "line\n\n## B\nstill A")],
            vec![section("A ", " x "), section("Ä ö", "\r\nwindows\r\n")],
            vec![section("A", "\n"), section("A", "\\")],
        ];
        for sections in cases {
            let text = render(&sections).expect("renders");
            assert_eq!(parse(&text).as_ref(), Ok(&sections), "{text:?}");
        }
    }

    #[test]
    fn a_keyword_with_a_line_break_is_refused() {
        let refused = render(&[section("A\nB", "x")]).expect_err("refused");
        assert!(refused.contains("line break"), "{refused}");
    }

    #[test]
    fn text_not_written_by_render_is_refused() {
        assert!(parse("no heading").is_err());
        assert!(parse("## A").is_err());
        assert!(parse("## A\nx\n## B\ny").is_err(), "no blank line");
    }
}
