//! The layout of the YAML text, read where a parser error does not say enough: the key on a
//! line, where a duplicate key first appeared, a key indented too deep, and blanking out an
//! unknown field so that the rest of the file can still be read.
//!
//! Pure text functions. Lines and columns are 1-based and count characters, as serde-saphyr's
//! locations do; blanking keeps every other character where it was, so locations still hold.

/// A key indented deeper than the key on a line above it, which has a value: YAML reads the
/// deeper line as more of that value.
#[derive(Debug, PartialEq, Eq)]
pub struct OverIndented {
    /// Line of the deeper key.
    pub line: u64,
    /// Column of the deeper key.
    pub column: u64,
    /// The deeper key, e.g. `duration`.
    pub key: String,
    /// The key above, whose value swallowed it, e.g. `vus`.
    pub above: String,
    /// Line of the key above.
    pub above_line: u64,
}

/// The field path of the map or list holding `path`: `load` for `load.vus`, `flows` for
/// `flows[0]`, empty at the top.
pub fn parent_of(path: &str) -> &str {
    path.rfind(['.', '[']).map_or("", |i| &path[..i])
}

/// The scalar that starts at `line`:`column`, for quoting it in messages.
pub fn token_at(text: &str, line: u64, column: u64) -> Option<&str> {
    let row = text.lines().nth(index(line)?)?;
    let start = row.char_indices().nth(index(column)?)?.0;
    let rest = &row[start..];
    let end = rest.find([',', '}', ']', '#']).unwrap_or(rest.len());
    let token = rest[..end].trim().trim_matches(['"', '\'']);
    // A flow collection has no single bad value to quote.
    (!token.is_empty() && !token.starts_with(['[', '{'])).then_some(token)
}

/// The line where `key`, repeated at `line`:`column`, first appears in the same block map.
pub fn first_key_before(text: &str, line: u64, column: u64, key: &str) -> Option<u64> {
    let column = index(column)?;
    let rows: Vec<&str> = text.lines().take(index(line)?).collect();
    for (i, row) in rows.iter().enumerate().rev() {
        if is_blank(row) {
            continue;
        }
        if key_at(row) == Some((column, key)) {
            return Some(i as u64 + 1);
        }
        if indent(row) < column {
            return None; // out of the map
        }
    }
    None
}

/// The over-indented key that explains an error at `line`: the key on `line` (or the next
/// line with content) sits deeper than the key with a value just above it.
pub fn over_indented(text: &str, line: u64) -> Option<OverIndented> {
    let rows: Vec<&str> = text.lines().collect();
    let at = index(line)?;
    let previous = (0..at.min(rows.len())).rev().find(|&i| !is_blank(rows[i]));
    let next = (at + 1..rows.len()).find(|&i| !is_blank(rows[i]));
    let pairs = [previous.map(|p| (p, at)), next.map(|n| (at, n))];
    pairs.into_iter().flatten().find_map(|(a, b)| {
        let (above_col, above) = key_at(rows.get(a)?)?;
        let value = value_after_key(rows[a]);
        // A value that may go on over lines by design: block scalars, flow collections.
        let continues = value.is_empty() || value.starts_with(['|', '>', '[', '{', '#', '&', '!']);
        let (col, key) = key_at(rows.get(b)?)?;
        (!continues && col > above_col && col == indent(rows[b])).then(|| OverIndented {
            line: b as u64 + 1,
            column: col as u64 + 1,
            key: key.to_string(),
            above: above.to_string(),
            above_line: a as u64 + 1,
        })
    })
}

/// `text` with the map entry whose key is at `line`:`column` (key and value) replaced by
/// spaces, or `None` when the entry's extent cannot be told.
pub fn blank_entry(text: &str, line: u64, column: u64) -> Option<String> {
    let mut rows: Vec<Vec<char>> = text.split('\n').map(|r| r.chars().collect()).collect();
    let (li, ci) = (index(line)?, index(column)?);
    let row = rows.get(li)?;
    if ci >= row.len() {
        return None;
    }
    let before: String = row[..ci].iter().collect();
    let before = before.trim_end();
    if before.ends_with(['{', ',']) {
        blank_flow(&mut rows, li, ci);
    } else if before.trim_start_matches([' ', '-']).is_empty() {
        blank_block(&mut rows, li, ci);
    } else {
        return None;
    }
    let rows: Vec<String> = rows.iter().map(|r| r.iter().collect()).collect();
    Some(rows.join("\n"))
}

/// Blanks a block entry: its line from the key on, then every line indented deeper (and a
/// list written at the key's own indentation, which YAML allows under a key).
fn blank_block(rows: &mut [Vec<char>], li: usize, ci: usize) {
    let empty_value = rows[li][ci..]
        .iter()
        .collect::<String>()
        .trim_end()
        .ends_with(':');
    rows[li][ci..].fill(' ');
    for row in rows.iter_mut().skip(li + 1) {
        match row.iter().position(|c| !c.is_whitespace()) {
            None => {}
            Some(i) if i > ci || row[i] == '#' || (i == ci && row[i] == '-' && empty_value) => {
                row.fill(' ');
            }
            Some(_) => return,
        }
    }
}

/// Blanks a flow entry up to the next `,` (included) or the `}` that closes its map.
fn blank_flow(rows: &mut [Vec<char>], li: usize, ci: usize) {
    let (mut depth, mut quote, mut escaped) = (0usize, None, false);
    let mut start = ci;
    for row in rows.iter_mut().skip(li) {
        for c in row.iter_mut().skip(start) {
            match (quote, *c) {
                (Some(_), _) if escaped => escaped = false,
                (Some('"'), '\\') => escaped = true,
                (Some(q), ch) if ch == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(*c),
                (None, '[' | '{') => depth += 1,
                (None, ']' | '}') if depth == 0 => return,
                (None, ']' | '}') => depth -= 1,
                (None, ',') if depth == 0 => {
                    *c = ' ';
                    return;
                }
                _ => {}
            }
            *c = ' ';
        }
        start = 0;
    }
}

/// A block-style `key:` on a line: the key's 0-based column (after any `- `) and its name.
fn key_at(row: &str) -> Option<(usize, &str)> {
    let mut column = 0;
    let mut rest = row;
    loop {
        if let Some(r) = rest.strip_prefix(' ') {
            (column, rest) = (column + 1, r);
        } else if let Some(r) = rest.strip_prefix("- ") {
            (column, rest) = (column + 2, r);
        } else {
            break;
        }
    }
    let end = rest.find(|c: char| !(c.is_alphanumeric() || "_-.".contains(c)))?;
    let (key, after) = rest.split_at(end);
    let after = after.strip_prefix(':')?;
    let ends = after.is_empty() || after.starts_with([' ', '\t', '\r']);
    (!key.is_empty() && ends).then_some((column, key))
}

/// What follows `key:` on a line, trimmed.
fn value_after_key(row: &str) -> &str {
    row.split_once(':').map_or("", |(_, v)| v.trim())
}

fn indent(row: &str) -> usize {
    row.len() - row.trim_start_matches(' ').len()
}

fn is_blank(row: &str) -> bool {
    let t = row.trim();
    t.is_empty() || t.starts_with('#')
}

/// A 1-based position as a 0-based index.
fn index(position: u64) -> Option<usize> {
    usize::try_from(position).ok()?.checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_past_the_text_is_no_panic() {
        // Found by tests/fuzz.rs: a parser error may point one line past the last.
        assert_eq!(over_indented("a: 1\nb: 2", 7), None);
        assert_eq!(first_key_before("a: 1", 9, 1, "a"), Some(1));
    }

    #[test]
    fn a_block_entry_and_its_nested_lines_are_blanked_in_place() {
        let text = "load:\n  vus: 2\n  duraton:\n    x: 1\n  duration: 5s\n";
        let blanked = blank_entry(text, 3, 3).expect("blanked");
        assert_eq!(
            blanked,
            "load:\n  vus: 2\n          \n        \n  duration: 5s\n"
        );
    }

    #[test]
    fn a_flow_entry_is_blanked_to_its_comma_or_brace() {
        let text = "load: { vus: 2, duraton: \"a,b\", x: [1, 2] }\n";
        let column = |t: &str, key: &str| t.find(key).map(|i| i as u64 + 1).expect("key");
        let blanked = blank_entry(text, 1, column(text, "duraton")).expect("blanked");
        assert_eq!(
            blanked,
            format!("load: {{ vus: 2, {} x: [1, 2] }}\n", " ".repeat(15))
        );
        let last = blank_entry(&blanked, 1, column(&blanked, "x:")).expect("blanked");
        assert_eq!(last, format!("load: {{ vus: 2, {}}}\n", " ".repeat(26)));
    }

    #[test]
    fn an_over_indented_key_is_found_from_either_line() {
        let text = "load:\n  vus: 10\n    duration: 10s\nflows: []\n";
        let want = OverIndented {
            line: 3,
            column: 5,
            key: "duration".into(),
            above: "vus".into(),
            above_line: 2,
        };
        assert_eq!(over_indented(text, 2).as_ref(), Some(&want));
        assert_eq!(over_indented(text, 3).as_ref(), Some(&want));
        assert_eq!(over_indented("a:\n  b: 1\n  c: 2\n", 2), None);
        assert_eq!(over_indented("a: |\n    b: 1\n", 1), None);
    }

    #[test]
    fn the_first_of_two_keys_is_found_in_its_own_map() {
        let text = "load:\n  vus: 1\n  duration: 1s\n  vus: 2\n";
        assert_eq!(first_key_before(text, 4, 3, "vus"), Some(2));
        let other_map = "a:\n  vus: 1\nb:\n  vus: 2\n  vus: 3\n";
        assert_eq!(first_key_before(other_map, 5, 3, "vus"), Some(4));
    }
}
