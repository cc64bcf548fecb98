//! Stamps the binary with the source revision it was built from, for
//! `supportprobe --version` and `supportprobe_build_info{revision}`: the
//! `SUPPORTPROBE_REVISION` environment variable when set (a container or
//! package build without `.git`), else `git rev-parse`, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SUPPORTPROBE_REVISION");
    // Run again when the checked-out commit moves: HEAD, the branch it points at, packed refs.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/packed-refs");
    if let Ok(head) = std::fs::read_to_string(".git/HEAD")
        && let Some(branch) = head.trim().strip_prefix("ref: ")
    {
        println!("cargo:rerun-if-changed=.git/{branch}");
    }
    let revision = std::env::var("SUPPORTPROBE_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(git)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SUPPORTPROBE_REVISION={}", revision.trim());
}

fn git() -> Option<String> {
    let out = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}
