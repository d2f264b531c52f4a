//! Generates the Rust view of QEMU's contract header with bindgen.
//!
//! The header is added to QEMU by one of our patches
//! (`include/accel/tcg/espt-abi.h`), so the patch series is its single
//! source: this script extracts the new file from the patch.  Set
//! `ESPT_ABI_HEADER` to use a header from a QEMU tree instead (while
//! developing the patches).  `src/abi.rs` then checks every exported
//! function against the generated declarations at compile time.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const HEADER_PATH_IN_QEMU: &str = "include/accel/tcg/espt-abi.h";

fn header_from_patches(dir: &Path) -> Result<String, String> {
    let mut patches: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    patches.sort();
    let marker = format!("+++ b/{HEADER_PATH_IN_QEMU}");
    for patch in &patches {
        println!("cargo:rerun-if-changed={}", patch.display());
        let text = fs::read_to_string(patch)
            .map_err(|e| format!("cannot read {}: {e}", patch.display()))?;
        let Some(start) = text.find(&marker) else {
            continue;
        };
        let mut header = String::new();
        let mut in_hunk = false;
        for line in text[start..].lines().skip(1) {
            if line.starts_with("@@ -0,0 ") {
                in_hunk = true;
                continue;
            }
            if !in_hunk {
                continue;
            }
            match line.strip_prefix('+') {
                Some(rest) => {
                    header.push_str(rest);
                    header.push('\n');
                }
                None => break,
            }
        }
        if header.is_empty() {
            return Err(format!(
                "{}: {HEADER_PATH_IN_QEMU} is not a new file",
                patch.display()
            ));
        }
        return Ok(header);
    }
    Err(format!(
        "no patch in {} adds {HEADER_PATH_IN_QEMU}",
        dir.display()
    ))
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-env-changed=ESPT_ABI_HEADER");
    println!("cargo:rerun-if-changed=qemu-patches");
    let header = match env::var_os("ESPT_ABI_HEADER") {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", Path::new(&path).display());
            fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("ESPT_ABI_HEADER={}: {e}", Path::new(&path).display()))
        }
        None => header_from_patches(Path::new("qemu-patches")).unwrap_or_else(|e| panic!("{e}")),
    };
    let header_file = out.join("espt-abi.h");
    fs::write(&header_file, header).expect("write espt-abi.h");

    let bindings = bindgen::Builder::default()
        .header(header_file.to_string_lossy())
        .allowlist_function("espt_.*")
        .allowlist_type("Espt.*")
        .allowlist_var("ESPT_.*")
        .rustified_enum("EsptStatus")
        .rustified_enum("EsptLogLevel")
        .derive_default(true)
        .layout_tests(true)
        .generate()
        .expect("bindgen failed on the ESPT contract header");
    bindings
        .write_to_file(out.join("abi.rs"))
        .expect("write abi.rs");
}
