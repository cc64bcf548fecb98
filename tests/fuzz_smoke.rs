//! A short, deterministic smoke run of each fuzz target on the stable
//! toolchain: the fixtures (real layouts), mutated — bits flipped, bytes
//! inserted, cut, spliced, structural tokens dropped in — fed to the same
//! entry points the cargo-fuzz targets in `fuzz/` use. A panic is a finding;
//! the seed and iteration are printed so it can be replayed.

mod common;

use std::path::{Path, PathBuf};

use common::{MANIFEST, Rng};

const TOKENS: &[&[u8]] = &[
    b"\r\n\r\n",
    b"\n",
    b"=?utf-8?b?5L2g5aW9?=",
    b"=?gb2312?q?=C4=E3?=",
    b"Content-Type: multipart/mixed; boundary=\"b\"\r\n",
    b"--b\r\n",
    b"&#x1F600;&amp;&",
    b"<div><blockquote>",
    b"[[",
    b"]]",
    b"\"",
    b"= {",
    b"${",
    b"\x00",
    b"\xff\xfe",
    "声网".as_bytes(),
    b"..",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at.min(v.len()), rng.next() as u8),
            2 if at < v.len() => {
                let n = rng.below(64).min(v.len() - at);
                v.drain(at..at + n);
            }
            3 => v.truncate(at),
            4 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at.min(v.len())..at.min(v.len()), t.iter().copied());
            }
            5 if !v.is_empty() => {
                // Splice a piece of itself elsewhere (repeated structure).
                let from = rng.below(v.len());
                let n = rng.below(256).min(v.len() - from);
                let piece: Vec<u8> = v[from..from + n].to_vec();
                v.splice(at.min(v.len())..at.min(v.len()), piece);
            }
            _ => {
                let run = vec![b"x&<="[rng.below(4)]; rng.below(4096)];
                v.splice(at.min(v.len())..at.min(v.len()), run);
            }
        }
    }
    v
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn run(name: &str, seeds: &[Vec<u8>], rounds: usize, target: fn(&[u8])) {
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let seed = 0x5eed_0000 ^ name.len() as u64;
    let mut rng = Rng(seed | 1);
    for s in seeds {
        target(s);
    }
    for i in 0..rounds {
        let input = mutate(&mut rng, &seeds[i % seeds.len()]);
        let r = std::panic::catch_unwind(|| target(&input));
        if r.is_err() {
            let path = std::env::temp_dir().join(format!("supportprobe-fuzz-{name}-{i}.bin"));
            let _ = std::fs::write(&path, &input);
            panic!("{name}: input {i} (rng seed {seed}) panicked; saved to {}", path.display());
        }
    }
}

#[test]
fn mail_parse_and_classify_survive_mutated_real_layouts() {
    let mut paths = Vec::new();
    files(&Path::new(MANIFEST).join("tests/fixtures/mail"), "eml", &mut paths);
    let seeds: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(seeds.len() > 100, "{} mails", seeds.len());
    run("mail", &seeds, 6000, supportprobe::fuzzing::mail_parse_classify);
}

#[test]
fn config_parse_and_diagnostics_survive_mutated_configs() {
    let mut paths = vec![Path::new(MANIFEST).join("config/demo.toml"), Path::new(MANIFEST).join("config/example.toml")];
    files(&Path::new(MANIFEST).join("tests/fixtures/config"), "toml", &mut paths);
    let seeds: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    run("config", &seeds, 6000, supportprobe::fuzzing::config_parse_render);
}

#[test]
fn webhook_verification_survives_arbitrary_requests_and_signs_round_trip() {
    let mut seeds = Vec::new();
    for kind in 0u8..6 {
        let mut s = vec![kind];
        s.extend_from_slice(b"0123456789abcdef");
        s.extend_from_slice(b"x-hub-signature-256: sha256=00\nx-slack-request-timestamp: 1790000000\nx-zendesk-webhook-signature: AAAA\n\n");
        s.extend_from_slice(br#"{"action":"created","comment":{"id":1},"encrypt":"AAAA"}"#);
        seeds.push(s);
    }
    run("webhook", &seeds, 20000, supportprobe::fuzzing::webhook_verify);
}
