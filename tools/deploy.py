"""Export ER-Pose with MMDeploy (MMDeploy's tools/deploy.py command line, ONNX path).

    python tools/deploy.py DEPLOY_CFG MODEL_CFG CHECKPOINT IMG --work-dir DIR --device cpu
        [--test-img IMG] [--log-level INFO] [--show] [--skip-visualize]

(``--out-dir DIR`` is ``--work-dir DIR``: the spelling of the other tools' output folder.)

Writes ``DIR/end2end.onnx`` (outputs ``dets`` [B,N,5], ``keypoints`` [B,N,K,3]; no NMS)
and, unless ``--skip-visualize``, ``DIR/output_onnxruntime.jpg`` and
``DIR/output_pytorch.jpg`` (the backend model and the PyTorch model on ``--test-img``).
For a TensorRT deploy config it then builds ``DIR/end2end.engine`` (needs a GPU,
TensorRT and MMDeploy's TensorRT ops).

Simplified from MMDeploy 1.3.1's tools/deploy.py (which the wheel does not ship): runs in
one process, ONNX IR only, no partition / calibration / SDK dump. The ER-Pose rewriters
(``erpose_mm/deploy/rewriters.py``: head -> SAH + decode + top-k, and
``torch.onnx.export(dynamo=False)``) are registered before the export.

Before the (slow) export it checks its inputs and stops with one line, ``error: PATH:
problem`` on stderr (exit status 2, as every tool's refusal), for: a missing file; a
deploy config that is not one (e.g. the model config given first: the order is DEPLOY_CFG
MODEL_CFG CHECKPOINT IMG) or is for another codebase or task; a model config that is not
an ER-Pose model config; a checkpoint that is not one or does not fit the model config
(another scale, keypoint count or model: ``--allow-partial-checkpoint`` exports it
anyway); an image that cannot be decoded; a static ``onnx_config.input_shape`` that is not
two positive multiples of 32 or differs from the size the model config tests at (its
``BottomupResize`` / codec ``input_size``: the graph, its metadata and the deploy config
always agree); a ``--work-dir`` that is a file; outputs of an earlier export in
``--work-dir`` (``end2end.onnx``, ...) unless ``--overwrite``.
"""
import argparse
import logging
import os
import os.path as osp
import sys

#: exit status of a refusal, as every tool's (``erpose_mm.engine.tool_run.REFUSAL_STATUS``)
REFUSAL_STATUS = 2


def refuse(line: str):
    """Print ``line`` (one line, ``error: PATH: problem``) on stderr and exit with status 2."""
    print(line, file=sys.stderr)
    sys.exit(REFUSAL_STATUS)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export ER-Pose to a backend with MMDeploy.')
    parser.add_argument('deploy_cfg', help='deploy config path (configs/deploy/*.py)')
    parser.add_argument('model_cfg', help='model config path')
    parser.add_argument('checkpoint', help='model checkpoint path')
    parser.add_argument('img', help='image used to convert the model')
    parser.add_argument('--test-img', default=None,
                        help='image used to test the model (default: IMG)')
    parser.add_argument('--work-dir', '--out-dir', dest='work_dir', default=os.getcwd(),
                        help='folder the export writes (end2end.onnx, the drawings); '
                        "--work-dir as MMDeploy's tools/deploy.py, --out-dir as the "
                        "other tools' output folders")
    parser.add_argument('--device', default='cpu', help='device used for conversion')
    parser.add_argument('--log-level', default='INFO',
                        choices=list(logging._nameToLevel.keys()), help='set log level')
    parser.add_argument('--show', action='store_true', help='show detection outputs')
    parser.add_argument('--skip-visualize', action='store_true',
                        help='do not run and draw the backend and PyTorch models on the '
                        'test image')
    parser.add_argument('--dump-info', action='store_true',
                        help='not supported for ER-Pose (no MMDeploy SDK pipeline)')
    parser.add_argument('--allow-partial-checkpoint', action='store_true',
                        help='export even when checkpoint tensors are missing or mis-shaped '
                        'for the model config (they keep their random initialisation)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the outputs of an earlier export in --work-dir '
                        '(end2end.onnx, ...)')
    return parser.parse_args(argv)


def _check_file(path, what):
    if not osp.isfile(path):
        refuse(f'error: {what} not found: {path}')


ORDER = 'the order is DEPLOY_CFG MODEL_CFG CHECKPOINT IMG'


def _read_config(path: str, what: str):
    from mmengine.config import Config
    if not path.endswith('.py'):
        refuse(f'error: {path}: expected a {what} (.py), got another file type; {ORDER}')
    try:
        return Config.fromfile(path)
    except Exception as e:  # syntax error, missing _base_, ...
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        refuse(f'error: {path}: cannot be read as a {what} ({first})')


def check_deploy_config(path: str) -> None:
    """Exit with one line unless ``path`` is an MMDeploy pose-detection (mmpose) config."""
    cfg = _read_config(path, 'deploy config')
    if 'codebase_config' not in cfg or 'backend_config' not in cfg:
        if 'model' in cfg:
            refuse(f'error: {path}: is a model config, not a deploy config; {ORDER}')
        refuse(f'error: {path}: not an MMDeploy deploy config (no codebase_config / '
               'backend_config)')
    codebase = cfg.codebase_config.get('type')
    task = cfg.codebase_config.get('task')
    if codebase != 'mmpose':
        refuse(f'error: {path}: a deploy config of codebase {codebase!r}, not mmpose; '
               'ER-Pose exports with configs/deploy/pose-detection_erpose_*.py')
    if task != 'PoseDetection':
        refuse(f'error: {path}: a deploy config of task {task!r}; ER-Pose (one-stage, '
               "box-free) exports as task 'PoseDetection' "
               '(configs/deploy/pose-detection_erpose_*.py)')
    return cfg


def check_input_shape(deploy_cfg, deploy_cfg_path: str, model_cfg, model_cfg_path: str):
    """Exit with one line when the deploy config's static ``onnx_config.input_shape`` is
    not (w, h) of positive multiples of 32, or differs from the size the model config
    tests at; returns the (w, h) the graph and its metadata get."""
    from erpose_mm.deploy.export import check_input_size, config_input_size
    try:
        model_size = config_input_size(model_cfg)
    except ValueError as e:
        refuse(f'error: {model_cfg_path}: {e}')
    shape = (deploy_cfg.get('onnx_config') or {}).get('input_shape')
    if shape is None:  # dynamic: traced at any size; the metadata gets the model's
        return model_size
    try:
        shape = check_input_size(shape, 'onnx_config.input_shape')
    except ValueError as e:
        refuse(f'error: {deploy_cfg_path}: {e}')
    if shape != model_size:
        refuse(f'error: {deploy_cfg_path}: static input shape {shape[0]}x{shape[1]} '
               f'differs from the {model_size[0]}x{model_size[1]} {model_cfg_path} tests '
               'at (BottomupResize / codec input_size); use a deploy config with '
               f'onnx_config.input_shape=[{model_size[0]}, {model_size[1]}] or a dynamic '
               'one (configs/deploy/pose-detection_erpose_onnxruntime_dynamic.py)')
    return shape


def check_work_dir(work_dir: str, deploy_cfg, skip_visualize: bool, overwrite: bool) -> None:
    """Exit with one line when ``work_dir`` is not a directory, or holds outputs this
    export would replace (unless ``overwrite``)."""
    if osp.exists(work_dir) and not osp.isdir(work_dir):
        refuse(f'error: --work-dir {work_dir}: exists and is not a directory')
    backend = (deploy_cfg.get('backend_config') or {}).get('type', 'onnxruntime')
    outputs = [(deploy_cfg.get('onnx_config') or {}).get('save_file', 'end2end.onnx')]
    if backend == 'tensorrt':
        inputs = deploy_cfg.backend_config.get('model_inputs') or [{}]
        outputs.append(inputs[0].get('save_file', 'end2end.engine'))
    if not skip_visualize:
        outputs += [f'output_{backend}.jpg', 'output_pytorch.jpg']
    existing = [osp.join(work_dir, f) for f in outputs if osp.exists(osp.join(work_dir, f))]
    if existing and not overwrite:
        more = f' (and {len(existing) - 1} more)' if len(existing) > 1 else ''
        refuse(f'error: {existing[0]} already exists{more}; pass --overwrite to replace '
               'the earlier export or choose another --work-dir')


def check_model_config(path: str):
    """Exit with one line unless ``path`` is an ER-Pose model config; returns it."""
    cfg = _read_config(path, 'model config')
    if 'model' not in cfg:
        if 'codebase_config' in cfg:
            refuse(f'error: {path}: is a deploy config, not a model config; {ORDER}')
        refuse(f'error: {path}: not a model config (no `model`)')
    head = (cfg.model.get('head') or {}).get('type')
    if head != 'ERPoseHead':
        refuse(f'error: {path}: a model config with head {head!r}; this tool exports '
               'ER-Pose models (head ERPoseHead)')
    return cfg


def check_checkpoint(model_cfg, model_cfg_path: str, checkpoint: str,
                     allow_partial: bool) -> None:
    """Exit with one line when ``checkpoint`` does not fit the model of ``model_cfg``."""
    import copy

    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    from erpose_mm.utils.checkpoint_fit import exit_if_checkpoint_unfit
    init_default_scope(model_cfg.get('default_scope', 'mmpose'))
    model_dict = copy.deepcopy(model_cfg.model)
    model_dict.pop('pretrained', None)
    model = MODELS.build(model_dict)
    exit_if_checkpoint_unfit(model, checkpoint, model_cfg_path, allow_partial=allow_partial)


def check_image(path: str, what: str) -> None:
    """Exit with one line when ``path`` cannot be decoded as an image (as MMPose would)."""
    from erpose_mm.runtime.image_io import InputError, read_image
    try:
        read_image(path)
    except InputError as e:
        refuse(f'error: {what} {e}')


def main(argv=None):
    args = parse_args(argv)
    for path, what in ((args.deploy_cfg, 'deploy config'), (args.model_cfg, 'model config'),
                       (args.checkpoint, 'checkpoint'), (args.img, 'image')):
        _check_file(path, what)
    if args.dump_info:
        refuse('error: --dump-info (MMDeploy SDK) is not supported for ER-Pose')

    import erpose_mm  # noqa: F401  (registers models)
    from erpose_mm.compat import apply_stack_adapters
    apply_stack_adapters()  # checkpoint loading (torch >= 2.6), MMDeploy's visualize_model
    deploy_config = check_deploy_config(args.deploy_cfg)
    model_config = check_model_config(args.model_cfg)
    input_size = check_input_shape(deploy_config, args.deploy_cfg, model_config,
                                   args.model_cfg)
    check_work_dir(args.work_dir, deploy_config, args.skip_visualize, args.overwrite)
    check_image(args.img, 'image')
    if args.test_img and not args.skip_visualize:
        _check_file(args.test_img, 'test image')
        check_image(args.test_img, 'test image')
    check_checkpoint(model_config, args.model_cfg, args.checkpoint,
                     args.allow_partial_checkpoint)
    from erpose_mm.deploy import register_mmdeploy_rewriters
    from erpose_mm.deploy.export import add_runner_metadata, load_config, runner_metadata
    from erpose_mm.structures import decode_settings, dedupe_setting
    if not register_mmdeploy_rewriters():
        refuse('error: mmdeploy is not installed (pip install mmdeploy==1.3.1 --no-deps)')

    from mmdeploy.apis import torch2onnx, visualize_model
    from mmdeploy.utils import (Backend, get_backend, get_ir_config, get_model_inputs,
                                get_root_logger, load_config as load_deploy_config)
    logger = get_root_logger()
    logger.setLevel(args.log_level)

    deploy_cfg, model_cfg = load_deploy_config(args.deploy_cfg, args.model_cfg)
    backend = get_backend(deploy_cfg)
    if backend == Backend.TENSORRT:
        # MMDeploy builds the PyTorch model on the conversion device and refuses 'cpu'
        # for TensorRT; fail before the (slow) export rather than after it
        if not str(args.device).startswith('cuda'):
            refuse(f'error: the TensorRT backend ({args.deploy_cfg}) needs a GPU: '
                   f'--device cuda:0 (got --device {args.device})')
        from mmdeploy.apis.tensorrt import is_available as trt_is_available
        if not trt_is_available():
            refuse('error: TensorRT is not available; install TensorRT and build '
                   "MMDeploy's TensorRT custom ops first")
    elif backend != Backend.ONNXRUNTIME:
        refuse(f'error: backend {backend.value!r} is not supported by this tool '
               '(onnxruntime, tensorrt)')
    try:
        os.makedirs(osp.abspath(args.work_dir), exist_ok=True)
    except OSError as e:
        refuse(f'error: --work-dir {args.work_dir}: cannot be created ({e.strerror or e})')

    # ---- PyTorch -> ONNX
    ir_config = get_ir_config(deploy_cfg)
    if ir_config.get('type', 'onnx') != 'onnx':
        refuse(f"error: only the ONNX IR is supported, got {ir_config.get('type')!r}")
    ir_file = osp.join(args.work_dir, ir_config['save_file'])
    logger.info('torch2onnx start.')
    torch2onnx(args.img, args.work_dir, ir_config['save_file'], deploy_cfg, model_cfg,
               args.checkpoint, device=args.device)
    logger.info(f'torch2onnx success: {ir_file}')

    # runner metadata (preprocessing, skeleton) so that onnx_runner needs only the .onnx
    post = deploy_cfg.codebase_config.get('post_processing', None)
    head_test_cfg = model_cfg.model.get('test_cfg', {}) or {}
    # input_size: the deploy config's static shape, which check_input_shape made sure is
    # the model config's, or (dynamic) the model config's
    dynamic = bool(ir_config.get('dynamic_axes'))
    add_runner_metadata(ir_file, runner_metadata(
        load_config(args.model_cfg), input_size, *decode_settings(head_test_cfg, post), dynamic,
        dedupe_thr=dedupe_setting(head_test_cfg, post)))

    # ---- ONNX -> backend
    backend_files = [ir_file]
    if backend == Backend.ONNXRUNTIME and \
            deploy_cfg.backend_config.get('precision', 'fp32') == 'fp16':
        # MMDeploy's ORT backend converts in place (to_backend); ER-Pose keeps its decode fp32
        from erpose_mm.deploy.fp16 import convert_onnx_to_fp16
        convert_onnx_to_fp16(ir_file, ir_file,
                             **deploy_cfg.backend_config.get('common_config', {}))
        logger.info(f'fp16 conversion success: {ir_file}')
    if backend == Backend.TENSORRT:
        from mmdeploy.apis.tensorrt import onnx2tensorrt
        model_params = get_model_inputs(deploy_cfg)
        save_file = model_params[0].get('save_file', 'end2end.engine')
        onnx2tensorrt(args.work_dir, save_file, 0, deploy_cfg, ir_file, device=args.device)
        backend_files = [osp.join(args.work_dir, save_file)]
        logger.info(f'onnx2tensorrt success: {backend_files[0]}')

    # ---- visualise backend and PyTorch results
    if not args.skip_visualize:
        test_img = args.test_img or args.img
        _check_file(test_img, 'test image')
        for name, files, be in ((backend.value, backend_files, backend),
                                ('pytorch', [args.checkpoint], Backend.PYTORCH)):
            out = osp.join(args.work_dir, f'output_{name}.jpg')
            visualize_model(model_cfg, deploy_cfg, files, test_img, args.device,
                            backend=be, output_file=out, show_result=args.show)
            logger.info(f'visualize {name} model: {out}')
    logger.info('All process success.')


if __name__ == '__main__':
    main()
