"""Check a COCO-keypoint training set before it is trained on (cached per json + file list).

:func:`check_coco_keypoint_dataset` reads the annotation json and decodes every image the
dataset will use (OpenCV, as MMPose's ``LoadImage``), and returns a
:class:`DatasetCheckReport`. It refuses (one-line :class:`DatasetCheckError` naming the
file) duplicate image ids and a dataset without a labelled person, and records what
:class:`~erpose_mm.datasets.checked_dataset.CheckedCocoDataset` fixes in memory (the
user's json is never rewritten):

* images missing, unreadable, empty, corrupt or truncated: skipped (training refuses
  when more than ``max_bad_fraction`` of them are bad);
* json width/height that differ from the decoded image: the real size is used;
* NaN/Inf keypoints: made unlabelled;
* a labelled person whose box is missing, non-finite or of zero size: the box is
  recomputed from its labelled keypoints (a single keypoint: a square of side
  sqrt(area) when the annotation has an area, else reported as still degenerate).

The report is cached under :func:`default_cache_dir` keyed by the json's SHA-1, the image
folder and mode, and validated against the size and mtime of every checked image, so a
second run costs a json hash and ``os.stat`` per image.
"""
import hashlib
import json
import math
import os
import os.path as osp
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

CHECK_VERSION = 1
DEFAULT_MAX_BAD_FRACTION = 0.05


class DatasetCheckError(ValueError):
    """The dataset cannot be trained on; the message is one line naming the file."""


@dataclass
class DatasetCheckReport:
    """What the check found. Image entries: dict(id, file, problem) / dict(id, file,
    json=[w, h], real=[w, h]); annotation entries carry ``ann_id`` and ``image_id``."""
    ann_file: str
    img_dir: str
    num_images: int = 0
    num_checked: int = 0
    bad_images: List[dict] = field(default_factory=list)
    size_mismatches: List[dict] = field(default_factory=list)
    nan_keypoints: List[dict] = field(default_factory=list)
    box_fixes: List[dict] = field(default_factory=list)
    orphan_annotations: int = 0
    seconds: float = 0.0
    cached: bool = False

    @property
    def bad_fraction(self) -> float:
        return len(self.bad_images) / max(self.num_checked, 1)

    def fixes(self) -> Tuple[set, Dict[int, Tuple[int, int]], set, Dict[tuple, Optional[list]]]:
        """(bad image ids, {image id: (w, h)}, {(ann id, image id)} with NaN keypoints,
        {(ann id, image id): new xywh box or None})."""
        return ({b['id'] for b in self.bad_images},
                {m['id']: tuple(m['real']) for m in self.size_mismatches},
                {(n['ann_id'], n['image_id']) for n in self.nan_keypoints},
                {(b['ann_id'], b['image_id']): b['new'] for b in self.box_fixes})

    def summary(self) -> str:
        s = (f'dataset check of {self.ann_file}: {self.num_images} images, {self.num_checked} '
             f'checked, {len(self.bad_images)} bad ({self.bad_fraction:.1%}, skipped), '
             f'{len(self.size_mismatches)} with another size than the json, '
             f'{len(self.nan_keypoints)} people with NaN/Inf keypoints, '
             f'{len(self.box_fixes)} degenerate boxes')
        if self.orphan_annotations:
            s += f', {self.orphan_annotations} annotations of images not in the json (ignored)'
        return s + f' [{"cached, " if self.cached else ""}{self.seconds:.2f} s]'

    def lines(self, limit: Optional[int] = 20) -> List[str]:
        """The summary and one line per finding (the first ``limit`` of each kind)."""
        out = [self.summary()]
        groups = [
            (self.bad_images, lambda b: f'  bad image {b["id"]} {b["file"]}: {b["problem"]} '
             '(skipped)'),
            (self.size_mismatches, lambda m: f'  size mismatch: image {m["id"]} {m["file"]}: '
             f'json {m["json"][0]}x{m["json"][1]}, file {m["real"][0]}x{m["real"][1]} '
             '(the file\'s size is used)'),
            (self.nan_keypoints, lambda n: f'  NaN/Inf keypoints: annotation {n["ann_id"]} of '
             f'image {n["image_id"]}: {n["count"]} keypoints made unlabelled'),
            (self.box_fixes, lambda b: f'  degenerate box: annotation {b["ann_id"]} of image '
             f'{b["image_id"]}: {b["old"]} -> ' + (f'{b["new"]} (from its keypoints)'
                                                   if b['new'] else
                                                   'still degenerate (one labelled '
                                                   'keypoint, no area): dropped by '
                                                   'FilterAnnotations')),
        ]
        for items, fmt in groups:
            shown = items if limit is None else items[:limit]
            out += [fmt(i) for i in shown]
            if len(items) > len(shown):
                out.append(f'  ... and {len(items) - len(shown)} more '
                           '(tools/misc/check_dataset.py CONFIG lists all)')
        return out

    def enforce(self, max_bad_fraction: float = DEFAULT_MAX_BAD_FRACTION) -> None:
        """Raise when more than ``max_bad_fraction`` of the checked images are bad."""
        if self.num_checked and len(self.bad_images) == self.num_checked:
            raise DatasetCheckError(f'{self.ann_file}: none of its {self.num_checked} images '
                                    f'in {self.img_dir} can be read (first: '
                                    f'{self.bad_images[0]["file"]}: '
                                    f'{self.bad_images[0]["problem"]})')
        if self.bad_fraction > max_bad_fraction:
            first = ', '.join(f'{b["file"]} ({b["problem"]})' for b in self.bad_images[:3])
            raise DatasetCheckError(
                f'{self.ann_file}: {len(self.bad_images)} of {self.num_checked} images '
                f'({self.bad_fraction:.1%}) are missing or unreadable, more than the allowed '
                f'{max_bad_fraction:.0%} (max_bad_image_fraction / --max-bad-images); first: '
                f'{first}')


def default_cache_dir() -> str:
    """``$ERPOSE_MM_CACHE_DIR`` or ``$XDG_CACHE_HOME/erpose_mm/dataset_checks`` (default
    ``~/.cache/erpose_mm/dataset_checks``)."""
    if os.environ.get('ERPOSE_MM_CACHE_DIR'):
        return os.environ['ERPOSE_MM_CACHE_DIR']
    base = os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache')
    return osp.join(base, 'erpose_mm', 'dataset_checks')


# ----------------------------------------------------------------------------- per item
def check_image(path: str) -> Tuple[Optional[str], Optional[Tuple[int, int]]]:
    """(problem or None, (w, h) as decoded) of one image file, decoded like ``LoadImage``
    (``cv2.imdecode(IMREAD_COLOR)``, which applies EXIF orientation)."""
    if not osp.exists(path):
        return 'missing', None
    if osp.isdir(path):
        return 'is a directory', None
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        return f'unreadable ({e.strerror or e})', None
    if data.size == 0:
        return 'empty file', None
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as e:  # e.g. beyond OpenCV's pixel limit
        return f'corrupt (decoder error: {str(e).strip().splitlines()[-1][:120]})', None
    if img is None:
        return 'corrupt or not an image (cannot be decoded)', None
    raw = data.tobytes()
    if raw[:2] == b'\xff\xd8' and b'\xff\xd9' not in raw[-4096:]:
        # libjpeg decodes a truncated JPEG with a grey bottom and only a warning
        return 'truncated JPEG (no end marker)', None
    return None, (int(img.shape[1]), int(img.shape[0]))


def sanitize_keypoints(kpts: Sequence[float]) -> Tuple[List[float], int]:
    """Keypoint triples with a NaN/Inf value become (0, 0, 0) (unlabelled): (list, count)."""
    arr = np.asarray(kpts, dtype=np.float64).reshape(-1, 3)
    bad = ~np.isfinite(arr).all(1)
    arr[bad] = 0
    return arr.reshape(-1).tolist(), int(bad.sum())


def is_degenerate_box(bbox) -> bool:
    """A COCO xywh box that is missing, non-finite or of zero/negative size."""
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return True
    try:
        b = np.asarray(bbox, dtype=np.float64)
    except (TypeError, ValueError):
        return True
    return not np.isfinite(b).all() or b[2] <= 0 or b[3] <= 0


def box_from_keypoints(kpts: Sequence[float], area: Optional[float]) -> Optional[List[float]]:
    """Tight xywh box around the labelled (v > 0) keypoints; a zero-size side grows to
    sqrt(area) (centred) when ``area`` > 0; None when it stays degenerate."""
    arr = np.asarray(kpts, dtype=np.float64).reshape(-1, 3)
    pts = arr[arr[:, 2] > 0, :2]
    if not len(pts):
        return None
    lo, hi = pts.min(0), pts.max(0)
    size = hi - lo
    side = math.sqrt(area) if area and np.isfinite(area) and area > 0 else 0.0
    for d in range(2):
        if size[d] <= 0 and side > 0:
            lo[d], size[d] = lo[d] - side / 2, side
    if (size <= 0).any():
        return None
    return [round(float(v), 2) for v in (lo[0], lo[1], size[0], size[1])]


# ----------------------------------------------------------------------------- the check
def _signature(img_dir: str, files: Sequence[str]) -> str:
    h = hashlib.sha1()
    for f in files:
        try:
            st = os.stat(osp.join(img_dir, f))
            h.update(f'{f}\0{st.st_size}\0{st.st_mtime_ns}\n'.encode())
        except OSError:
            h.update(f'{f}\0missing\n'.encode())
    return h.hexdigest()


def _cache_path(cache_dir: str, json_sha: str, img_dir: str, test_mode: bool) -> str:
    key = hashlib.sha1(f'{osp.abspath(img_dir)}|{test_mode}|{CHECK_VERSION}'.encode())
    return osp.join(cache_dir, f'{json_sha}_{key.hexdigest()[:12]}.json')


def _load_cache(path: str, img_dir: str) -> Optional[DatasetCheckReport]:
    try:
        with open(path) as f:
            entry = json.load(f)
        if entry['signature'] != _signature(img_dir, entry['files']):
            return None  # an image changed since the check
        report = DatasetCheckReport(**entry['report'])
        report.cached = True
        return report
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_cache(path: str, report: DatasetCheckReport, img_dir: str, files: List[str]) -> None:
    try:
        os.makedirs(osp.dirname(path), exist_ok=True)
        tmp = f'{path}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp'
        with open(tmp, 'w') as f:
            json.dump(dict(report=asdict(report), files=files,
                           signature=_signature(img_dir, files)), f)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs the next run the check again


def check_coco_keypoint_dataset(ann_file: str, img_dir: str, test_mode: bool = False,
                                cache_dir: Optional[str] = None, use_cache: bool = True,
                                workers: Optional[int] = None) -> DatasetCheckReport:
    """Check a COCO-keypoint annotation file and the images it names.

    Args:
        ann_file: the json (COCO format).
        img_dir: folder the images' ``file_name`` are relative to (the dataset's
            ``data_root`` + ``data_prefix['img']``).
        test_mode: check every image (evaluation); otherwise only images with an
            annotation (MMPose's bottom-up training uses only those).
        cache_dir: where reports are cached (default :func:`default_cache_dir`).
        use_cache: read and write the cache.
        workers: decoding threads (default: CPU count, at most 8).

    Returns:
        The report. Raises :class:`DatasetCheckError` for duplicate image ids, an
        annotation file that cannot be read, or no labelled person.
    """
    t0 = time.time()
    try:
        with open(ann_file, 'rb') as f:
            raw = f.read()
    except OSError as e:
        raise DatasetCheckError(f'{ann_file}: cannot read the annotation file '
                                f'({e.strerror or e})') from None
    cache_dir = cache_dir or default_cache_dir()
    cache = _cache_path(cache_dir, hashlib.sha1(raw).hexdigest(), img_dir, test_mode)
    if use_cache:
        report = _load_cache(cache, img_dir)
        if report is not None:
            report.seconds = time.time() - t0  # json hash + one os.stat per image
            report.ann_file = ann_file  # the same json may live at another path
            return report
    try:
        data = json.loads(raw)
        images, anns = data['images'], data.get('annotations', [])
        ids = [img['id'] for img in images]
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetCheckError(f'{ann_file}: not a COCO annotation file ({e!r})') from None
    dups = sorted((i for i, n in Counter(ids).items() if n > 1), key=str)
    if dups:
        raise DatasetCheckError(f'{ann_file}: duplicate image ids {dups[:10]}'
                                f'{" ..." if len(dups) > 10 else ""} ({len(dups)} ids used by '
                                'more than one image; MMPose would merge their people)')
    report = DatasetCheckReport(ann_file=ann_file, img_dir=img_dir, num_images=len(images))
    by_id = {img['id']: img for img in images}
    per_image = defaultdict(list)
    labelled_people = 0
    for ann in anns:
        if ann.get('image_id') not in by_id:
            report.orphan_annotations += 1
            continue
        per_image[ann['image_id']].append(ann)
        if 'keypoints' not in ann:
            continue
        kpts, n_bad = sanitize_keypoints(ann['keypoints'])
        key = dict(ann_id=ann.get('id'), image_id=ann['image_id'])
        if n_bad:
            report.nan_keypoints.append(dict(key, count=n_bad))
        labelled = not ann.get('iscrowd', 0) and any(v > 0 for v in kpts[2::3])
        labelled_people += labelled
        if labelled and is_degenerate_box(ann.get('bbox')):
            report.box_fixes.append(dict(key, old=ann.get('bbox'),
                                         new=box_from_keypoints(kpts, ann.get('area'))))
    if not labelled_people:
        raise DatasetCheckError(f'{ann_file}: no image with a labelled person '
                                f'({len(images)} images, {len(anns)} annotations): nothing '
                                'to train on')
    checked = [img for img in images if test_mode or per_image.get(img['id'])]
    files = [img['file_name'] for img in checked]
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:  # cv2 decodes without the GIL
        results = list(pool.map(check_image, [osp.join(img_dir, f) for f in files]))
    report.num_checked = len(checked)
    for img, (problem, size) in zip(checked, results):
        if problem:
            report.bad_images.append(dict(id=img['id'], file=osp.join(img_dir, img['file_name']),
                                          problem=problem))
        elif (img.get('width'), img.get('height')) != size:
            report.size_mismatches.append(dict(
                id=img['id'], file=osp.join(img_dir, img['file_name']),
                json=[img.get('width'), img.get('height')], real=list(size)))
    report.seconds = time.time() - t0
    if use_cache:
        _save_cache(cache, report, img_dir, files)
    return report
