"""Refusals of the dataset converters (tools/dataset_converters/): a missing or malformed
input, an unknown option value or an output that exists ends the run with one line on
stderr, ``error: FILE: problem``, and exit status 2, as every tool's refusal."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from tools.dataset_converters import coco_to_yolo_pose, yolo_pose_to_coco

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def refusal(capsys, main, argv):
    """main(argv) must refuse: returns its one stderr line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def write_json(path, obj) -> str:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


@pytest.mark.parametrize('content,problem', [
    (None, 'no such annotation file'),
    ('{"images": [', 'not a readable json file (JSONDecodeError: '),
    ({'images': []}, 'not a COCO annotation file (needs images, annotations and categories'),
    ({'images': [], 'annotations': [], 'categories': [{'id': 1, 'name': 'person'}]},
     'its first category has no keypoints'),
])
def test_coco_to_yolo_pose_refuses_an_unusable_json(tmp_path, capsys, content, problem):
    ann = str(tmp_path / 'ann.json') if content is None else write_json(tmp_path / 'ann.json',
                                                                       content)
    line = refusal(capsys, coco_to_yolo_pose.main, [ann, str(tmp_path), str(tmp_path / 'out')])
    assert line.startswith(f'error: {ann}: {problem}'), line
    assert not (tmp_path / 'out').exists()


def test_coco_to_yolo_pose_refuses_an_unknown_keypoint(tmp_path, capsys):
    ann = write_json(tmp_path / 'ann.json', dict(images=[], annotations=[], categories=[
        dict(id=1, name='person', keypoints=['nose', 'left_eye'])]))
    line = refusal(capsys, coco_to_yolo_pose.main,
                   [ann, str(tmp_path), str(tmp_path / 'out'), '--keep', 'nose,tail'])
    assert line == f'error: {ann}: no keypoint named tail (it has nose, left_eye)'


def test_yolo_pose_to_coco_refuses_a_missing_folder_or_an_existing_out(tmp_path, capsys):
    out = tmp_path / 'out.json'
    missing = str(tmp_path / 'images')
    line = refusal(capsys, yolo_pose_to_coco.main,
                   ['--images', missing, '--metainfo', 'meta.py', '--out', str(out)])
    assert line == f'error: {missing}: no such image folder'
    out.write_text('{}')
    line = refusal(capsys, yolo_pose_to_coco.main,
                   ['--images', missing, '--metainfo', 'meta.py', '--out', str(out)])
    assert line == f'error: {out} exists; not overwriting it'
    assert out.read_text() == '{}'


@pytest.mark.slow
def test_converter_scripts_exit_with_status_2(tmp_path):
    """The scripts as run from a shell: the process exit status is the refusal's."""
    ann = str(tmp_path / 'missing.json')
    res = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'dataset_converters',
                                                   'coco_to_yolo_pose.py'),
                          ann, str(tmp_path), str(tmp_path / 'out')],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip() == f'error: {ann}: no such annotation file'
