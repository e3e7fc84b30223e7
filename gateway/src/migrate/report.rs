//! The reconciliation report: proof that every source entry is accounted
//! for. Written as `report.json` (for machines) and `report.html` (for the
//! migration team) into the report directory.
//!
//! For each source: records read, rejected (with reasons), entries in,
//! entries written, copies merged, entries held back for identity
//! conflicts, refused by the target, withheld parts. For each pupil: the
//! same per pupil. Every entry in is exactly one of: written, merged as a
//! copy, held back, or refused by the target — `balanced` says whether the
//! sums agree, and `brygga migrate` exits 1 when they do not.
//!
//! Pupils are named by their masked identifier (`20150314-****`) and a
//! reference (a short hash of the full key), never by a full personnummer;
//! `--timeline` shows one pupil's entries before (per source, in source
//! order) and after (the merged journal).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use serde::ser::{Error as _, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};

/// Counts for one source or one pupil.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Entries (clinical records) that came in.
    pub entries_in: u64,
    /// Written to the target.
    pub written: u64,
    /// Merged into another source's copy of the same note.
    pub merged_copies: u64,
    /// Held back because the pupil's identity is in conflict.
    pub held_back: u64,
    /// Refused by the target format (it cannot hold them).
    pub refused: u64,
    /// Withheld-part markers carried on the entries.
    pub withheld_parts: u64,
    /// Notes carrying the patient's block, carried over.
    pub blocked: u64,
}

impl Counts {
    /// Whether every entry in is accounted for exactly once.
    pub fn balanced(&self) -> bool {
        self.entries_in == self.written + self.merged_copies + self.held_back + self.refused
    }

    pub fn add(&mut self, other: &Counts) {
        self.entries_in += other.entries_in;
        self.written += other.written;
        self.merged_copies += other.merged_copies;
        self.held_back += other.held_back;
        self.refused += other.refused;
        self.withheld_parts += other.withheld_parts;
        self.blocked += other.blocked;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub format: String,
    pub path: String,
    /// Every record read, good or rejected.
    pub records_read: u64,
    pub rejected: u64,
    /// `person` records read (identity, not entries).
    pub persons: u64,
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PupilReport {
    /// Masked identifier, e.g. `20150314-****`.
    pub pupil: String,
    /// A short stable reference for the full key.
    pub reference: String,
    pub counts: Counts,
    /// Entries in, per source (same order as `sources`).
    pub entries_in_by_source: Vec<u64>,
}

/// A report's rows per pupil, kept in a file as they come — a county's
/// report has one for each of hundreds of thousands of pupils — and read
/// back as the report is written.
#[derive(Debug)]
pub struct PupilRows {
    path: PathBuf,
    /// `None` once [closed](Self::close).
    out: Option<BufWriter<File>>,
    len: usize,
    all_balanced: bool,
}

impl PupilRows {
    /// Rows kept in `path` (created, or emptied).
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(PupilRows {
            path: path.to_path_buf(),
            out: Some(BufWriter::new(File::create(path)?)),
            len: 0,
            all_balanced: true,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn push(&mut self, row: &PupilReport) -> io::Result<()> {
        let Some(out) = &mut self.out else {
            return Err(io::Error::other("pupil rows added after closing"));
        };
        serde_json::to_writer(&mut *out, row)?;
        out.write_all(b"\n")?;
        self.len += 1;
        self.all_balanced &= row.counts.balanced();
        Ok(())
    }

    /// Every row is written: the rows may be read.
    pub fn close(&mut self) -> io::Result<()> {
        match self.out.take() {
            Some(out) => out
                .into_inner()
                .map(drop)
                .map_err(io::IntoInnerError::into_error),
            None => Ok(()),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether every pupil's counts balance.
    pub fn all_balanced(&self) -> bool {
        self.all_balanced
    }

    /// Each row, in the order added.
    fn for_each(&self, mut row: impl FnMut(PupilReport) -> io::Result<()>) -> io::Result<()> {
        if self.out.is_some() {
            return Err(io::Error::other("pupil rows read before closing"));
        }
        for line in BufReader::new(File::open(&self.path)?).lines() {
            row(serde_json::from_str(&line?)?)?;
        }
        Ok(())
    }
}

impl Serialize for PupilRows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len))?;
        let mut failed = None;
        let read = self.for_each(|row| {
            seq.serialize_element(&row).map_err(|e| {
                let message = e.to_string();
                failed = Some(e);
                io::Error::other(message)
            })
        });
        if let Some(e) = failed {
            return Err(e);
        }
        read.map_err(S::Error::custom)?;
        seq.end()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub source: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    pub source: String,
    pub time: String,
    pub kind: String,
    pub record: String,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub pupil: String,
    pub before: Vec<TimelineRow>,
    pub after: Vec<TimelineRow>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub job: String,
    pub brygga: String,
    pub dry_run: bool,
    pub target: String,
    pub sources: Vec<SourceReport>,
    pub totals: Counts,
    pub balanced: bool,
    pub pupils: PupilRows,
    pub rejects: Vec<Line>,
    pub conflicts: Vec<Line>,
    pub refusals: Vec<Line>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
}

impl Report {
    /// Writes `report.json` and `report.html` into `dir` (created if
    /// missing).
    ///
    /// Both are streamed to their files: a county's report has a row per
    /// pupil, and is never held whole in memory.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        let mut json = BufWriter::new(File::create(dir.join("report.json"))?);
        serde_json::to_writer_pretty(&mut json, self).map_err(io::Error::other)?;
        json.into_inner().map_err(io::IntoInnerError::into_error)?;
        let mut html = BufWriter::new(File::create(dir.join("report.html"))?);
        self.html(&mut html)?;
        html.into_inner().map_err(io::IntoInnerError::into_error)?;
        Ok(())
    }

    /// Writes the HTML report to `out`, a part at a time.
    fn html(&self, out: &mut impl io::Write) -> io::Result<()> {
        // Text collects here and goes out whenever it passes this size.
        const PART: usize = 64 * 1024;
        let mut h = String::with_capacity(2 * PART);
        let part = |h: &mut String, out: &mut dyn io::Write| {
            if h.len() < PART {
                return Ok(());
            }
            let written = out.write_all(h.as_bytes());
            h.clear();
            written
        };
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"sv\"><head><meta charset=\"utf-8\">\
             <title>Brygga migration {}</title><style>\
             body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}\
             td,th{{border:1px solid #bbb;padding:.25em .6em;text-align:right}}\
             td:first-child,th:first-child{{text-align:left}}.bad{{color:#a00;font-weight:bold}}\
             .ok{{color:#070;font-weight:bold}}</style></head><body>\n",
            esc(&self.job)
        );
        let _ = write!(
            h,
            "<h1>Migration {}</h1><p>{} — target {}{}</p>\n<p class=\"{}\">{}</p>\n",
            esc(&self.job),
            esc(&self.brygga),
            esc(&self.target),
            if self.dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            },
            if self.balanced { "ok" } else { "bad" },
            if self.balanced {
                "Every source entry is accounted for: written, merged as a copy, held back or refused."
            } else {
                "The counts do not balance: some entries are not accounted for."
            }
        );
        h.push_str("<h2>Sources</h2><table><tr><th>source</th><th>records read</th><th>rejected</th><th>persons</th>");
        count_headers(&mut h);
        h.push_str("</tr>\n");
        for s in &self.sources {
            let _ = write!(
                h,
                "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td>",
                esc(&s.format),
                esc(&s.path),
                s.records_read,
                s.rejected,
                s.persons
            );
            count_cells(&mut h, &s.counts);
            h.push_str("</tr>\n");
        }
        h.push_str("<tr><th>all sources</th><td></td><td></td><td></td>");
        count_cells(&mut h, &self.totals);
        h.push_str("</tr></table>\n");
        for (title, lines) in [
            ("Rejected records", &self.rejects),
            ("Identity conflicts (held back)", &self.conflicts),
            ("Refused by the target", &self.refusals),
        ] {
            let _ = write!(h, "<h2>{title} ({})</h2>", lines.len());
            if !lines.is_empty() {
                h.push_str("<table><tr><th>source</th><th>what</th></tr>\n");
                for line in lines {
                    let _ = writeln!(
                        h,
                        "<tr><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
                        esc(&line.source),
                        esc(&line.text)
                    );
                    part(&mut h, out)?;
                }
                h.push_str("</table>\n");
            }
        }
        if let Some(timeline) = &self.timeline {
            let _ = write!(h, "<h2>Timeline of {}</h2>", esc(&timeline.pupil));
            for (title, rows) in [
                ("Before (per source)", &timeline.before),
                ("After (the merged journal)", &timeline.after),
            ] {
                let _ = writeln!(
                    h,
                    "<h3>{title}</h3><table><tr><th>source</th><th>time</th><th>kind</th><th>record</th><th>status</th></tr>"
                );
                for row in rows {
                    let _ = writeln!(
                        h,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&row.source),
                        esc(&row.time),
                        esc(&row.kind),
                        esc(&row.record),
                        esc(&row.status)
                    );
                }
                h.push_str("</table>\n");
            }
        }
        let _ = write!(
            h,
            "<h2>Pupils ({})</h2><table><tr><th>pupil</th><th>reference</th>",
            self.pupils.len()
        );
        count_headers(&mut h);
        h.push_str("</tr>\n");
        self.pupils.for_each(|p| {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td>",
                esc(&p.pupil),
                esc(&p.reference)
            );
            count_cells(&mut h, &p.counts);
            h.push_str("</tr>\n");
            part(&mut h, out)
        })?;
        h.push_str("</table></body></html>\n");
        out.write_all(h.as_bytes())
    }
}

fn count_headers(h: &mut String) {
    h.push_str("<th>entries in</th><th>written</th><th>copies merged</th><th>held back</th><th>refused</th><th>withheld parts</th><th>blocked</th><th>balanced</th>");
}

fn count_cells(h: &mut String, c: &Counts) {
    let _ = write!(
        h,
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td>",
        c.entries_in,
        c.written,
        c.merged_copies,
        c.held_back,
        c.refused,
        c.withheld_parts,
        c.blocked,
        if c.balanced() { "ok" } else { "bad" },
        if c.balanced() { "yes" } else { "NO" }
    );
}

/// HTML text escaping.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_balance_only_when_every_entry_is_accounted_for() {
        let mut c = Counts {
            entries_in: 10,
            written: 7,
            merged_copies: 1,
            held_back: 1,
            refused: 1,
            ..Counts::default()
        };
        assert!(c.balanced());
        c.written -= 1;
        assert!(!c.balanced());
    }

    #[test]
    fn a_report_larger_than_a_part_is_written_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut pupils = PupilRows::create(&dir.path().join("pupils.ndjson")).expect("rows");
        for n in 0..3_000 {
            let row = PupilReport {
                pupil: format!("pupil <{n}>"),
                reference: format!("ref-{n}"),
                counts: Counts {
                    entries_in: n,
                    written: n,
                    ..Counts::default()
                },
                entries_in_by_source: vec![n],
            };
            pupils.push(&row).expect("push");
        }
        pupils.close().expect("close");
        assert!(pupils.all_balanced());
        let lines: Vec<Line> = (0..2_000)
            .map(|n| Line {
                source: "pmo:export.xml".into(),
                text: format!("record {n}: no event time"),
            })
            .collect();
        let report = Report {
            job: "job".into(),
            brygga: "brygga".into(),
            dry_run: false,
            target: "canonical:out".into(),
            sources: Vec::new(),
            totals: Counts::default(),
            balanced: true,
            pupils,
            rejects: lines,
            conflicts: Vec::new(),
            refusals: Vec::new(),
            timeline: None,
        };
        report.write(&dir.path().join("report")).expect("write");
        let html = fs::read_to_string(dir.path().join("report/report.html")).expect("html");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.ends_with("</table></body></html>\n"));
        assert!(html.len() > 4 * 64 * 1024, "{} bytes", html.len());
        for n in [0, 1_234, 2_999] {
            assert_eq!(html.matches(&format!("pupil &lt;{n}&gt;<")).count(), 1);
        }
        assert_eq!(html.matches("no event time").count(), 2_000);
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("report/report.json")).expect("json"))
                .expect("report.json parses");
        assert_eq!(json["pupils"].as_array().map(Vec::len), Some(3_000));
        assert_eq!(json["pupils"][2_999]["reference"], "ref-2999");
    }

    #[test]
    fn html_escapes_source_text() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
