//! The line a dotted key path (`source.imap.host`, `folders.include[1]`) is written on, so a
//! profile error can name it. Understands block mappings and sequences and flow collections on
//! one line: enough for profiles, not a YAML parser.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// 1-based line of `key` (`source.imap.host`, `folders.include[1]`) in the YAML `text`, or of
/// its nearest written ancestor. Understands block mappings and sequences and flow
/// collections on one line; enough for profiles, not a YAML parser.
pub(super) fn locate(text: &str, key: &str) -> Option<usize> {
    let want = parse_key_path(key);
    let lines = key_lines(text);
    (1..=want.len()).rev().find_map(|n| {
        lines
            .iter()
            .find(|(path, _)| path.as_slice() == &want[..n])
            .map(|(_, line)| *line)
    })
}

fn parse_key_path(key: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.find('[').map_or((part, ""), |i| part.split_at(i));
        if !name.is_empty() {
            out.push(Seg::Key(name.to_owned()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let Some((n, after)) = r.split_once(']') else {
                break;
            };
            if let Ok(i) = n.parse() {
                out.push(Seg::Index(i));
            }
            rest = after;
        }
    }
    out
}

/// Every key and sequence item written in `text`, with its path and line.
fn key_lines(text: &str) -> Vec<(Vec<Seg>, usize)> {
    let mut out = Vec::new();
    // Open block collections: (indent, path, next sequence index).
    let mut stack: Vec<(usize, Vec<Seg>, usize)> = Vec::new();
    let mut block_scalar: Option<usize> = None;
    for (i, raw_line) in text.lines().enumerate() {
        let line = i + 1;
        let content = strip_comment(raw_line);
        let body = content.trim();
        if body.is_empty() {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        if let Some(scalar_indent) = block_scalar {
            if indent > scalar_indent {
                continue;
            }
            block_scalar = None;
        }
        if body == "---" || body == "..." || body.starts_with('%') {
            continue;
        }
        if body == "-" || body.starts_with("- ") {
            while stack.last().is_some_and(|f| f.0 > indent) {
                stack.pop();
            }
            let Some(parent) = stack.last_mut() else {
                continue;
            };
            let mut path = parent.1.clone();
            path.push(Seg::Index(parent.2));
            parent.2 += 1;
            out.push((path.clone(), line));
            scan_flow(body[1..].trim_start(), &path, line, &mut out);
            continue;
        }
        let Some((key, value)) = split_key(body) else {
            continue;
        };
        while stack.last().is_some_and(|f| f.0 >= indent) {
            stack.pop();
        }
        let mut path = stack.last().map(|f| f.1.clone()).unwrap_or_default();
        path.push(Seg::Key(key));
        out.push((path.clone(), line));
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            block_scalar = Some(indent);
        } else {
            scan_flow(value, &path, line, &mut out);
        }
        stack.push((indent, path, 0));
    }
    out
}

/// The line without its `# comment` (a `#` at the start or after a blank, outside quotes).
pub(super) fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return &line[..i],
            None => {}
        }
        prev = c;
    }
    line
}

/// `key: value` -> (key, value), with `"quoted": keys` unquoted.
fn split_key(body: &str) -> Option<(String, &str)> {
    if body.starts_with(['"', '\'']) {
        let (key, used) = read_quoted(body)?;
        let value = body[used..].trim_start().strip_prefix(':')?;
        return Some((key, value));
    }
    if body.starts_with(['{', '[', '&', '*', '!', '?']) {
        return None;
    }
    let colon = body
        .char_indices()
        .find(|&(i, c)| {
            c == ':'
                && body[i + 1..]
                    .chars()
                    .next()
                    .is_none_or(|n| n == ' ' || n == '\t')
        })
        .map(|(i, _)| i)?;
    Some((body[..colon].trim().to_owned(), &body[colon + 1..]))
}

/// Records the keys and items of a flow collection (`{ a: 1, b: [x, y] }`) written on one line.
fn scan_flow(value: &str, path: &[Seg], line: usize, out: &mut Vec<(Vec<Seg>, usize)>) {
    if value.starts_with(['{', '[']) {
        let mut flow = Flow {
            chars: value.chars().collect(),
            pos: 0,
            line,
            out,
        };
        flow.value(path);
    }
}

struct Flow<'a> {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    out: &'a mut Vec<(Vec<Seg>, usize)>,
}

impl Flow<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn value(&mut self, path: &[Seg]) {
        self.skip_blanks();
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                loop {
                    self.skip_blanks();
                    match self.peek() {
                        None => return,
                        Some('}') => {
                            self.pos += 1;
                            return;
                        }
                        Some(',') => {
                            self.pos += 1;
                            continue;
                        }
                        _ => {}
                    }
                    let start = self.pos;
                    let key = self.scalar(&[':', ',', '}']);
                    let mut p = path.to_vec();
                    p.push(Seg::Key(key));
                    self.out.push((p.clone(), self.line));
                    self.skip_blanks();
                    if self.peek() == Some(':') {
                        self.pos += 1;
                        self.value(&p);
                    }
                    if self.pos == start {
                        self.pos += 1;
                    }
                }
            }
            Some('[') => {
                self.pos += 1;
                let mut index = 0;
                loop {
                    self.skip_blanks();
                    match self.peek() {
                        None => return,
                        Some(']') => {
                            self.pos += 1;
                            return;
                        }
                        Some(',') => {
                            self.pos += 1;
                            continue;
                        }
                        _ => {}
                    }
                    let start = self.pos;
                    let mut p = path.to_vec();
                    p.push(Seg::Index(index));
                    index += 1;
                    self.out.push((p.clone(), self.line));
                    self.value(&p);
                    if self.pos == start {
                        self.pos += 1;
                    }
                }
            }
            _ => {
                self.scalar(&[',', '}', ']']);
            }
        }
    }

    /// A quoted or plain scalar, ending before any of `stops`.
    fn scalar(&mut self, stops: &[char]) -> String {
        self.skip_blanks();
        if self.peek().is_some_and(|c| c == '"' || c == '\'') {
            let rest: String = self.chars[self.pos..].iter().collect();
            return match read_quoted(&rest) {
                Some((text, used)) => {
                    self.pos += rest[..used].chars().count();
                    text
                }
                None => {
                    self.pos = self.chars.len();
                    String::new()
                }
            };
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| !stops.contains(&c)) {
            self.pos += 1;
        }
        self.chars[start..self.pos]
            .iter()
            .collect::<String>()
            .trim()
            .to_owned()
    }
}

/// The quoted scalar `s` starts with: its text and the bytes it spans. `\x` in double quotes
/// reads as `x` and `''` in single quotes as `'`, which is all a key comparison needs.
fn read_quoted(s: &str) -> Option<(String, usize)> {
    let mut chars = s.char_indices();
    let (_, quote) = chars.next()?;
    let mut text = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            if quote == '\'' && s[i + 1..].starts_with('\'') {
                chars.next();
                text.push('\'');
                continue;
            }
            return Some((text, i + 1));
        }
        if c == '\\' && quote == '"' {
            if let Some((_, next)) = chars.next() {
                text.push(next);
            }
            continue;
        }
        text.push(c);
    }
    None
}
