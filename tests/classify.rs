//! The classifier on a corpus of mails modelled on what real systems send
//! (`tests/fixtures/mail/<expected class>/`): Exchange, Outlook, Gmail,
//! Zimbra, Lotus, iCloud and QQ out-of-office; Postfix, Exchange, SES and QQ
//! bounces; Zendesk, Freshdesk, Jira, ServiceNow and RT acknowledgements and
//! relayed agent replies; Chinese mail in UTF-8, GBK and Big5 (one with a
//! wrong charset label); HTML-only mail; AI assistants. Prints the confusion
//! matrix. No human reply may be classified non-human, and no machine reply
//! human; every file must land in its expected class.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use supportprobe::classify::ClassifyOverrides;
use supportprobe::replyfile::{classify_file, expand};

const CLASSES: [&str; 5] = ["human", "bot", "auto_ack", "out_of_office", "bounce"];

#[test]
fn corpus_confusion_matrix() {
    let files = expand(&[PathBuf::from("tests/fixtures/mail")]);
    assert!(files.len() >= 40, "a corpus of at least 40 mails ({} found)", files.len());
    let mut matrix: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for f in &files {
        let expected = f.parent().unwrap().file_name().unwrap().to_string_lossy().to_string();
        let got = classify_file(f, &ClassifyOverrides::default()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        *matrix.entry((expected.clone(), got.class.to_string())).or_default() += 1;
        if got.class.as_str() != expected {
            wrong.push(format!("{}: expected {expected}, got {} by {}", f.display(), got.class, got.rule));
        }
    }
    let mut table = format!("{:>14} |", "expected\\got");
    for c in CLASSES {
        table.push_str(&format!(" {c:>13}"));
    }
    table.push('\n');
    for e in CLASSES {
        table.push_str(&format!("{e:>14} |"));
        for g in CLASSES {
            table.push_str(&format!(" {:>13}", matrix.get(&(e.to_string(), g.to_string())).copied().unwrap_or(0)));
        }
        table.push('\n');
    }
    println!("{} mails\n{table}", files.len());
    let human_lost: usize =
        CLASSES[1..].iter().map(|g| matrix.get(&("human".into(), g.to_string())).copied().unwrap_or(0)).sum();
    let machine_as_human: usize =
        CLASSES[1..].iter().map(|e| matrix.get(&(e.to_string(), "human".into())).copied().unwrap_or(0)).sum();
    assert_eq!(human_lost, 0, "human replies classified as machines:\n{}\n{table}", wrong.join("\n"));
    assert_eq!(machine_as_human, 0, "machine replies classified as human:\n{}\n{table}", wrong.join("\n"));
    assert!(wrong.is_empty(), "misclassified:\n{}\n{table}", wrong.join("\n"));
    for c in CLASSES {
        assert!(files.iter().any(|f| f.parent().unwrap().ends_with(c)), "the corpus covers {c}");
    }
}

#[test]
fn the_classify_command_prints_path_class_rule() {
    let out = Command::new(env!("CARGO_BIN_EXE_supportprobe"))
        .args(["classify", "tests/fixtures/mail/human/rt-correspondence.eml", "tests/fixtures/mail/auto_ack"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines[0], ["tests/fixtures/mail/human/rt-correspondence.eml", "human", "helpdesk:rt:relayed-reply"]);
    assert!(lines.len() > 10 && lines[1..].iter().all(|l| l.len() == 3 && l[1] == "auto_ack"), "{stdout}");

    // A file that is not mail is reported, and the exit code says so; the others still print.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.eml");
    std::fs::write(&junk, [0xffu8, 0xfe, 0, 1, 2]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_supportprobe"))
        .arg("classify")
        .arg(&junk)
        .arg("tests/fixtures/mail/bounce/postfix.eml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a parseable message"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("postfix.eml\tbounce\tbounce:report-type"));
}

#[test]
fn vendor_overrides_apply() {
    // A helpdesk that is not recognised and marks every agent mail Auto-Submitted:
    // the vendor's config switches the header rule off.
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("agent.eml");
    std::fs::write(
        &mail,
        "From: Agent Li <li@smallvendor.example>\r\nTo: probes@example.com\r\nSubject: Re: calls drop\r\n\
         Message-ID: <x1@smallvendor.example>\r\nAuto-Submitted: auto-generated\r\n\r\nPlease send the logs.\r\n",
    )
    .unwrap();
    let none = ClassifyOverrides::default();
    assert_eq!(classify_file(&mail, &none).unwrap().rule, "ack:auto-submitted");
    let o = ClassifyOverrides { ignore_rules: vec!["ack:auto-submitted".into()], ..ClassifyOverrides::default() };
    assert_eq!(classify_file(&mail, &o).unwrap().rule, "human:default");
}
