//! The classifier on a labelled corpus of mail modelled on what real systems
//! send (`tests/fixtures/mail/<true class>/`, each file named with the
//! system it imitates in `MANIFEST.toml`): helpdesk notifications that relay
//! a person's comment (Zendesk both markers, Freshdesk, Jira Service
//! Management, ServiceNow, RT, Salesforce, HubSpot, Help Scout, Front, Zoho
//! Desk, osTicket, Chinese helpdesks), GitHub, Discourse, mailing lists and
//! chat-platform notifications; bounces from Postfix, Exim, Sendmail, qmail,
//! Courier, Domino, Exchange, Gmail, SES, Mailgun, SendGrid and Chinese and
//! Japanese providers; out-of-office replies from every big provider; machine
//! reports without automation headers; bots; people writing in every client,
//! in English, simplified and traditional Chinese, Japanese, German and French,
//! in the charsets they use. Prints the confusion matrix. No person may be
//! counted as a machine nor a machine as a person; at least 98 % of the
//! classes must be exact.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use supportprobe::classify::ClassifyOverrides;
use supportprobe::replyfile::{classify_file, expand};

const CLASSES: [&str; 5] = ["human", "bot", "auto_ack", "out_of_office", "bounce"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    mail: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Entry {
    file: String,
    system: String,
    layout: String,
    language: String,
    charset: String,
    #[serde(default)]
    note: Option<String>,
}

#[test]
fn corpus_confusion_matrix() {
    let root = PathBuf::from("tests/fixtures/mail");
    let files = expand(std::slice::from_ref(&root));
    assert!(files.len() >= 200, "a corpus of at least 200 mails ({} found)", files.len());

    // Every file is described, and every description has its file.
    let manifest: Manifest = toml::from_str(&std::fs::read_to_string(root.join("MANIFEST.toml")).unwrap()).unwrap();
    let listed: BTreeSet<&str> = manifest.mail.iter().map(|e| e.file.as_str()).collect();
    let present: BTreeSet<String> =
        files.iter().map(|f| f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/")).collect();
    let unlisted: Vec<&String> = present.iter().filter(|f| !listed.contains(f.as_str())).collect();
    let missing: Vec<&&str> = listed.iter().filter(|f| !present.contains(**f)).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "not in MANIFEST.toml: {unlisted:?}; listed but absent: {missing:?}"
    );
    let systems: BTreeSet<&str> = manifest.mail.iter().map(|e| e.system.as_str()).collect();
    assert!(systems.len() >= 25, "at least 25 systems imitated ({})", systems.len());
    let languages: BTreeSet<&str> = manifest.mail.iter().map(|e| e.language.as_str()).collect();
    for l in ["en", "zh-Hans", "zh-Hant", "ja"] {
        assert!(languages.contains(l), "the corpus has {l} mail");
    }
    let charsets: BTreeSet<String> = manifest.mail.iter().map(|e| e.charset.to_ascii_lowercase()).collect();
    for c in ["gbk", "gb18030", "big5", "iso-2022-jp", "shift_jis"] {
        assert!(charsets.contains(c), "the corpus has {c} mail");
    }

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
    let got_classes: Vec<String> = {
        let mut v: Vec<String> = CLASSES.iter().map(|c| c.to_string()).collect();
        for (_, g) in matrix.keys() {
            if !v.contains(g) {
                v.push(g.clone());
            }
        }
        v
    };
    let mut table = format!("{:>14} |", "expected\\got");
    for c in &got_classes {
        table.push_str(&format!(" {c:>13}"));
    }
    table.push('\n');
    for e in CLASSES {
        table.push_str(&format!("{e:>14} |"));
        for g in &got_classes {
            table.push_str(&format!(" {:>13}", matrix.get(&(e.to_string(), g.clone())).copied().unwrap_or(0)));
        }
        table.push('\n');
    }
    let exact = files.len() - wrong.len();
    println!(
        "{} mails, {} systems, {exact} exact ({:.1} %)\n{table}",
        files.len(),
        systems.len(),
        100.0 * exact as f64 / files.len() as f64
    );
    let human_lost: usize = matrix.iter().filter(|((e, g), _)| e == "human" && g != "human").map(|(_, n)| n).sum();
    let machine_as_human: usize =
        matrix.iter().filter(|((e, g), _)| e != "human" && g == "human").map(|(_, n)| n).sum();
    assert_eq!(human_lost, 0, "human replies classified as machines:\n{}\n{table}", wrong.join("\n"));
    assert_eq!(machine_as_human, 0, "machine replies classified as human:\n{}\n{table}", wrong.join("\n"));
    assert!(exact * 100 >= files.len() * 98, "at least 98 % exact:\n{}\n{table}", wrong.join("\n"));
    for c in CLASSES {
        assert!(files.iter().any(|f| f.parent().unwrap().ends_with(c)), "the corpus covers {c}");
    }
}

#[test]
fn explain_shows_the_judged_part_and_the_signals() {
    let out = Command::new(env!("CARGO_BIN_EXE_supportprobe"))
        .args(["classify", "--explain", "tests/fixtures/mail/human/zendesk-new-marker-updated.eml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        s.starts_with("tests/fixtures/mail/human/zendesk-new-marker-updated.eml\thuman\trelay:zendesk:comment\n"),
        "{s}"
    );
    assert!(s.contains("judged   comment relayed by zendesk by \"Marcus Lindqvist\""), "{s}");
    assert!(s.contains("| We reproduced the drop with SDK 4.2.0"), "the relayed comment is shown: {s}");
    assert!(!s.contains("| Your request has been updated"), "the notice is not the judged part: {s}");
    assert!(s.contains("header   Auto-Submitted: auto-generated (the relay's, not the author's)"), "{s}");
    assert!(s.contains("layout   zendesk marker \"## Please do not write below this line ##\""), "{s}");
    let out = Command::new(env!("CARGO_BIN_EXE_supportprobe"))
        .args(["classify", "--explain", "tests/fixtures/mail/bounce/dsn-nested-in-mixed.eml"])
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("\tbounce\tbounce:report-type") && s.contains("mime     message/delivery-status"), "{s}");
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
    assert_eq!(lines[0], ["tests/fixtures/mail/human/rt-correspondence.eml", "human", "relay:rt:comment"]);
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
