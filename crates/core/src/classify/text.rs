//! Text as the classifier's patterns see it: one form, whatever the
//! sender's software did to it.
//!
//! - HTML character references decoded with the full HTML table (the one
//!   `mail-parser` carries), numeric ones too; a bare `&` stays.
//! - Unicode NFKC: full-width letters, digits and punctuation (`，：？！（）`)
//!   become their ASCII forms, ligatures and compatibility characters fold,
//!   no-break and narrow spaces become spaces.
//! - Curly quotes, dashes and CJK brackets and stops fold to ASCII
//!   (`’`→`'`, `“”`→`"`, `—`→`-`, `。`→`.`, `、`→`,`, `【】`→`[]`, `「」`→`"`);
//!   zero-width characters, soft hyphens and byte-order marks are dropped.
//! - Line endings become `\n`; runs of spaces and tabs become one space;
//!   lines are trimmed; more than one blank line becomes one.
//!
//! Every step is one pass over the text: linear in its length.

use unicode_normalization::UnicodeNormalization;

/// Longest character reference looked for after an `&` (`&CounterClockwiseContourIntegral;` is 33).
const MAX_ENTITY: usize = 40;

/// Decodes HTML character references (`&amp;`, `&eacute;`, `&#24037;`,
/// `&#x5355;`); anything that is not one is kept as written. Linear: the
/// search for the closing `;` looks at most [`MAX_ENTITY`] bytes ahead.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] != b'&' {
            i += 1;
            continue;
        }
        let window = &bytes[i + 1..bytes.len().min(i + 1 + MAX_ENTITY)];
        let end = window
            .iter()
            .position(|b| *b == b';')
            .filter(|&e| e > 0 && window[..e].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'#'));
        let Some(e) = end else {
            i += 1;
            continue;
        };
        out.push_str(&s[copied..i]);
        let token = &s[i..i + e + 2];
        let before = out.len();
        mail_parser::decoders::html::add_html_token(&mut out, token.as_bytes(), false);
        // An unknown name comes back as written; a NUL or surrogate as U+FFFD, which we drop.
        if out[before..] == *"\u{FFFD}" {
            out.truncate(before);
        }
        i += e + 2;
        copied = i;
    }
    out.push_str(&s[copied..]);
    out
}

/// Folds what NFKC leaves alone but senders use interchangeably.
fn fold(c: char) -> Option<char> {
    Some(match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{FF07}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{300C}' | '\u{300D}' | '\u{300E}'
        | '\u{300F}' => '"',
        '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        '\u{3002}' | '\u{FF61}' => '.',
        '\u{3001}' | '\u{FF64}' => ',',
        '\u{3010}' | '\u{3014}' | '\u{3016}' => '[',
        '\u{3011}' | '\u{3015}' | '\u{3017}' => ']',
        '\u{3000}' | '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\t' => ' ',
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => return None,
        '\r' => '\n',
        c => c,
    })
}

/// The normalised form of `s` (see the module header).
pub fn normalise(s: &str) -> String {
    let decoded = decode_entities(&s.replace("\r\n", "\n"));
    let mut out = String::with_capacity(decoded.len());
    // Pending whitespace: spaces within a line, newlines between lines.
    let mut spaces = false;
    let mut newlines = 0usize;
    for c in decoded.nfkc().filter_map(fold) {
        match c {
            '\n' => {
                spaces = false;
                newlines += 1;
            }
            ' ' => spaces = true,
            c if c.is_control() => spaces = true,
            c => {
                if !out.is_empty() {
                    if newlines > 0 {
                        out.push_str(if newlines > 1 { "\n\n" } else { "\n" });
                    } else if spaces {
                        out.push(' ');
                    }
                }
                spaces = false;
                newlines = 0;
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_use_the_full_table_and_keep_what_is_not_one() {
        assert_eq!(
            decode_entities("&#24037;&#x5355; &lt;x&gt; &bogus; a&b &eacute;t&eacute; &hellip;"),
            "工单 <x> &bogus; a&b été …"
        );
        assert_eq!(decode_entities("R&amp;D&nbsp;team &rsquo;s"), "R&D\u{a0}team ’s");
        assert_eq!(decode_entities("&#xD800; & &; &#12a;"), " & &; &#12a;");
    }

    #[test]
    fn folds_what_senders_vary() {
        assert_eq!(normalise("We\u{2019}ve received your request"), "We've received your request");
        assert_eq!(normalise("您好，工单已生成！（编号：１２３）"), "您好,工单已生成!(编号:123)");
        assert_eq!(normalise("【SP-7K3Q9X2M】通话中断。请勿回复、谢谢"), "[SP-7K3Q9X2M]通话中断.请勿回复,谢谢");
        assert_eq!(normalise("a\u{200B}b\u{00AD}c\u{FEFF}"), "abc");
        assert_eq!(
            normalise("  lots \t of\u{00A0}\u{3000}space  \r\n\r\n\r\n\n next\rline "),
            "lots of space\n\nnext\nline"
        );
        assert_eq!(normalise("Dec 15, 2020, 6:01\u{202F}PM"), "Dec 15, 2020, 6:01 PM");
        assert_eq!(normalise("em\u{2014}dash \u{201C}quoted\u{201D}"), "em-dash \"quoted\"");
    }

    #[test]
    fn bare_ampersands_are_kept() {
        // `&` with no `;` anywhere (the speed of this case is measured in benches/core.rs).
        let s = "&".repeat(1 << 16);
        assert_eq!(decode_entities(&s).len(), s.len());
        assert_eq!(normalise(&s).len(), s.len());
    }
}
