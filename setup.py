from setuptools import find_packages, setup

setup(
    name='erpose-mm',
    version='0.1.0',
    description='ER-Pose: keypoint-driven NMS-free single-stage pose estimation for MMPose',
    packages=find_packages(include=['erpose_mm', 'erpose_mm.*']),
    python_requires='>=3.9',
    # The OpenMMLab packages are installed by tools/install.sh (see README): mmcv needs a
    # CPU/CUDA-matched build and mmpose/mmdet must be installed with --no-deps.
    install_requires=['numpy', 'scipy', 'opencv-python', 'pycocotools', 'tqdm'],
)
