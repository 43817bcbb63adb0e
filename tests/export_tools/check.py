"""Reads gtform's exports back with the tools people use, and checks them against the results
they were made from. Run by tests/it/export_tools.rs:

    check.py RESULTS COCO_DIR YOLO_DIR VOC_DIR MOT_DIR

* pycocotools: the COCO document loads; every mask annotation decodes (`mask.decode`) to
  exactly the pixels of the PNG mask whose colours the legend gives its class; a COCOeval of
  the boxes against themselves scores AP 1.0.
* globox: COCO, YOLO and Pascal VOC read back to the same boxes.
* motmetrics: every MOT ground truth evaluated against itself: MOTA and IDF1 1.0.

Prints one `ok: …` line per check; any failure raises.
"""

import json
import re
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from globox import Annotation, AnnotationSet
import motmetrics as mm

# motmetrics 1.4.0 (the latest) still calls `np.asfarray`, which NumPy 2 removed; pandas and
# scipy as pinned need NumPy 2. The same function under its old name:
if not hasattr(np, "asfarray"):
    np.asfarray = lambda values, dtype=np.float64: np.asarray(values, dtype=dtype)


def png_rgba(path):
    """Decodes an 8-bit RGBA, non-interlaced PNG (what the emulator draws) with zlib alone."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, width, height = 8, b"", 0, 0
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        body = data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, colour, interlace) == (8, 6, 0), "RGBA 8-bit, not interlaced"
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    raw = zlib.decompress(idat)
    stride = width * 4
    pixels = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        out = np.zeros(stride, dtype=np.int32)
        for x in range(stride):
            left = out[x - 4] if x >= 4 else 0
            up = previous[x]
            up_left = previous[x - 4] if x >= 4 else 0
            if kind == 0:
                value = line[x]
            elif kind == 1:
                value = line[x] + left
            elif kind == 2:
                value = line[x] + up
            elif kind == 3:
                value = line[x] + (left + up) // 2
            else:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                value = line[x] + predictor
            out[x] = value & 0xFF
        pixels[y] = out
        previous = out
    return pixels.reshape(height, width, 4)


def index_of(results):
    entries = {}
    for line in (Path(results) / "index.jsonl").read_text().splitlines():
        entry = json.loads(line)
        entries[entry["job_id"]] = entry
    return entries


def check_coco(results, coco_dir):
    entries = index_of(results)
    coco = COCO(str(Path(coco_dir) / "instances.json"))
    names = {category["id"]: category["name"] for category in coco.loadCats(coco.getCatIds())}
    masks_checked = 0
    for image in coco.loadImgs(coco.getImgIds()):
        entry = entries[image["job_id"]]
        assert entry["reference_id"] == image["reference_id"]
        for annotation in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]])):
            if not annotation["iscrowd"]:
                continue
            result = json.loads((Path(results) / entry["result"]["path"]).read_text())
            raster = result["data"]["annotations"]["raster"]
            mask_file = next(m for m in entry["masks"] if m["url"] == raster["url"])
            pixels = png_rgba(Path(results) / mask_file["path"])
            colours = [
                tuple(int(key[i : i + 2], 16) for i in (1, 3, 5))
                for key, label in raster["legend"].items()
                if re.sub(r" # \d+$", "", label) == names[annotation["category_id"]]
            ]
            expected = np.zeros(pixels.shape[:2], dtype=np.uint8)
            labelled = pixels.any(axis=2)
            for colour in colours:
                expected |= (np.all(pixels[:, :, :3] == colour, axis=2) & labelled).astype(np.uint8)
            decoded = mask_utils.decode(annotation["segmentation"])
            assert decoded.shape == expected.shape, (decoded.shape, expected.shape)
            assert np.array_equal(decoded, expected), f"mask of {names[annotation['category_id']]} differs"
            assert int(mask_utils.area(annotation["segmentation"])) == annotation["area"]
            assert [float(v) for v in mask_utils.toBbox(annotation["segmentation"])] == annotation["bbox"]
            masks_checked += 1
    assert masks_checked > 0 or "--no-masks" in sys.argv, "no mask was checked"
    print(f"ok: pycocotools decodes {masks_checked} masks pixel for pixel")

    detections = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
        for a in coco.loadAnns(coco.getAnnIds())
        if not a["iscrowd"]
    ]
    evaluation = COCOeval(coco, coco.loadRes(detections), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert abs(evaluation.stats[0] - 1.0) < 1e-9, evaluation.stats
    print(f"ok: COCOeval of the boxes against themselves: AP {evaluation.stats[0]:.3f}")


def boxes(annotations, names=None):
    found = set()
    for annotation in annotations:
        stem = Path(annotation.image_id).stem
        for box in annotation.boxes:
            label = names[int(box.label)] if names else box.label
            found.add((stem, label) + tuple(round(v, 2) for v in box.ltrb))
    return found


def check_globox(coco_dir, yolo_dir, voc_dir, size):
    coco = boxes(AnnotationSet.from_coco(Path(coco_dir) / "instances.json"))
    data_yaml = (Path(yolo_dir) / "data.yaml").read_text()
    names = {int(i): json.loads(name) for i, name in re.findall(r"^  (\d+): (.*)$", data_yaml, re.M)}
    yolo = boxes(
        [Annotation.from_yolo_darknet(p, image_size=size) for p in sorted((Path(yolo_dir) / "labels").rglob("*.txt"))],
        names,
    )
    voc = boxes(Annotation.from_pascal_voc(p) for p in sorted((Path(voc_dir) / "Annotations").rglob("*.xml")))
    # COCO also holds polygons and landmarks: compare its rectangles (4-corner segmentations).
    coco_rectangles = set()
    document = json.loads((Path(coco_dir) / "instances.json").read_text())
    names_by_id = {c["id"]: c["name"] for c in document["categories"]}
    files = {i["id"]: Path(i["file_name"]).stem for i in document["images"]}
    for a in document["annotations"]:
        segmentation = a["segmentation"]
        if a["iscrowd"] or "keypoints" in a or len(segmentation) != 1 or len(segmentation[0]) != 8:
            continue
        x, y, w, h = a["bbox"]
        coco_rectangles.add((files[a["image_id"]], names_by_id[a["category_id"]], round(x, 2), round(y, 2), round(x + w, 2), round(y + h, 2)))
    assert coco_rectangles <= coco, "globox reads every COCO rectangle"
    assert yolo == voc, (yolo ^ voc)
    assert {(s, l) + tuple(round(v) for v in b) for s, l, *b in yolo} == {(s, l) + tuple(round(v) for v in b) for s, l, *b in coco_rectangles}, "YOLO (6 decimals) and COCO agree"
    print(f"ok: globox reads the same {len(voc)} boxes from COCO, YOLO and Pascal VOC")


def check_mot(mot_dir):
    sequences = sorted(Path(mot_dir).rglob("gt/gt.txt"))
    assert sequences, "no MOT sequence"
    for gt_path in sequences:
        gt = mm.io.loadtxt(str(gt_path), fmt="mot15-2D")
        accumulator = mm.utils.compare_to_groundtruth(gt, gt, "iou", distth=0.5)
        summary = mm.metrics.create().compute(accumulator, metrics=["mota", "idf1", "num_frames"], name="self")
        assert summary["mota"]["self"] == 1.0 and summary["idf1"]["self"] == 1.0, summary
    print(f"ok: motmetrics scores {len(sequences)} sequences against themselves: MOTA 1.0, IDF1 1.0")


if __name__ == "__main__":
    results, coco_dir, yolo_dir, voc_dir, mot_dir, size = sys.argv[1:7]
    width, height = (int(v) for v in size.split("x"))
    check_coco(results, coco_dir)
    check_globox(coco_dir, yolo_dir, voc_dir, (width, height))
    check_mot(mot_dir)
