"""Check a COCO-keypoint training set before it is trained on (cached per json + file list).

:func:`check_coco_keypoint_dataset` reads the annotation json and decodes every image the
dataset will use (OpenCV, as MMPose's ``LoadImage``), and returns a
:class:`DatasetCheckReport`. It refuses (one-line :class:`DatasetCheckError` naming the
file) duplicate image ids, an image file listed under more than one image id and a dataset
without a labelled person, and records what
:class:`~erpose_mm.datasets.checked_dataset.CheckedCocoDataset` fixes in memory (the
user's json is never rewritten):

* images missing, unreadable, empty, corrupt or truncated -- a JPEG that OpenCV decodes
  with a libjpeg warning ("Corrupt JPEG data", "bad Huffman code", "Premature end of JPEG
  file": the damaged part decodes grey) counts as corrupt: skipped (training refuses when
  more than ``max_bad_fraction`` of them are bad);
* annotations of another category than the person category (the json's category named
  ``person``, else its only category with ``keypoints``, else COCO's id 1), and
  annotations whose keypoints are unusable (not 3 x the metainfo's ``num_keypoints``
  values, or a value that is not a number): skipped (refused when more than
  ``max_bad_fraction`` of the annotations are);
* json width/height that differ from the decoded image: the real size is used;
* NaN/Inf keypoints: made unlabelled;
* a labelled person whose box is missing, non-finite or of zero size: the box is
  recomputed from its labelled keypoints (a single keypoint: a square of side
  sqrt(area) when the annotation has an area, else reported as still degenerate).

The report is cached under :func:`default_cache_dir` keyed by the json's SHA-1, the image
folder, mode and keypoint count, and validated against the size, mtime, ctime and inode of
every checked image (any rewrite of a file changes its ctime, which cannot be set back), so
a second run costs a json hash and ``os.stat`` per image. The image bytes are not hashed.

The checks of one image file and one annotation are in :mod:`.check_items` (importable
from here too).
"""
import hashlib
import json
import os
import os.path as osp
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .check_items import (JPEG_DAMAGE, box_from_keypoints, captured_stderr, check_image,
                          check_image_warnings, check_images, is_degenerate_box,
                          jpeg_damage, keypoints_problem, person_category_ids,
                          sanitize_keypoints)

__all__ = [
    'CHECK_VERSION', 'DEFAULT_MAX_BAD_FRACTION', 'DatasetCheckError', 'DatasetCheckReport',
    'check_fraction', 'default_cache_dir', 'check_coco_keypoint_dataset', 'JPEG_DAMAGE',
    'box_from_keypoints', 'captured_stderr', 'check_image', 'check_image_warnings',
    'check_images', 'is_degenerate_box', 'jpeg_damage', 'keypoints_problem',
    'person_category_ids', 'sanitize_keypoints']

CHECK_VERSION = 2
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
    num_annotations: int = 0
    other_category: List[dict] = field(default_factory=list)
    bad_annotations: List[dict] = field(default_factory=list)
    person_category: List = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False

    @property
    def bad_fraction(self) -> float:
        return len(self.bad_images) / max(self.num_checked, 1)

    @property
    def skipped_annotations(self) -> set:
        """{(ann id, image id)} of the annotations that are not trained on (another
        category, unusable keypoints)."""
        return {(a['ann_id'], a['image_id']) for a in self.other_category + self.bad_annotations}

    @property
    def bad_annotation_fraction(self) -> float:
        return len(self.skipped_annotations) / max(self.num_annotations, 1)

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
        if self.other_category or self.bad_annotations:
            s += (f', {len(self.other_category)} annotations of another category than '
                  f'person (id {"/".join(map(str, self.person_category))}) and '
                  f'{len(self.bad_annotations)} with unusable keypoints, of '
                  f'{self.num_annotations} ({self.bad_annotation_fraction:.1%}, skipped)')
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
            (self.other_category, lambda a: f'  another category: annotation {a["ann_id"]} of '
             f'image {a["image_id"]}: category_id {a["category_id"]!r}, not the person '
             f'category {"/".join(map(str, self.person_category))} (skipped)'),
            (self.bad_annotations, lambda a: f'  unusable keypoints: annotation {a["ann_id"]} of '
             f'image {a["image_id"]}: {a["problem"]} (skipped)'),
        ]
        for items, fmt in groups:
            shown = items if limit is None else items[:limit]
            out += [fmt(i) for i in shown]
            if len(items) > len(shown):
                out.append(f'  ... and {len(items) - len(shown)} more '
                           '(tools/misc/check_dataset.py CONFIG lists all)')
        return out

    def enforce(self, max_bad_fraction: float = DEFAULT_MAX_BAD_FRACTION) -> None:
        """Raise when more than ``max_bad_fraction`` of the checked images, or of the
        annotations, are bad (skipped)."""
        check_fraction(max_bad_fraction)
        self.refuse_if_no_annotation_is_usable()
        if self.bad_annotation_fraction > max_bad_fraction:
            raise DatasetCheckError(
                f'{self.ann_file}: {len(self.skipped_annotations)} of {self.num_annotations} '
                f'annotations ({self.bad_annotation_fraction:.1%}) are of another category '
                'or have unusable keypoints, more than the allowed '
                f'{max_bad_fraction:.0%} (max_bad_image_fraction / --max-bad-images); first: '
                f'{self._first_bad_annotations(3)}{self._keypoint_count_hint()}')
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


    def refuse_if_no_annotation_is_usable(self) -> None:
        if self.num_annotations and \
                len(self.skipped_annotations) == self.num_annotations:
            raise DatasetCheckError(f'{self.ann_file}: none of its {self.num_annotations} '
                                    f'annotations can be trained on (first: '
                                    f'{self._first_bad_annotations(1)})'
                                    f'{self._keypoint_count_hint()}')

    def _first_bad_annotations(self, n: int) -> str:
        items = [f'annotation {a["ann_id"]} of image {a["image_id"]} ({a["problem"]})'
                 for a in self.bad_annotations[:n]]
        items += [f'annotation {a["ann_id"]} of image {a["image_id"]} (category_id '
                  f'{a["category_id"]!r}, not {"/".join(map(str, self.person_category))})'
                  for a in self.other_category[:n - len(items)]]
        return ', '.join(items)

    def _keypoint_count_hint(self) -> str:
        counts = {a.get('num_values') for a in self.bad_annotations}
        if len(counts) != 1 or None in counts or \
                len(self.bad_annotations) < self.num_annotations - len(self.other_category):
            return ''
        k = counts.pop() // 3
        return (f'; every annotation has {k} keypoints: train a {k}-keypoint dataset with a '
                f'{k}-keypoint config (e.g. the *_crowdpose-* configs for 14-keypoint '
                'CrowdPose; docs/custom_keypoints.md)')


def check_fraction(value, what: str = '--max-bad-images / max_bad_image_fraction') -> float:
    """``value`` as a float in [0, 1]; a one-line :class:`DatasetCheckError` otherwise."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float('nan')
    if not 0 <= f <= 1:  # NaN too
        raise DatasetCheckError(f'{what} {value!r}: expected a fraction in [0, 1] (0.05 = '
                                'at most 5% bad images / annotations)')
    return f


def default_cache_dir() -> str:
    """``$ERPOSE_MM_CACHE_DIR`` or ``$XDG_CACHE_HOME/erpose_mm/dataset_checks`` (default
    ``~/.cache/erpose_mm/dataset_checks``)."""
    if os.environ.get('ERPOSE_MM_CACHE_DIR'):
        return os.environ['ERPOSE_MM_CACHE_DIR']
    base = os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache')
    return osp.join(base, 'erpose_mm', 'dataset_checks')


# ----------------------------------------------------------------------------- the check
def _signature(img_dir: str, files: Sequence[str]) -> str:
    h = hashlib.sha1()
    for f in files:
        try:
            st = os.stat(osp.join(img_dir, f))
            h.update(f'{f}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0'
                     f'{st.st_ino}\n'.encode())
        except OSError:
            h.update(f'{f}\0missing\n'.encode())
    return h.hexdigest()


def _cache_path(cache_dir: str, json_sha: str, img_dir: str, test_mode: bool,
                num_keypoints: Optional[int] = None) -> str:
    key = hashlib.sha1(f'{osp.abspath(img_dir)}|{test_mode}|{CHECK_VERSION}|'
                       f'{num_keypoints}'.encode())
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
                                workers: Optional[int] = None,
                                num_keypoints: Optional[int] = None) -> DatasetCheckReport:
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
        num_keypoints: keypoints per person of the dataset's metainfo; annotations with
            another count are reported (and skipped in training).

    Returns:
        The report. Raises :class:`DatasetCheckError` for duplicate image ids, an image
        file listed under more than one image id, an annotation file that cannot be
        read, or no labelled person.
    """
    t0 = time.time()
    try:
        with open(ann_file, 'rb') as f:
            raw = f.read()
    except OSError as e:
        raise DatasetCheckError(f'{ann_file}: cannot read the annotation file '
                                f'({e.strerror or e})') from None
    cache_dir = cache_dir or default_cache_dir()
    cache = _cache_path(cache_dir, hashlib.sha1(raw).hexdigest(), img_dir, test_mode,
                        num_keypoints)
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
        person = person_category_ids(data.get('categories'))
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetCheckError(f'{ann_file}: not a COCO annotation file ({e!r})') from None
    dups = sorted((i for i, n in Counter(ids).items() if n > 1), key=str)
    if dups:
        raise DatasetCheckError(f'{ann_file}: duplicate image ids {dups[:10]}'
                                f'{" ..." if len(dups) > 10 else ""} ({len(dups)} ids used by '
                                'more than one image; MMPose would merge their people)')
    report = DatasetCheckReport(ann_file=ann_file, img_dir=img_dir, num_images=len(images),
                                person_category=person)
    by_id = {img['id']: img for img in images}
    per_image = defaultdict(list)
    labelled_people = 0
    for ann in anns:
        if ann.get('image_id') not in by_id:
            report.orphan_annotations += 1
            continue
        report.num_annotations += 1
        key = dict(ann_id=ann.get('id'), image_id=ann['image_id'])
        if person and 'category_id' in ann and ann['category_id'] not in person:
            report.other_category.append(dict(key, category_id=ann['category_id']))
            continue
        if 'keypoints' not in ann:
            per_image[ann['image_id']].append(ann)
            continue
        problem = keypoints_problem(ann['keypoints'], num_keypoints)
        if problem:
            n = len(ann['keypoints']) if isinstance(ann['keypoints'], (list, tuple)) else None
            report.bad_annotations.append(dict(key, problem=problem, num_values=n))
            continue
        per_image[ann['image_id']].append(ann)
        kpts, n_bad = sanitize_keypoints(ann['keypoints'])
        if n_bad:
            report.nan_keypoints.append(dict(key, count=n_bad))
        labelled = not ann.get('iscrowd', 0) and any(v > 0 for v in kpts[2::3])
        labelled_people += labelled
        if labelled and is_degenerate_box(ann.get('bbox')):
            report.box_fixes.append(dict(key, old=ann.get('bbox'),
                                         new=box_from_keypoints(kpts, ann.get('area'))))
    if not labelled_people:
        report.refuse_if_no_annotation_is_usable()
        raise DatasetCheckError(f'{ann_file}: no image with a labelled person '
                                f'({len(images)} images, {len(anns)} annotations): nothing '
                                'to train on')
    checked = [img for img in images if test_mode or per_image.get(img['id'])]
    files = [img['file_name'] for img in checked]
    ids_of = defaultdict(list)
    for img in checked:
        ids_of[osp.normpath(str(img['file_name']))].append(img['id'])
    shared = [(f, i) for f, i in ids_of.items() if len(i) > 1]
    if shared:
        f, i = shared[0]
        raise DatasetCheckError(
            f'{ann_file}: image file {osp.join(img_dir, f)} is listed under image ids {i}'
            f'{f" ({len(shared)} files listed more than once)" if len(shared) > 1 else ""}; '
            "MMPose would train it once per id, each time with only that id's people (the "
            'others as background): give each file one image entry')
    workers = workers or min(8, os.cpu_count() or 1)
    results = check_images([osp.join(img_dir, f) for f in files], workers)
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
