"""Weight converters from other frameworks' checkpoints into ER-Pose checkpoints."""
from .checkpoint_reader import ForeignCheckpoint, read_checkpoint
from .yolov8 import (Conversion, ConversionError, YOLOv8Source, convert_to_erpose,
                     load_yolov8_source, ultralytics_kpt_output_to_erpose)

__all__ = ['ForeignCheckpoint', 'read_checkpoint', 'Conversion', 'ConversionError',
           'YOLOv8Source', 'convert_to_erpose', 'load_yolov8_source',
           'ultralytics_kpt_output_to_erpose']
