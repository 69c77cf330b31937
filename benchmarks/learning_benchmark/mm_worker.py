"""Worker for the MMPose / MMEngine rows (ER-Pose-n, its ablations, YOLOX-Pose, RTMO): build
the row's config for the budget, train, then test every evaluated checkpoint with every
decoding of the row. Runs in the project venv, in its own process."""
import copy
import math
import os
import os.path as osp
import time

from benchmarks.common.worker import write_worker_result
from benchmarks.learning_benchmark.data import TRAIN_JSON, VAL_JSON

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _walk(obj, fn):
    """Apply ``fn(key, value) -> value`` to every (key, value) of nested dicts / lists."""
    if isinstance(obj, dict):
        for k in list(obj):
            obj[k] = fn(k, obj[k])
            _walk(obj[k], fn)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _walk(v, fn)


def _dicts(obj, fn):
    """Call ``fn(d)`` on every dict nested in ``obj``."""
    if isinstance(obj, dict):
        fn(obj)
        for v in obj.values():
            _dicts(v, fn)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _dicts(v, fn)


def config_path(config: str) -> str:
    """``mmpose::REL`` -> the file shipped in MMPose's package; else relative to the root."""
    if config.startswith('mmpose::'):
        import mmpose
        return osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', config[8:])
    return osp.join(ROOT, config)


def build_mm_cfg(spec: dict, iters_per_epoch: int):
    """The row's config for the budget; returns (Config, list of changes made to it).

    Every row: the benchmark data, input size, batch, epochs, seed, checkpoints at every epoch,
    and one LR schedule shape sized to the run (the config's own warm-up type for
    ``warmup_iters`` iterations, then its cosine down to its own ``eta_min`` at the last
    iteration). Peers in addition (the recipe changes ER-Pose's short-budget recipe made to
    its own 600-epoch COCO config): no Mosaic (their no-Mosaic stage-2 pipeline throughout),
    no multi-scale batch resize, lr times ``peer_lr_factor`` (see rows.py),
    EMA momentum/gamma of ER-Pose's recipe, random init (no download).
    """
    from mmengine.config import Config
    b, D, S = spec['budget'], spec['data_root'], spec['budget']['input']
    src = config_path(spec['config'])
    d = Config.fromfile(src).to_dict()
    E0, E = d['train_cfg']['max_epochs'], b['epochs']
    changes = []
    peer = spec.get('peer', False)

    def set_size(k, v):
        if k in ('input_size', 'img_scale') and isinstance(v, (list, tuple)) and len(v) == 2:
            return (S, S)
        return v
    _walk(d, set_size)

    if peer:
        d['model']['backbone']['init_cfg'] = None  # no downloads: random init
        pre = d['model'].get('data_preprocessor', {})
        if pre.get('batch_augments'):
            pre['batch_augments'] = None
            changes.append('BatchSyncRandomResize (multi-scale batches) removed: fixed '
                           f'{S}x{S} input as every row')

        def drop_extra(t):
            # yoloxpose_tiny_*.py (MMPose 1.3.2) passes `extra_mapping_labels` (an MMYOLO
            # argument) to PackPoseInputs, which 1.3.2 does not accept: the config does not
            # build. The codec already sets the same label mapping.
            if t.get('type') == 'PackPoseInputs' and 'extra_mapping_labels' in t:
                t.pop('extra_mapping_labels')
                msg = 'PackPoseInputs(extra_mapping_labels) dropped (does not build in 1.3.2)'
                if msg not in changes:
                    changes.append(msg)
        _dicts(d, drop_extra)
        lr0 = d['optim_wrapper']['optimizer']['lr']
        d['optim_wrapper']['optimizer']['lr'] = lr0 * b['peer_lr_factor']
        changes.append(f"lr {lr0} (its batch {d['train_dataloader']['batch_size']} x GPUs) -> "
                       f"{lr0 * b['peer_lr_factor']:g} (peer_lr_factor {b['peer_lr_factor']})")

    # ---- data
    def coco(split, pipeline, extra=None):
        ds = dict(type='CocoDataset', data_root=D, data_mode='bottomup',
                  ann_file=TRAIN_JSON if split == 'train' else VAL_JSON,
                  data_prefix=dict(img=f'{split}/'), pipeline=pipeline)
        ds.update(extra or {})
        return ds
    tds = d['train_dataloader']['dataset']
    keep = {k: tds[k] for k in ('filter_cfg', 'metainfo') if k in tds}
    pipeline = tds['pipeline']
    if peer:
        pipeline = d['train_pipeline_stage2']
        changes.append('train pipeline: its own stage-2 (no Mosaic) pipeline for all epochs')
    d['train_dataloader'].update(
        batch_size=b['batch'], num_workers=b['workers'], persistent_workers=False,
        pin_memory=False, sampler=dict(type='DefaultSampler', shuffle=True),
        dataset=coco('train', pipeline, keep))
    vds = d['test_dataloader']['dataset']
    d['test_dataloader'].update(
        batch_size=8, num_workers=0, persistent_workers=False, pin_memory=False,
        dataset=coco('val', vds['pipeline'], dict(test_mode=True)))
    d['test_evaluator'] = dict(d['val_evaluator'], ann_file=D + VAL_JSON)
    for k in ('val_dataloader', 'val_evaluator', 'val_cfg'):
        d[k] = None  # evaluation happens after training, per checkpoint
    d['train_cfg'] = dict(type='EpochBasedTrainLoop', max_epochs=E, val_interval=E + 1)

    # ---- one schedule shape for every row, sized to the run
    total, W = E * iters_per_epoch, min(b['warmup_iters'], E * iters_per_epoch // 2)
    old = d.get('param_scheduler') or []
    warm = dict(old[0]) if old else dict(type='LinearLR', start_factor=1e-2)
    cos = next((s for s in old if s['type'] == 'CosineAnnealingLR'), dict(eta_min=1e-4))
    eta = cos.get('eta_min', 0.0) * (b['peer_lr_factor'] if peer else 1.0)
    warm = {k: v for k, v in warm.items() if k not in ('begin', 'end', 'by_epoch',
                                                       'convert_to_iter_based', 'T_max')}
    d['param_scheduler'] = [
        dict(warm, by_epoch=False, begin=0, end=W),
        dict(type='CosineAnnealingLR', eta_min=eta, by_epoch=False, begin=W, end=total,
             T_max=total - W)]
    changes.append(f"schedule: {warm['type']} warm-up {W} iterations, cosine to eta_min "
                   f"{eta:g} at iteration {total}" +
                   (' (its later phases dropped: ' + ', '.join(
                       f"{s['type']}({s.get('factor', '')})".replace('()', '')
                       for s in old[2:]) + ')' if len(old) > 2 else ''))
    hooks = []
    for h in d.get('custom_hooks') or []:
        h = copy.deepcopy(h)
        if h['type'] in ('LastEpochsPipelineSwitchHook', 'YOLOXPoseModeSwitchHook'):
            n0 = h['num_last_epochs']
            h['num_last_epochs'] = min(max(1, int(n0 * E / E0 + 0.5)), max(E - 1, 1))
            if h.get('new_train_dataset'):
                h['new_train_dataset'] = coco('train', [], keep)
            if peer:
                changes.append(f"{h['type']}: last {n0} of {E0} epochs -> last "
                               f"{h['num_last_epochs']} of {E}")
        elif h['type'] == 'RTMOModeSwitchHook':
            h['epoch_attributes'] = {min(int(int(e) * E / E0 + 0.5), E - 1): v
                                     for e, v in h['epoch_attributes'].items()}
            changes.append(f"RTMOModeSwitchHook: epoch {list(h['epoch_attributes'])} of {E} "
                           f"(scaled from {E0})")
        elif h['type'] == 'EMAHook' and peer:
            old_ema = (h.get('momentum'), h.get('gamma', 2000))
            h.update(momentum=b['ema_momentum'], gamma=b['ema_gamma'])
            changes.append(f"{h.get('ema_type')} momentum/gamma {old_ema[0]}/{old_ema[1]} -> "
                           f"{b['ema_momentum']}/{b['ema_gamma']} (ER-Pose's)")
        hooks.append(h)
    d['custom_hooks'] = hooks + [dict(h) for h in spec.get('hooks') or []]
    d['default_hooks']['checkpoint'] = dict(type='CheckpointHook', interval=1,
                                            max_keep_ckpts=-1, save_best=None, save_last=True)
    d['default_hooks']['logger'] = dict(type='LoggerHook', interval=50)
    d['randomness'] = dict(seed=spec['seed'])
    d['auto_scale_lr'] = dict(enable=False, base_batch_size=d.get('auto_scale_lr', {}).get(
        'base_batch_size', 256))
    d['load_from'], d['resume'] = None, False
    cfg = Config(d, filename=src)
    if spec.get('opts'):
        cfg.merge_from_dict(spec['opts'])
    return cfg, changes


def _runner(cfg, work_dir: str, tag: str):
    from mmengine.runner import Runner
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    cfg.experiment_name = tag
    if cfg.get('visualizer'):
        cfg.visualizer.name = 'vis_' + tag
    return Runner.from_cfg(cfg)


def iters_per_epoch(cfg, batch: int) -> int:
    """Iterations per epoch of the row's training set (images with people, as MMPose's
    bottom-up COCO dataset keeps them)."""
    from mmpose.registry import DATASETS
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg['pipeline'] = []
    return math.ceil(len(DATASETS.build(ds_cfg)) / batch)


def run(spec: dict) -> None:
    """Train (``spec['seed']``) and test at ``budget['ckpt_epochs']`` with every decoding in
    ``spec['evals']`` (``{name: cfg options}``; ``''`` = the row's own)."""
    import torch
    torch.set_num_threads(spec['threads'])
    import erpose_mm  # noqa: F401  (registry)
    from erpose_mm.compat import apply_stack_adapters
    apply_stack_adapters()  # MMEngine checkpoints on torch >= 2.6 (testing each epoch_N.pth)
    from mmengine.hooks import Hook
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')

    out_dir, b = spec['out_dir'], spec['budget']
    probe, _ = build_mm_cfg(spec, 1)
    ipe = iters_per_epoch(probe, b['batch'])
    cfg, changes = build_mm_cfg(spec, ipe)
    result = dict(config=cfg.filename, config_changes=changes, iters_per_epoch=ipe)

    class Timer(Hook):
        priority = 'VERY_HIGH'

        def __init__(self):
            self.train_s, self.images, self.iters, self.epochs = 0.0, 0, 0, []

        def before_train_epoch(self, runner):
            self.t0 = time.perf_counter()

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.iters += 1
            self.images += len(data_batch['inputs']) if data_batch else 0

        def after_train_epoch(self, runner):
            dt = time.perf_counter() - self.t0
            self.epochs.append(round(dt, 1))
            self.train_s += dt

    runner = _runner(cfg, osp.join(out_dir, 'train'), 'train')
    timer = Timer()
    runner.register_hook(timer)
    model = runner.model
    result['params'] = sum(p.numel() for p in model.parameters())
    head = getattr(model, 'head', None)
    if getattr(head, 'one2many', None) is not None:
        kept = {id(p) for n, p in model.named_parameters(remove_duplicate=False)
                if not n.startswith('head.one2many.')}
        result['params_infer'] = result['params'] - sum(
            p.numel() for p in head.one2many.parameters() if id(p) not in kept)
    t = time.perf_counter()
    runner.train()
    result.update(train_s=round(timer.train_s, 1), train_wall_s=round(time.perf_counter() - t, 1),
                  iters=timer.iters, images_seen=timer.images, epoch_s=timer.epochs)
    del runner
    ckpts = {e: osp.join(out_dir, 'train', f'epoch_{e}.pth') for e in b['ckpt_epochs']}
    for e in range(1, b['epochs'] + 1):
        if e not in ckpts and osp.isfile(osp.join(out_dir, 'train', f'epoch_{e}.pth')):
            os.remove(osp.join(out_dir, 'train', f'epoch_{e}.pth'))
    preds, cocometric = {}, {}
    t = time.perf_counter()
    last_only = set(spec.get('last_only') or [])
    for variant, opts in spec['evals'].items():
        vcfg = copy.deepcopy(cfg)
        if opts:
            vcfg.merge_from_dict(opts)
        for e, ck in ckpts.items():
            if variant in last_only and e != b['epochs']:
                continue
            vcfg.load_from = ck
            prefix = osp.join(out_dir, f'preds_{variant or "own"}_e{e}')
            vcfg.test_evaluator.outfile_prefix = prefix
            r = _runner(vcfg, osp.join(out_dir, 'test'), f'test_{variant or "own"}_e{e}')
            m = r.test()
            del r
            preds.setdefault(variant, {})[str(e)] = prefix + '.keypoints.json'
            cocometric.setdefault(variant, {})[str(e)] = {k: float(v) for k, v in m.items()}
    result.update(test_s=round(time.perf_counter() - t, 1), preds=preds, cocometric=cocometric)
    # the evaluated checkpoints stay for the SAH diagnostics (sah_diagnostics.py)
    result['checkpoints'] = {str(e): ck for e, ck in ckpts.items()}
    result['checkpoint'] = ckpts[b['epochs']]
    write_worker_result(out_dir, result)
