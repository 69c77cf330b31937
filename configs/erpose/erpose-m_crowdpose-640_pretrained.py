# ER-Pose-m, CrowdPose (14 keypoints), 640x640, started from COCO-trained YOLOv8m weights
# (paper Table XI, "Pretrained"). Same recipe as erpose-m_crowdpose-640.py (the paper gives
# one for both settings); only the initialisation differs: backbone and neck from YOLOv8m.
# Convert for THIS config (its head predicts 14 keypoints; docs/pretrained.md):
#   python tools/model_converters/yolov8_to_erpose.py yolov8m.pt \
#       configs/erpose/erpose-m_crowdpose-640_pretrained.py \
#       checkpoints/yolov8m_erpose-m_crowdpose-640.pth
_base_ = ['./erpose-m_crowdpose-640.py']
load_from = 'checkpoints/yolov8m_erpose-m_crowdpose-640.pth'
