//! The exports read back by independent tools (installed by `tests/export_tools/install.sh`,
//! pinned, from PyPI): pycocotools decodes every mask to the PNG's pixels and scores the boxes
//! 1.0 against themselves, globox reads the same boxes from COCO, YOLO and Pascal VOC, and
//! motmetrics scores every MOT sequence 1.0 against itself (`tests/export_tools/check.py`).

use std::path::Path;
use std::process::Command;

use crate::export::downloaded;
use crate::support::Rig;

/// The environment's python, installed on first use.
fn python() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(root.join("tests/export_tools/install.sh"))
        .output()
        .expect("tests/export_tools/install.sh runs");
    assert!(
        output.status.success(),
        "installing the export readers failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pycocotools_globox_and_motmetrics_read_the_exports_back_exactly() {
    let rig = Rig::start().await;
    downloaded(&rig);
    for format in ["coco", "yolo", "voc", "mot"] {
        rig.run(&[
            "export",
            "--results",
            "res",
            "--format",
            format,
            "--out",
            format,
            "--image-size",
            "64x48",
        ])
        .expect_code(0);
    }
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let dir = rig.dir.path();
    let output = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export_tools/check.py"))
        .args(["res", "coco", "yolo", "voc", "mot", "64x48"])
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "ok: pycocotools decodes 3 masks pixel for pixel",
        "ok: COCOeval of the boxes against themselves: AP 1.000",
        "ok: globox reads the same 6 boxes from COCO, YOLO and Pascal VOC",
        "ok: motmetrics scores 1 sequences against themselves: MOTA 1.0, IDF1 1.0",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
}
