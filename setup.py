import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def requirements(name):
    """Requirement lines of requirements/<name> (comments and blank lines dropped)."""
    with open(osp.join(HERE, 'requirements', name)) as f:
        return [ln.split('#')[0].strip() for ln in f if ln.split('#')[0].strip()]


setup(
    name='erpose-mm',
    version='0.1.0',
    description='ER-Pose: keypoint-driven NMS-free single-stage pose estimation for MMPose',
    packages=find_packages(include=['erpose_mm', 'erpose_mm.*']),
    python_requires='>=3.9',
    # The OpenMMLab packages are installed by tools/install.sh (see README): mmcv needs a
    # CPU/CUDA-matched build and mmpose/mmdet must be installed with --no-deps.
    install_requires=['numpy', 'scipy', 'opencv-python', 'pycocotools', 'tqdm'],
    # ONNX Runtime flavour (one of them: both install the `onnxruntime` module), as
    # tools/install.sh picks it: pip install -e .[ort-cpu] / .[ort-gpu-cu13] / .[ort-gpu-cu12]
    extras_require={
        'ort-cpu': requirements('ort-cpu.txt'),
        'ort-gpu-cu13': requirements('ort-gpu-cu13.txt'),
        'ort-gpu-cu12': requirements('ort-gpu-cu12.txt'),
        # OpenVINO IR export and runner backend (erpose_mm/deploy/openvino_export.py,
        # ERPoseONNX(..., backend='openvino')): pip install -e .[openvino]
        'openvino': ['openvino>=2024.0'],
    },
)
