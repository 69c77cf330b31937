"""Synthetic multi-person COCO person-keypoints dataset generator.

:func:`generate_synthetic_coco` writes a small COCO-style person-keypoints dataset
that ``pycocotools.coco.COCO`` and MMPose's ``CocoDataset`` read unchanged::

    OUT/train/000001.jpg ...
    OUT/val/000001.jpg ...
    OUT/annotations/person_keypoints_train.json
    OUT/annotations/person_keypoints_val.json

Figure model
------------
Every person is an articulated 2D figure built from a sampled body (proportions in
units of the standing height, slightly randomised, including child-like bodies with
a larger head) and a sampled pose (standing, walking, sitting, arms raised, leaning,
lying, free "dancing" poses). Limbs are tapered capsules with a dark outline, the
torso/pelvis are filled polygons, hands/shoes are extra capsules beyond the
wrists/ankles, and the head is an ellipse with hair, ears, eyes, nose and mouth drawn
at the facial keypoints. Each joint is drawn as the rounded, outlined end of the
child segment, so every keypoint sits at a visible junction.

Left/right follow a geometric rule that is consistent under horizontal flipping:
figures face the camera, so the person's left side appears on the image's right side
(for an upright figure). Heads may turn (yaw) towards a profile view, the body may
turn by up to ~75 degrees; far-side eyes/ears that turn behind the head are labelled
``v=1`` and not drawn. The mirror image of every generated figure is again a valid
figure of the same model with left/right labels swapped, which is exactly what
MMPose's flip augmentation produces. Colours never encode the side.

Labels
------
* ``keypoints``: ``[x, y, v] * 17`` in COCO order, pixel-centre coordinates
  (pixel ``(i, j)`` has centre ``(j, i)``). A keypoint outside the image
  (``x`` or ``y`` outside ``[0, W-1]`` / ``[0, H-1]``) is ``(0, 0, 0)``. ``v=2`` when
  the person's own pixel is on top at the keypoint, ``v=1`` when it is covered by
  a later-drawn person or occluding object, or is a face point turned away from the
  camera.
* ``num_keypoints``: number of keypoints with ``v > 0``.
* ``bbox``: ``[x, y, w, h]`` enclosing the figure's drawn pixels (clipped to the
  image) and all labelled keypoints; always inside ``[0, W] x [0, H]``.
* ``area``: the **drawn pixel area of the figure** (its full silhouette clipped to
  the image, ignoring occlusion by figures drawn later). For crowd regions it is the
  pixel area of the crowd mask.
* ``segmentation``: polygons of the figure silhouette's external contours (same
  silhouette as ``area``); crowd regions (``iscrowd=1``) carry an uncompressed RLE
  (``{"counts": [...], "size": [h, w]}``, as in the official COCO files) of the
  dilated union of the many tiny figures, ``num_keypoints=0`` and all-zero keypoints.
* A person whose visible (un-occluded) pixels are fewer than 10% of its silhouette,
  or that has no visible (``v=2``) keypoint, is drawn but not annotated.
* A fraction of images (``empty_frac``, default 5%) have no people at all and
  appear in ``images`` without annotations.

Generation is deterministic: every image uses its own RNG seeded by
``(seed, split, index)``, so the same seed gives byte-identical JSON files (and
identical JPEGs for the same OpenCV build), independent of ``workers``.

Modules
-------
:mod:`.pose` (body proportions, joint angles), :mod:`.figure` (keypoints and drawing
primitives of one figure), :mod:`.render` (colours, textures, backgrounds, distractors),
:mod:`.scene` (difficulty presets, placement, crowds, per-person labels),
:mod:`.coco_format` (keypoint names, skeleton, RLE / polygons, the JSON files),
:mod:`.driver` (:func:`generate_synthetic_coco`, worker processes) and :mod:`.demo`
(one multi-person image for the docs and tests).

The package imports only numpy, OpenCV (and tqdm for the progress bar), so tools can
load it without torch or the OpenMMLab stack.
"""
from .coco_format import COCO_PERSON_CATEGORY, KEYPOINT_NAMES, SKELETON
from .demo import write_demo_image
from .driver import generate_synthetic_coco
from .pose import POSES
from .scene import DIFFICULTY_PRESETS

__all__ = [
    'generate_synthetic_coco', 'write_demo_image', 'KEYPOINT_NAMES', 'SKELETON',
    'DIFFICULTY_PRESETS', 'POSES', 'COCO_PERSON_CATEGORY'
]
