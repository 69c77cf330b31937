# ER-Pose-m, COCO, 640x640, started from COCO-trained YOLOv8m weights (paper Table XI,
# "Pretrained"). The paper gives one training recipe for both settings (Sec. IV-A: AdamW,
# lr 0.01 -> 1e-4 cosine, weight decay 0.05, 600 epochs, Mosaic + affine + colour, 640 px);
# this config is erpose-m_coco-640.py with only the initialisation changed: backbone and
# neck from YOLOv8m (from a -pose source also the keypoint branch), the head's other layers
# at ER-Pose's initialisation. Make the start checkpoint once (docs/pretrained.md):
#   python tools/model_converters/yolov8_to_erpose.py yolov8m.pt \
#       configs/erpose/erpose-m_coco-640_pretrained.py \
#       checkpoints/yolov8m_erpose-m_coco-640.pth
_base_ = ['./erpose-m_coco-640.py']
load_from = 'checkpoints/yolov8m_erpose-m_coco-640.pth'
