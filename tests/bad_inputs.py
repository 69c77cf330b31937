"""Bad and unusual input files shared by the runner and inferencer tests, and broken
training sets for the dataset-check tests."""
import os
import os.path as osp
import struct
import zlib

import cv2
import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def write_png_bomb(path: str) -> None:
    """A valid PNG header declaring 100000 x 100000 pixels (beyond OpenCV's limit)."""
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    ihdr = struct.pack('>IIBBBBB', 100000, 100000, 8, 2, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) +
                chunk(b'IDAT', zlib.compress(b'\0' * 100)) + chunk(b'IEND', b''))


#: (file in make_bad_inputs' folder, what the one-line error must say) for every inference tool
BAD_INPUT_CASES = [
    ('missing.jpg', 'not found'),
    ('missing.mp4', 'video not found'),
    ('truncated.jpg', 'cannot decode'),
    ('corrupt.jpg', 'cannot decode'),
    ('text_named.jpg', 'cannot decode'),
    ('notes.txt', 'cannot decode'),
    ('zero.png', 'empty file'),
    ('bomb.png', 'cannot decode'),
    ('garbage.mp4', 'cannot open video'),
    ('empty_dir', 'no image files'),
]


def run_onnx_tool_without_torch(argv, timeout: int = 300) -> None:
    """Run tools/onnx_infer.py with ``argv`` in a fresh interpreter (as ``python -m
    tools.onnx_infer`` from the repository root) and assert it succeeds without importing
    torch, MMPose, MMEngine or mmcv."""
    import subprocess
    import sys
    code = ('import runpy, sys\n'
            f"sys.argv = ['onnx_infer.py'] + {list(argv)!r}\n"
            'try:\n'
            "    runpy.run_module('tools.onnx_infer', run_name='__main__', alter_sys=True)\n"
            'except SystemExit as e:\n'
            '    assert not e.code, e.code\n'
            "bad = [m for m in ('torch', 'mmpose', 'mmengine', 'mmcv') "
            'if m in sys.modules]\n'
            "assert not bad, bad\nprint('ok')\n")
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                       timeout=timeout, cwd=REPO)
    assert p.returncode == 0 and 'ok' in p.stdout, p.stderr[-3000:]


def make_bad_inputs(d, demo_img: str):
    """Fill the pathlib folder ``d`` with broken, odd-format and extreme inputs derived from
    the image ``demo_img`` (the ``demo_images`` fixture's photo)."""
    d.mkdir(exist_ok=True)
    src = open(demo_img, 'rb').read()
    (d / 'truncated.jpg').write_bytes(src[:300])
    (d / 'corrupt.jpg').write_bytes(bytes(range(256)) * 8)
    (d / 'notes.txt').write_text('not an image')
    (d / 'text_named.jpg').write_text('not an image either')
    (d / 'zero.png').write_bytes(b'')
    (d / 'garbage.mp4').write_bytes(bytes(range(256)) * 20)
    write_png_bomb(str(d / 'bomb.png'))
    (d / 'empty_dir').mkdir()
    img = cv2.imread(demo_img)
    cv2.imwrite(str(d / 'bgr.png'), img)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(d / 'gray.png'), gray)
    cv2.imwrite(str(d / 'gray_as_bgr.png'), cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    cv2.imwrite(str(d / 'rgba.png'), np.dstack([img, np.full(img.shape[:2], 77, np.uint8)]))
    cv2.imwrite(str(d / 'img16.png'), img.astype(np.uint16) * 257)
    cv2.imwrite(str(d / 'one.png'), np.full((1, 1, 3), 200, np.uint8))
    big = cv2.resize(img, (4000, 6000), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(d / 'big.jpg'), big, [cv2.IMWRITE_JPEG_QUALITY, 50])
    mixed = d / 'mixed'
    mixed.mkdir()
    cv2.imwrite(str(mixed / 'a.jpg'), img)
    (mixed / 'b.jpg').write_bytes(src[:300])
    (mixed / 'README').write_text("no extension: MMPose's own folder listing crashes on it")
    (mixed / 'readme.md').write_text('ignored')
    return d


# ----------------------------------------------------------------------- broken datasets
DATASET_FAULTS = ('missing', 'empty', 'corrupt', 'truncated', 'size', 'nan', 'box')


def break_coco_dataset(root: str, faults=DATASET_FAULTS, split: str = 'train') -> dict:
    """Break a synthetic COCO set (``generate_synthetic_coco`` layout) in place, one fault
    per annotated image, in the order given. Returns ``{fault: info}`` with ``image_id``,
    ``file`` (path on disk) and, for annotation faults, ``ann_id`` and what was changed.

    missing / empty / corrupt / truncated: the image file is deleted, emptied, replaced by
    bytes that are no image, or cut to half (a JPEG without its end); size: the json says
    the image is 60 % as wide as it is; nan: one labelled keypoint's x becomes NaN; box: a
    labelled person's box becomes [x, y, 0, 0].
    """
    import json
    ann_path = osp.join(root, 'annotations', f'person_keypoints_{split}.json')
    with open(ann_path) as f:
        data = json.load(f)
    labelled = {}
    for a in data['annotations']:
        if not a.get('iscrowd') and sum(v > 0 for v in a['keypoints'][2::3]) >= 3:
            labelled.setdefault(a['image_id'], a)
    images = [img for img in data['images'] if img['id'] in labelled]
    if len(images) < len(faults):
        raise ValueError(f'{ann_path}: {len(images)} annotated images for {len(faults)} faults')
    out = {}
    for fault, img in zip(faults, images):
        path = osp.join(root, split, img['file_name'])
        ann = labelled[img['id']]
        info = dict(image_id=img['id'], file=path)
        if fault == 'missing':
            os.remove(path)
        elif fault == 'empty':
            open(path, 'wb').close()
        elif fault == 'corrupt':
            with open(path, 'wb') as f:
                f.write(bytes(range(256)) * 8)
        elif fault == 'truncated':
            raw = open(path, 'rb').read()
            with open(path, 'wb') as f:
                f.write(raw[:len(raw) // 2])
        elif fault == 'size':
            info['real'] = (img['width'], img['height'])
            img['width'] = int(img['width'] * 0.6)
            info['json'] = (img['width'], img['height'])
        elif fault == 'nan':
            k = next(i for i in range(len(ann['keypoints']) // 3)
                     if ann['keypoints'][3 * i + 2] > 0)
            ann['keypoints'][3 * k] = float('nan')
            info.update(ann_id=ann['id'], keypoint=k)
        elif fault == 'box':
            info.update(ann_id=ann['id'], old=list(ann['bbox']))
            ann['bbox'] = [ann['bbox'][0], ann['bbox'][1], 0, 0]
        else:
            raise ValueError(f'unknown fault {fault!r}')
        out[fault] = info
    with open(ann_path, 'w') as f:
        json.dump(data, f)  # NaN is written as NaN (Python's json, as COCO tools read it)
    return out
