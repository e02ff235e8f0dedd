//! Shows progress events: indicatif bars on a terminal, a line every few seconds otherwise,
//! JSON lines with `--json`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mailferry::progress::{Event, Progress};

/// Folders shown with a bar of their own at once; the rest are counted on one line, so a
/// mailbox of 60 folders does not scroll the screen.
const FOLDER_BARS: usize = 4;

/// `1234 msg/s, 37.5 MB/s, ETA 2m 05s`: the overall bar's words.
fn overall_line(done: u64, total: u64, bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = done as f64 / secs;
    let eta = if rate > 0.0 && total > done {
        let left = ((total - done) as f64 / rate) as u64;
        format!("{}m {:02}s", left / 60, left % 60)
    } else {
        "-".to_string()
    };
    mailferry::i18n::ta(
        "progress-rate",
        &[
            ("bytes", mailferry::text::human_bytes(bytes)),
            ("rate", format!("{rate:.0}")),
            (
                "bytes_rate",
                mailferry::text::human_bytes((bytes as f64 / secs) as u64),
            ),
            ("eta", eta),
        ],
    )
}

enum Mode {
    Json,
    Bars {
        multi: MultiProgress,
        overall: ProgressBar,
        /// One line per folder being copied (at most [`FOLDER_BARS`]), gone when it is done.
        folders: HashMap<String, ProgressBar>,
        /// Folders started but shown only as a count: messages in each, and done so far.
        waiting: HashMap<String, (u64, u64)>,
        /// The counts line: folders done, being copied, waiting.
        counts: ProgressBar,
        folders_done: u64,
    },
    Lines {
        last: Instant,
    },
}

struct State {
    mode: Mode,
    done: u64,
    total: u64,
    bytes: u64,
    started: Instant,
}

pub struct Display {
    state: Mutex<State>,
}

impl Display {
    pub fn new(json: bool) -> Self {
        let mode = if json {
            Mode::Json
        } else if std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len}  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            overall.enable_steady_tick(Duration::from_millis(200));
            let counts = multi.add(ProgressBar::new(0));
            counts.set_style(
                ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Mode::Bars {
                multi,
                overall,
                folders: HashMap::new(),
                waiting: HashMap::new(),
                counts,
                folders_done: 0,
            }
        } else {
            Mode::Lines {
                last: Instant::now(),
            }
        };
        Display {
            state: Mutex::new(State {
                mode,
                done: 0,
                total: 0,
                bytes: 0,
                started: Instant::now(),
            }),
        }
    }

    /// A line for the user on stderr, printed above the bars without tearing them.
    pub fn say(&self, line: &str) {
        match self.state.lock() {
            Ok(st) => match &st.mode {
                Mode::Bars { multi, .. } => multi.suspend(|| eprintln!("{line}")),
                _ => eprintln!("{line}"),
            },
            Err(_) => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Ok(mut st) = self.state.lock()
            && let Mode::Bars {
                overall,
                folders,
                counts,
                ..
            } = &mut st.mode
        {
            for (_, bar) in folders.drain() {
                bar.finish_and_clear();
            }
            counts.finish_and_clear();
            overall.finish_and_clear();
        }
    }
}

impl Progress for Display {
    fn event(&self, event: Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match &event {
            Event::Planned { messages, .. } => st.total = *messages,
            Event::Copied { bytes, .. } => {
                st.done += 1;
                st.bytes += bytes;
            }
            Event::Failed { .. } | Event::Filtered { .. } => st.done += 1,
            _ => {}
        }
        let (done, total, bytes, elapsed) = (st.done, st.total, st.bytes, st.started.elapsed());
        match &mut st.mode {
            Mode::Json => {
                if let Ok(line) = serde_json::to_string(&event) {
                    println!("{line}");
                }
            }
            Mode::Bars {
                multi,
                overall,
                folders,
                waiting,
                counts,
                folders_done,
            } => {
                overall.set_length(total);
                overall.set_position(done);
                overall.set_message(overall_line(done, total, bytes, elapsed));
                match &event {
                    Event::FolderStarted {
                        source, messages, ..
                    } => {
                        waiting.insert(source.clone(), (*messages, 0));
                    }
                    Event::Copied { folder, .. }
                    | Event::Failed { folder, .. }
                    | Event::Filtered { folder, .. } => {
                        if let Some(bar) = folders.get(folder) {
                            bar.inc(1);
                        } else if let Some(w) = waiting.get_mut(folder) {
                            w.1 += 1;
                            // A folder gets its own line once copying it has begun, while
                            // there is room; the others stay a count.
                            if folders.len() < FOLDER_BARS
                                && let Some((len, pos)) = waiting.remove(folder)
                            {
                                let bar = multi.insert_before(counts, ProgressBar::new(len));
                                bar.set_style(
                                    ProgressStyle::with_template("  {msg} {bar:20} {pos}/{len}")
                                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                                );
                                bar.set_message(mailferry::text::pad(folder, 24));
                                bar.set_position(pos);
                                folders.insert(folder.clone(), bar);
                            }
                        }
                    }
                    Event::FolderDone { source } => {
                        *folders_done += 1;
                        waiting.remove(source);
                        if let Some(bar) = folders.remove(source) {
                            bar.finish_and_clear();
                            multi.remove(&bar);
                        }
                    }
                    _ => {}
                }
                counts.set_message(mailferry::i18n::ta(
                    "progress-folders",
                    &[
                        ("done", folders_done.to_string()),
                        ("copying", folders.len().to_string()),
                        ("waiting", waiting.len().to_string()),
                    ],
                ));
                // Printed above the bars, which are redrawn below it, whole. A folder's end
                // is only counted: sixty of them would scroll the screen away.
                if let Some(line) = event_line(&event)
                    && !matches!(event, Event::FolderDone { .. })
                {
                    multi.suspend(|| eprintln!("{line}"));
                }
            }
            Mode::Lines { last } => {
                let line = match &event {
                    Event::Failed { .. }
                    | Event::Reconnecting { .. }
                    | Event::Warning { .. }
                    | Event::FolderDone { .. } => event_line(&event),
                    Event::Planned {
                        messages,
                        already_present,
                        ..
                    } => Some(mailferry::i18n::ta(
                        "progress-planned",
                        &[
                            ("messages", messages.to_string()),
                            ("present", already_present.to_string()),
                        ],
                    )),
                    _ if last.elapsed() >= Duration::from_secs(5) => {
                        *last = Instant::now();
                        let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
                        Some(format!(
                            "{done}/{total} messages, {}, {rate:.0} msg/s",
                            mailferry::text::human_bytes(bytes)
                        ))
                    }
                    _ => None,
                };
                if let Some(l) = line {
                    eprintln!("{l}");
                }
            }
        }
    }
}

/// The line a person reads for an event that is shown as it happens, in their language.
pub fn event_line(event: &Event) -> Option<String> {
    use mailferry::i18n::{t, ta};
    Some(match event {
        Event::Failed {
            folder,
            uid,
            reason,
        } => ta(
            "progress-failed",
            &[
                ("folder", folder.to_string()),
                ("uid", uid.to_string()),
                ("reason", reason.to_string()),
            ],
        ),
        Event::Reconnecting { side, reason, .. } => ta(
            "progress-reconnecting",
            &[
                ("side", t(&format!("side-{side}"))),
                ("reason", reason.to_string()),
            ],
        ),
        Event::Warning { message } => format!("{}: {message}", t("warning")),
        Event::FolderDone { source } => ta("progress-done", &[("folder", source.to_string())]),
        _ => return None,
    })
}
