//! The layers, checked on the source: only the service layer may use storage, and
//! nothing outside it reaches the services' internals (they are private too, so
//! that would not compile; this catches a `pub` added to get round it).

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn only_the_service_layer_uses_storage() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    assert!(files.len() > 50, "the source tree is found");
    let inside = |p: &Path| {
        let rel = p
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        rel.starts_with("src/service/") || rel.starts_with("src/storage/")
    };
    let forbidden = [
        "crate::storage",
        "services.store",
        "services.vault",
        "services.policy",
        "services.keys",
        "s.store.",
        "s.vault.",
    ];
    let mut found = Vec::new();
    for f in files.iter().filter(|f| !inside(f)) {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for pat in forbidden {
                if line.contains(pat) {
                    found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "storage reached outside the service layer:\n{}",
        found.join("\n")
    );
}
