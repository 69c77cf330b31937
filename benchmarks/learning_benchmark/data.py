"""Data of the learning benchmark: two synthetic splits ("mixed", "crowded") merged into one
COCO-format training set, one val json per split (with CrowdPose's per-image crowd index),
and the same data as an Ultralytics pose dataset."""
import json
import os
import os.path as osp
import shutil
import time
from typing import Dict, List, Sequence

TRAIN_JSON = 'annotations/person_keypoints_train.json'
VAL_JSON = 'annotations/person_keypoints_val.json'
# image / annotation id offset per split in the merged jsons
ID_OFFSET = {'mixed': 1_000_000, 'crowded': 2_000_000}
# COCO left/right keypoint swap (Ultralytics' flip_idx)
FLIP_IDX = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
# data families (budget entry ``family``): which generator makes the splits, in one sentence.
# Choices are tuned on 'figures'; 'silhouette' (an independent generator) only confirms them.
FAMILIES = {
    'figures': '`erpose_mm.datasets.generate_synthetic_coco`: outlined stick-and-capsule '
               'figures with faces, textured backgrounds and distractors, boxes enclosing each '
               "figure's drawn pixels and keypoints",
    'silhouette': '`benchmarks.learning_benchmark.silhouette_family`: filled, textured body '
                  'parts posed by joint angles in a torso frame (walking, sitting, arms raised, '
                  'bending, side views), noise / gradient / shape backgrounds with per-image '
                  'lighting, blur and JPEG noise, people and foreground objects occluding by '
                  'depth order, boxes and areas from the visible silhouette',
}


def generator(family: str):
    """The ``generate_synthetic_coco``-compatible function that makes ``family``'s data."""
    if family == 'figures':
        from erpose_mm.datasets import generate_synthetic_coco
        return generate_synthetic_coco
    if family == 'silhouette':
        from benchmarks.learning_benchmark.silhouette_family import generate_silhouette_coco
        return generate_silhouette_coco
    raise ValueError(f'unknown data family {family!r}; families: {", ".join(FAMILIES)}')


def val_json(split: str) -> str:
    """Path (relative to the data root) of one split's val json."""
    return f'annotations/person_keypoints_val_{split}.json'


def crowd_index(anns: Sequence[dict]) -> float:
    """CrowdPose's crowd index of one image: ``(1/n) sum_i N_b(i) / N_a(i)``.

    ``N_a(i)``: labelled keypoints (v > 0) of person i; ``N_b(i)``: labelled keypoints of
    the *other* people that lie inside person i's box. People without labelled keypoints and
    crowd regions are left out; an image without such people has index 0.
    """
    people = [a for a in anns if not a.get('iscrowd')]
    pts = []
    for a in people:
        k = a['keypoints']
        pts.append([(k[i], k[i + 1]) for i in range(0, len(k), 3) if k[i + 2] > 0])
    ratios = []
    for i, a in enumerate(people):
        if not pts[i]:
            continue
        x, y, w, h = a['bbox']
        inside = sum(1 for j, pj in enumerate(pts) if j != i
                     for (px, py) in pj if x <= px <= x + w and y <= py <= y + h)
        ratios.append(inside / len(pts[i]))
    return sum(ratios) / len(ratios) if ratios else 0.0


def _merge(parts: Dict[str, dict], split_dir: str, root: str, img_dir: str) -> dict:
    """Merge per-split COCO dicts (ids offset, file names prefixed and linked into img_dir)."""
    out = None
    os.makedirs(osp.join(root, img_dir), exist_ok=True)
    for name, d in parts.items():
        off = ID_OFFSET[name]
        if out is None:
            out = {k: v for k, v in d.items() if k not in ('images', 'annotations')}
            out['images'], out['annotations'] = [], []
        for im in d['images']:
            im = dict(im, id=im['id'] + off, file_name=f"{name}_{im['file_name']}")
            link = osp.join(root, img_dir, im['file_name'])
            if not osp.lexists(link):
                os.symlink(osp.join('..', 'raw', name, split_dir, im['file_name'][len(name) + 1:]),
                           link)
            out['images'].append(im)
        for a in d['annotations']:
            out['annotations'].append(dict(a, id=a['id'] + off, image_id=a['image_id'] + off))
    return out


def make_data(work_dir: str, b: dict, splits: Dict[str, dict], log=print) -> str:
    """Generate both splits (unless the stamp says they exist) and return the data root.

    ``b['family']`` (default 'figures', see :data:`FAMILIES`) picks the generator.
    Layout: ``raw/<split>/`` (generator output), ``train/`` and ``val/`` (links named
    ``<split>_<file>``), ``annotations/person_keypoints_{train,val}.json`` (both splits),
    ``annotations/person_keypoints_val_<split>.json`` (images carry ``crowdIndex``).
    """
    root = osp.join(work_dir, 'data')
    stamp = osp.join(root, 'stamp.json')
    want = dict(sizes={k: b[k] for k in ('num_train', 'num_val', 'min_size', 'max_size',
                                         'data_seed')}, splits=splits)
    family = b.get('family', 'figures')
    if family != 'figures':  # the stamp names the family; the default's stays family-less
        want['family'] = family
    want = json.loads(json.dumps(want))
    if osp.isfile(stamp) and json.load(open(stamp)) == want:
        return root + '/'
    if osp.isdir(root):
        shutil.rmtree(root)
    generate_synthetic_coco = generator(family)
    t = time.time()
    raw = {}
    for name, kw in splits.items():
        kw = dict(kw)
        if kw.get('scale_range') is not None:
            kw['scale_range'] = tuple(kw['scale_range'])
        s = generate_synthetic_coco(osp.join(root, 'raw', name), num_train=b['num_train'],
                                    num_val=b['num_val'], seed=b['data_seed'] + ID_OFFSET[name],
                                    min_size=b['min_size'], max_size=b['max_size'],
                                    progress=False, **kw)
        raw[name] = {sp: json.load(open(s[sp]['ann_file'])) for sp in ('train', 'val')}
        log(f"data {name}: train {s['train']['num_images']} images / "
            f"{s['train']['num_persons']} people, val {s['val']['num_images']} / "
            f"{s['val']['num_persons']}")
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for sp, js in (('train', TRAIN_JSON), ('val', VAL_JSON)):
        merged = _merge({n: raw[n][sp] for n in splits}, sp, root, sp)
        with open(osp.join(root, js), 'w') as f:
            json.dump(merged, f)
    for name in splits:
        one = _merge({name: raw[name]['val']}, 'val', root, 'val')
        by_img: Dict[int, List[dict]] = {}
        for a in one['annotations']:
            by_img.setdefault(a['image_id'], []).append(a)
        for im in one['images']:
            im['crowdIndex'] = round(crowd_index(by_img.get(im['id'], [])), 4)
        with open(osp.join(root, val_json(name)), 'w') as f:
            json.dump(one, f)
    with open(stamp, 'w') as f:
        json.dump(want, f)
    log(f'data made in {time.time() - t:.0f}s -> {root}')
    return root + '/'


def data_stats(data_root: str, splits: Sequence[str], input_size: int = 256,
               stride: int = 16) -> dict:
    """Images / people / crowd-index classes per split, and the val people's box heights in
    P4 cells (``stride``) after the resize of the longer image side to ``input_size``."""
    out = {}
    tr = json.load(open(osp.join(data_root, TRAIN_JSON)))
    for name in splits:
        off = ID_OFFSET[name]
        ims = [i for i in tr['images'] if off <= i['id'] < off + 1_000_000]
        ppl = [a for a in tr['annotations'] if off <= a['image_id'] < off + 1_000_000
               and not a.get('iscrowd')]
        v = json.load(open(osp.join(data_root, val_json(name))))
        vppl = [a for a in v['annotations'] if not a.get('iscrowd')]
        ci = [i['crowdIndex'] for i in v['images']]
        size = {i['id']: max(i['width'], i['height']) for i in v['images']}
        cells = sorted(a['bbox'][3] * input_size / size[a['image_id']] / stride for a in vppl)

        def q(f):
            return round(cells[min(len(cells) - 1, int(f * len(cells)))], 1) if cells else None
        out[name] = dict(
            train_images=len(ims), train_people=len(ppl), val_images=len(v['images']),
            val_people=len(vppl),
            val_easy=sum(c < 0.2 for c in ci), val_medium=sum(0.2 <= c < 0.8 for c in ci),
            val_hard=sum(c >= 0.8 for c in ci),
            val_mean_crowd_index=round(sum(ci) / max(1, len(ci)), 3),
            val_cells_p10=q(0.1), val_cells_p50=q(0.5), val_cells_p90=q(0.9))
    return out


def coco_to_yolo(data_root: str) -> str:
    """COCO keypoints json -> Ultralytics pose dataset; returns its data yaml.

    ``yolo/images/{train,val}`` link to the COCO image folders and are listed in
    ``{train,val}.txt`` (train: the images with >= 1 annotation, as MMPose's bottom-up
    dataset; val: all). A label line is ``0 cx cy w h`` (normalised) + 17 x ``x y v``
    (normalised, COCO visibility kept; v=0 points written as ``0 0 0``). Crowd regions
    (iscrowd=1) have no YOLO equivalent and are left out, as Ultralytics' COCO converter does.
    """
    yroot = osp.join(data_root, 'yolo')
    yaml_path = osp.join(yroot, 'data.yaml')
    if osp.isfile(yaml_path):
        return yaml_path
    for split, ann in (('train', TRAIN_JSON), ('val', VAL_JSON)):
        d = json.load(open(osp.join(data_root, ann)))
        lab_dir = osp.join(yroot, 'labels', split)
        os.makedirs(osp.join(yroot, 'images'), exist_ok=True)
        os.makedirs(lab_dir, exist_ok=True)
        link = osp.join(yroot, 'images', split)
        if not osp.lexists(link):
            os.symlink(osp.join(osp.abspath(data_root), split), link)
        by_img: Dict[int, list] = {im['id']: [] for im in d['images']}
        for a in d['annotations']:
            if not a.get('iscrowd'):
                by_img[a['image_id']].append(a)
        annotated = {a['image_id'] for a in d['annotations']}
        listed = []
        for im in d['images']:
            if split == 'val' or im['id'] in annotated:
                listed.append(osp.join(link, im['file_name']))
            lines = [yolo_label_line(a, im['width'], im['height']) for a in by_img[im['id']]]
            lines = [ln for ln in lines if ln]
            with open(osp.join(lab_dir, osp.splitext(im['file_name'])[0] + '.txt'), 'w') as f:
                f.write('\n'.join(lines) + ('\n' if lines else ''))
        with open(osp.join(yroot, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(listed) + '\n')
    tmp = yaml_path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(f'path: {osp.abspath(yroot)}\ntrain: train.txt\nval: val.txt\n'
                f'kpt_shape: [17, 3]\nflip_idx: {FLIP_IDX}\nnames:\n  0: person\n')
    os.replace(tmp, yaml_path)
    return yaml_path


def yolo_label_line(ann: dict, width: float, height: float) -> str:
    """One Ultralytics pose label line of a COCO person annotation ('' for an empty box)."""
    x, y, w, h = ann['bbox']
    if w <= 0 or h <= 0:
        return ''
    W, H = float(width), float(height)
    vals = [f'{(x + w / 2) / W:.6f}', f'{(y + h / 2) / H:.6f}', f'{w / W:.6f}', f'{h / H:.6f}']
    k = ann['keypoints']
    for i in range(0, len(k), 3):
        v = int(k[i + 2])
        vals += [f'{k[i] / W:.6f}', f'{k[i + 1] / H:.6f}', str(v)] if v > 0 else \
            ['0.000000', '0.000000', '0']
    return '0 ' + ' '.join(vals)
