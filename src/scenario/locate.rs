//! Finds where things are in scenario text: line and column of a byte offset, the dotted key
//! path in effect at an offset, and the offset at which a dotted key is written.
//!
//! The `toml` crate reports a byte span and a message but not the key path, and after
//! deserializing there are no spans at all; this small scanner recovers both from the text.
//! It is a tolerant approximation of TOML's grammar (good enough to point at a line): it never
//! fails and never panics, whatever the input.

/// A key, table header or inline-table key written in the text, with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyDef {
    /// Full dotted path of the key, e.g. `["workload", "rate_per_sec"]`.
    pub path: Vec<String>,
    /// Byte offset of the key's first character (or of the `[` of a header).
    pub offset: usize,
}

/// 1-based line and 1-based column (in characters) of a byte offset in `text`.
///
/// Offsets past the end or inside a character are clamped, so any offset is accepted.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// 1-based line and 1-based column, in bytes, of a byte offset in raw (maybe non-UTF-8) bytes.
pub(crate) fn line_col_bytes(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    (line, before.len() - line_start + 1)
}

/// The dotted key path in effect at byte `offset`: the table header above it plus any keys
/// of inline tables or dotted keys leading up to it.
///
/// For a wrong-typed value this is the key the value belongs to; for a span that starts at a
/// key (unknown or duplicate keys) it is the table holding that key.
///
/// The flag says the offset is on a `[table]` header line; the path then ends with the header
/// part the offset points at (the whole header when it points at the `[`).
pub(crate) fn context_at(text: &str, offset: usize) -> (Vec<String>, bool) {
    let result = Scanner::new(text, Some(offset)).run();
    (result.context.unwrap_or_default(), result.on_header)
}

/// Every key and table header written in `text`, in order.
pub(crate) fn key_defs(text: &str) -> Vec<KeyDef> {
    Scanner::new(text, None).run().keys
}

/// Byte offset where the key `path` is written, or, if it is not written out (a default
/// value), where its nearest enclosing table is; `None` when nothing matches (the root).
pub(crate) fn find_key(text: &str, path: &[&str]) -> Option<usize> {
    let defs = key_defs(text);
    // The longest written prefix wins: the key itself, else its table's header.
    (1..=path.len())
        .rev()
        .find_map(|len| {
            defs.iter().find(|d| d.path.iter().map(String::as_str).eq(path[..len].iter().copied()))
        })
        .map(|d| d.offset)
}

/// Byte offset of the `nth` (0-based) quoted occurrence of `value` at or after `from`.
pub(crate) fn find_quoted(text: &str, from: usize, value: &str, nth: usize) -> Option<usize> {
    let rest = text.get(from..)?;
    let basic = format!("\"{value}\"");
    let literal = format!("'{value}'");
    let mut hits: Vec<usize> = rest
        .match_indices(basic.as_str())
        .chain(rest.match_indices(literal.as_str()))
        .map(|(i, _)| from + i)
        .collect();
    hits.sort_unstable();
    hits.get(nth).copied()
}

/// One level of nesting: the document (or a header's table), an inline table or an array.
#[derive(Debug)]
struct Frame {
    /// `true` for tables (keys live here), `false` for arrays (only values).
    is_table: bool,
    /// Path of this table or array.
    base: Vec<String>,
    /// Key parts read so far for the current key/value pair (table frames only).
    cur_key: Vec<String>,
    /// The key part being read.
    partial: String,
    /// Offset of the current key's first character.
    key_start: Option<usize>,
    /// Past the `=`: reading the value of `cur_key`.
    in_value: bool,
}

impl Frame {
    fn table(base: Vec<String>) -> Self {
        Frame {
            is_table: true,
            base,
            cur_key: Vec::new(),
            partial: String::new(),
            key_start: None,
            in_value: false,
        }
    }

    fn array(base: Vec<String>) -> Self {
        Frame { is_table: false, ..Frame::table(base) }
    }

    /// Forgets the current key/value pair (after a newline or a comma).
    fn reset(&mut self) {
        self.cur_key.clear();
        self.partial.clear();
        self.key_start = None;
        self.in_value = false;
    }

    /// The key path of what is being read now.
    fn path(&self) -> Vec<String> {
        let mut path = self.base.clone();
        if self.is_table {
            path.extend(self.cur_key.iter().cloned());
        }
        path
    }

    /// Ends the key part being read, if any.
    fn end_part(&mut self) {
        let part = self.partial.trim();
        if !part.is_empty() {
            self.cur_key.push(part.to_string());
        }
        self.partial.clear();
    }
}

struct Scanner<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    stop: Option<usize>,
    frames: Vec<Frame>,
    keys: Vec<KeyDef>,
    context: Option<Vec<String>>,
    on_header: bool,
}

struct ScanResult {
    keys: Vec<KeyDef>,
    context: Option<Vec<String>>,
    on_header: bool,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str, stop: Option<usize>) -> Self {
        Scanner {
            text,
            chars: text.char_indices().collect(),
            stop,
            frames: vec![Frame::table(Vec::new())],
            keys: Vec::new(),
            context: None,
            on_header: false,
        }
    }

    fn offset(&self, i: usize) -> usize {
        self.chars.get(i).map_or(self.text.len(), |&(o, _)| o)
    }

    fn top(&mut self) -> &mut Frame {
        // The document frame is never popped, so there is always a top.
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    fn run(mut self) -> ScanResult {
        let mut i = 0;
        while i < self.chars.len() {
            let (off, c) = self.chars[i];
            // A span starting at a header's `[` is about that header (a table missing a
            // field), so the header is read before deciding.
            if let Some(stop) = self.stop
                && (off > stop || (off == stop && !self.at_header(c)))
            {
                self.context = Some(self.top().path());
                break;
            }
            i = self.step(i, off, c);
        }
        if self.context.is_none() && self.stop.is_some() {
            self.context = Some(self.top().path());
        }
        ScanResult { keys: self.keys, context: self.context, on_header: self.on_header }
    }

    /// Whether `c` would start a `[table]` header here.
    fn at_header(&self, c: char) -> bool {
        let doc = &self.frames[0];
        c == '['
            && self.frames.len() == 1
            && !doc.in_value
            && doc.cur_key.is_empty()
            && doc.partial.is_empty()
    }

    /// Handles the character at index `i`; returns the index of the next one to look at.
    fn step(&mut self, i: usize, off: usize, c: char) -> usize {
        let depth = self.frames.len();
        let frame = self.top();
        if c == '#' {
            return self.skip_line(i);
        }
        if frame.is_table && !frame.in_value {
            match c {
                '[' if depth == 1 && frame.cur_key.is_empty() && frame.partial.is_empty() => {
                    return self.header(i, off);
                }
                '"' | '\'' => {
                    if frame.key_start.is_none() {
                        frame.key_start = Some(off);
                    }
                    let (next, content) = self.read_string(i);
                    self.top().partial.push_str(&content);
                    return next;
                }
                '.' => frame.end_part(),
                '=' => {
                    frame.end_part();
                    frame.in_value = true;
                    let def = KeyDef { path: frame.path(), offset: frame.key_start.unwrap_or(off) };
                    self.keys.push(def);
                }
                '\n' | ',' => frame.reset(),
                '}' if depth > 1 => {
                    self.frames.pop();
                }
                c if c.is_whitespace() => {}
                c => {
                    if frame.key_start.is_none() {
                        frame.key_start = Some(off);
                    }
                    frame.partial.push(c);
                }
            }
            return i + 1;
        }
        match c {
            '"' | '\'' => return self.read_string(i).0,
            '{' => {
                let base = frame.path();
                self.frames.push(Frame::table(base));
            }
            '[' => {
                let base = frame.path();
                self.frames.push(Frame::array(base));
            }
            ']' if !frame.is_table && depth > 1 => {
                self.frames.pop();
            }
            '}' if frame.is_table && depth > 1 => {
                self.frames.pop();
            }
            ',' if frame.is_table && depth > 1 => frame.reset(),
            '\n' if depth == 1 => frame.reset(),
            _ => {}
        }
        i + 1
    }

    /// Index just past the end of the line holding index `i` (the newline is left to be seen,
    /// since it ends a key/value pair).
    fn skip_line(&self, i: usize) -> usize {
        let mut j = i;
        while j < self.chars.len() && self.chars[j].1 != '\n' {
            j += 1;
        }
        j
    }

    /// Reads a `[table]` or `[[array]]` header starting at index `i`.
    fn header(&mut self, i: usize, off: usize) -> usize {
        let end = self.skip_line(i);
        let line = self.text.get(off..self.offset(end)).unwrap_or("");
        let Some(parts) = parse_header(line) else {
            // Not a header we understand; read it as key text so the scan goes on.
            self.top().partial.push('[');
            return i + 1;
        };
        let path: Vec<String> = parts.iter().map(|(name, _)| name.clone()).collect();
        if let Some(stop) = self.stop
            && stop < self.offset(end)
        {
            // The span is on the header itself: name the header up to the part it points at.
            let rel = stop.saturating_sub(off);
            let upto =
                parts.iter().position(|&(_, part_end)| rel < part_end).unwrap_or(parts.len());
            let upto = if rel == 0 { parts.len() } else { upto + 1 };
            self.context = Some(path[..upto.min(path.len())].to_vec());
            self.on_header = true;
            self.stop = None;
        }
        self.keys.push(KeyDef { path: path.clone(), offset: off });
        self.frames.truncate(1);
        self.frames[0] = Frame::table(path);
        if self.context.is_some() && self.stop.is_none() {
            // Context found; the rest of the text does not matter to the caller.
            return self.chars.len();
        }
        end
    }

    /// Reads a basic, literal or multi-line string starting at index `i`; returns the index
    /// after it and its (unescaped only roughly) content.
    fn read_string(&self, i: usize) -> (usize, String) {
        let quote = self.chars[i].1;
        let triple = (1..3).all(|k| self.chars.get(i + k).map(|&(_, c)| c) == Some(quote));
        let mut j = if triple { i + 3 } else { i + 1 };
        let mut content = String::new();
        while j < self.chars.len() {
            let c = self.chars[j].1;
            if quote == '"' && c == '\\' {
                j += 2;
                continue;
            }
            if c == quote {
                if !triple {
                    return (j + 1, content);
                }
                if (1..3).all(|k| self.chars.get(j + k).map(|&(_, c)| c) == Some(quote)) {
                    return (j + 3, content);
                }
            }
            if c == '\n' && !triple {
                // An unterminated one-line string; stop at the line's end.
                return (j, content);
            }
            content.push(c);
            j += 1;
        }
        (j, content)
    }
}

/// Splits a header line such as `[ workload . "x" ] # note` into its key parts, each with the
/// byte offset (relative to the line) just past it; `None` if the line is not a header.
fn parse_header(line: &str) -> Option<Vec<(String, usize)>> {
    let body_start = if line.starts_with("[[") { 2 } else { 1 };
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut k = chars.iter().position(|&(o, _)| o >= body_start)?;
    let mut quoted_part = false;
    loop {
        let &(o, c) = chars.get(k)?;
        match c {
            ']' => {
                if part.trim().is_empty() && !quoted_part {
                    return None;
                }
                parts.push((part.trim().to_string(), o));
                let closing = if body_start == 2 { "]]" } else { "]" };
                let rest = line.get(o..)?.strip_prefix(closing)?.trim_start();
                return (rest.is_empty() || rest.starts_with('#')).then_some(parts);
            }
            '.' => {
                if part.trim().is_empty() && !quoted_part {
                    return None;
                }
                parts.push((part.trim().to_string(), o));
                part.clear();
                quoted_part = false;
            }
            '"' | '\'' => {
                let close = line.get(o + 1..)?.find(c)? + o + 1;
                part.push_str(line.get(o + 1..close)?);
                quoted_part = true;
                k = chars.iter().position(|&(p, _)| p > close)?;
                continue;
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ' ' || c == '\t' => {
                part.push(c);
            }
            _ => return None,
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_of_values_and_headers() {
        let text = "name = 1\n[workload]\nrate = \"x\"\nin = { a = 1, b = [1, 'q'] }\n";
        let at = |needle: &str| context_at(text, text.find(needle).unwrap()).0.join(".");
        assert_eq!(at("1\n"), "name");
        assert_eq!(at("\"x\""), "workload.rate");
        assert_eq!(at("'q'"), "workload.in.b");
        assert_eq!(at("[workload]"), "workload");
        assert_eq!(at("workload]"), "workload");
        assert_eq!(at("rate"), "workload");
    }

    #[test]
    fn finds_keys() {
        let text = "a = 1\n[t]\n# c\nx.y = 2\nz = { w = 3 }\n[[arr]]\n";
        assert_eq!(find_key(text, &["t", "x", "y"]), text.find("x.y"));
        assert_eq!(find_key(text, &["t", "z", "w"]), text.find("w ="));
        assert_eq!(find_key(text, &["t", "missing"]), text.find("[t]"));
        assert_eq!(find_key(text, &["arr"]), text.find("[[arr]]"));
        assert_eq!(find_key(text, &["nope"]), None);
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(line_col("", 10), (1, 1));
        assert_eq!(line_col_bytes(b"a\n\xffb", 2), (2, 1));
    }
}
