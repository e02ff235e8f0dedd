//! Shows progress events: indicatif bars on a terminal, a line every few seconds otherwise,
//! JSON lines with `--json`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mailferry::progress::{Event, Progress};

enum Mode {
    Json,
    Bars {
        multi: MultiProgress,
        overall: ProgressBar,
        /// One line per folder being copied, gone when it is done.
        folders: HashMap<String, ProgressBar>,
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
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} messages  {msg}  {per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            overall.enable_steady_tick(Duration::from_millis(200));
            Mode::Bars {
                multi,
                overall,
                folders: HashMap::new(),
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

    pub fn finish(&self) {
        if let Ok(mut st) = self.state.lock()
            && let Mode::Bars {
                overall, folders, ..
            } = &mut st.mode
        {
            for (_, bar) in folders.drain() {
                bar.finish_and_clear();
            }
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
            } => {
                overall.set_length(total);
                overall.set_position(done);
                overall.set_message(mailferry::text::human_bytes(bytes));
                match &event {
                    Event::FolderStarted {
                        source, messages, ..
                    } => {
                        let bar = multi.add(ProgressBar::new(*messages));
                        bar.set_style(
                            ProgressStyle::with_template("  {msg:24} {bar:20} {pos}/{len}")
                                .unwrap_or_else(|_| ProgressStyle::default_bar()),
                        );
                        bar.set_message(source.clone());
                        folders.insert(source.clone(), bar);
                    }
                    Event::Copied { folder, .. }
                    | Event::Failed { folder, .. }
                    | Event::Filtered { folder, .. } => {
                        if let Some(bar) = folders.get(folder) {
                            bar.inc(1);
                        }
                    }
                    Event::FolderDone { source } => {
                        if let Some(bar) = folders.remove(source) {
                            bar.finish_and_clear();
                            multi.remove(&bar);
                        }
                    }
                    _ => {}
                }
                if let Some(line) = event_line(&event) {
                    overall.suspend(|| eprintln!("{line}"));
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
                    } => Some(format!(
                        "{messages} messages to copy, {already_present} already present"
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
