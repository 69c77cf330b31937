"""MMPose's CocoDataset / CrowdPoseDataset with the training-data check applied.

``tools/train.py`` swaps the training dataset's ``type`` (``CocoDataset`` ->
``CheckedCocoDataset``, ``CrowdPoseDataset`` -> ``CheckedCrowdPoseDataset``, also inside
dataset wrappers) with :func:`use_checked_datasets`, so no config changes. The classes
differ from MMPose's only in what :mod:`erpose_mm.datasets.checks` finds:

* ``load_data_list`` runs the (cached) check, logs its report, refuses duplicate image
  ids, an image file listed under two ids, an empty dataset or too many bad images or
  annotations (``max_bad_image_fraction``), drops bad images and the annotations of
  another category or with unusable keypoints (another count than the metainfo's
  ``num_keypoints``, a value that is not a number), and fixes image sizes, NaN/Inf
  keypoints and degenerate boxes in memory before MMPose parses each annotation (the json
  on disk is not touched);
* in training, an image that cannot be loaded although it passed the check (changed
  since) is skipped with a warning naming it: MMEngine's ``BaseDataset.__getitem__``
  then draws another index (as for any ``None`` sample, up to ``max_refetch`` times)
  instead of aborting the epoch. Evaluation (``test_mode``) still raises: skipping would
  change the score.
"""
import re
from typing import Dict, List, Optional, Tuple

from mmengine.logging import print_log
from mmpose.datasets import CocoDataset, CrowdPoseDataset
from mmpose.registry import DATASETS

from .checks import (DEFAULT_MAX_BAD_FRACTION, DatasetCheckReport,
                     check_coco_keypoint_dataset, sanitize_keypoints)

#: MMPose's LoadImage re-raises every load failure as "`<error>` occurs when loading `<path>`"
_LOAD_FAILURE = re.compile(r'occurs when loading `(.*?)`')
CHECKED_TYPES = {'CocoDataset': 'CheckedCocoDataset',
                 'CrowdPoseDataset': 'CheckedCrowdPoseDataset'}


class CheckedDatasetMixin:
    """Adds the data check to a :class:`BaseCocoStyleDataset` subclass.

    Args:
        max_bad_image_fraction: refuse when more than this fraction of the checked
            images is missing or unreadable (default 0.05).
        check_cache_dir: where check reports are cached (default
            :func:`~erpose_mm.datasets.checks.default_cache_dir`).
    """

    def __init__(self, *args, max_bad_image_fraction: float = DEFAULT_MAX_BAD_FRACTION,
                 check_cache_dir: Optional[str] = None, **kwargs) -> None:
        self.max_bad_image_fraction = max_bad_image_fraction
        self.check_cache_dir = check_cache_dir
        self.data_check_report: Optional[DatasetCheckReport] = None
        self._fixes = (set(), {}, set(), {})
        self._skipped_anns = set()
        self._warned_unreadable = set()
        super().__init__(*args, **kwargs)

    def _load_annotations(self) -> Tuple[List[dict], List[dict]]:
        report = check_coco_keypoint_dataset(self.ann_file, self.data_prefix['img'],
                                             test_mode=self.test_mode,
                                             cache_dir=self.check_cache_dir,
                                             num_keypoints=self.metainfo.get('num_keypoints'))
        lines = report.lines()
        for line in lines:
            print_log(line, logger='current', level=30 if len(lines) > 1 else 20)
        report.enforce(self.max_bad_image_fraction)
        self.data_check_report = report
        self._fixes = report.fixes()
        self._skipped_anns = report.skipped_annotations
        bad_ids = self._fixes[0]
        instance_list, image_list = super()._load_annotations()
        return ([i for i in instance_list if i['img_id'] not in bad_ids],
                [i for i in image_list if i['img_id'] not in bad_ids])

    def parse_data_info(self, raw_data_info: dict) -> Optional[dict]:
        ann, img = raw_data_info['raw_ann_info'], raw_data_info['raw_img_info']
        _, sizes, nan_anns, boxes = self._fixes
        if img.get('id') in sizes:
            img['width'], img['height'] = sizes[img['id']]
        key = (ann.get('id'), ann.get('image_id'))
        if key in self._skipped_anns:
            return None  # another category or unusable keypoints (in the report)
        if key in nan_anns and 'keypoints' in ann:
            ann['keypoints'], _ = sanitize_keypoints(ann['keypoints'])
            ann['num_keypoints'] = sum(v > 0 for v in ann['keypoints'][2::3])
        if boxes.get(key) is not None:
            ann['bbox'] = list(boxes[key])
        return super().parse_data_info(raw_data_info)

    def prepare_data(self, idx: int):
        if self.test_mode:
            return super().prepare_data(idx)
        try:
            return super().prepare_data(idx)
        except Exception as e:
            match = _LOAD_FAILURE.search(str(e))
            if match is None:
                raise
            path = match.group(1)
            if path not in self._warned_unreadable:
                self._warned_unreadable.add(path)
                print_log(f'warning: skipped unreadable image {path} (changed since the '
                          f'dataset check?): {str(e).splitlines()[0][:200]}',
                          logger='current', level=30)
            return None  # BaseDataset.__getitem__ draws another sample


@DATASETS.register_module()
class CheckedCocoDataset(CheckedDatasetMixin, CocoDataset):
    """MMPose's ``CocoDataset`` with the training-data check (see module docstring)."""


@DATASETS.register_module()
class CheckedCrowdPoseDataset(CheckedDatasetMixin, CrowdPoseDataset):
    """MMPose's ``CrowdPoseDataset`` with the training-data check (see module docstring)."""


def use_checked_datasets(dataset_cfg: Dict, **kwargs) -> List[str]:
    """Swap ``CocoDataset`` / ``CrowdPoseDataset`` types for their checked versions in a
    dataset config, in place, also inside wrappers (``dataset=`` / ``datasets=[...]``);
    ``kwargs`` (e.g. ``max_bad_image_fraction``) are set on each swapped dataset.
    Returns the types it did NOT cover (other dataset types), for a warning."""
    uncovered = []
    if not isinstance(dataset_cfg, dict):
        return uncovered
    t = dataset_cfg.get('type')
    name = t if isinstance(t, str) else getattr(t, '__name__', str(t))
    name = name.split('.')[-1]
    if name in CHECKED_TYPES:
        dataset_cfg['type'] = CHECKED_TYPES[name]
        dataset_cfg.update(kwargs)
    elif name in CHECKED_TYPES.values():
        dataset_cfg.update(kwargs)
    elif 'dataset' in dataset_cfg or 'datasets' in dataset_cfg:
        inner = dataset_cfg.get('datasets') or [dataset_cfg.get('dataset')]
        for d in inner:
            uncovered += use_checked_datasets(d, **kwargs)
    else:
        uncovered.append(name)
    return uncovered
