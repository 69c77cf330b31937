"""Worker for the Ultralytics rows (runs in the peers venv; standard library + ultralytics):
train a pose model from its yaml with a recipe sized to the budget, then predict the val
images with each decoding at every evaluated checkpoint."""
import json
import math
import os.path as osp
import shutil
import time

from benchmarks.common.worker import write_worker_result


def train_args(spec: dict, iters_per_epoch: int) -> dict:
    """``model.train`` arguments: the budget, plus the changes that size Ultralytics' recipe
    to it the way ER-Pose's short recipe is sized (no Mosaic; AdamW at ER-Pose's lr 0.002 --
    what Ultralytics' ``optimizer='auto'`` picks for runs under 10k iterations anyway --;
    warm-up of ``warmup_iters`` iterations (Ultralytics' floor: 100); cosine to 0.05 x lr as
    ER-Pose's eta_min; one optimizer step per batch: ``nbs=batch``)."""
    b = spec['budget']
    return dict(data=spec['data_yaml'], epochs=b['epochs'], imgsz=b['input'], batch=b['batch'],
                nbs=b['batch'], workers=b['workers'], device='cpu', seed=spec['seed'],
                deterministic=True, val=False, plots=False, amp=False, pretrained=False,
                project=spec['out_dir'], name='train', exist_ok=True, verbose=False,
                mosaic=0.0, close_mosaic=0, optimizer='AdamW', lr0=0.002, lrf=0.05,
                cos_lr=True, warmup_epochs=round(b['warmup_iters'] / iters_per_epoch, 4))


def run(spec: dict) -> None:
    import torch
    torch.set_num_threads(spec['threads'])
    from ultralytics import YOLO
    b, out_dir = spec['budget'], spec['out_dir']
    with open(spec['train_list']) as f:
        n_train = sum(1 for ln in f if ln.strip())
    ipe = math.ceil(n_train / b['batch'])
    args = train_args(spec, ipe)
    result = dict(train_args={k: v for k, v in args.items() if k not in ('data', 'project')},
                  iters_per_epoch=ipe)
    torch.manual_seed(spec['seed'])
    model = YOLO(spec['model'])
    state = dict(train_s=0.0, epochs=[], iters=0, images=0)
    wdir = osp.join(out_dir, 'train', 'weights')
    ckpts = {e: osp.join(wdir, f'ckpt_e{e}.pt') for e in b['ckpt_epochs']}
    ema_m, ema_g = b['ema_momentum'], b['ema_gamma']

    def pretrain_end(tr):
        # EMA as ER-Pose's recipe (MMEngine ExpMomentumEMA momentum m, gamma g is
        # decay(t) = (1 - m) * (1 - exp(-t / g)), the same form as Ultralytics' ModelEMA)
        tr.ema.decay = lambda x: (1 - ema_m) * (1 - math.exp(-x / ema_g))
        state['params'] = sum(p.numel() for p in tr.model.parameters())

    def ep_start(tr):
        state['t0'] = time.perf_counter()

    def batch_end(tr):
        state['iters'] += 1

    def ep_end(tr):
        dt = time.perf_counter() - state['t0']
        state['epochs'].append(round(dt, 1))
        state['train_s'] += dt

    def model_save(tr):
        e = tr.epoch + 1
        if e in ckpts:
            shutil.copy(tr.last, ckpts[e])
    model.add_callback('on_pretrain_routine_end', pretrain_end)
    model.add_callback('on_train_epoch_start', ep_start)
    model.add_callback('on_train_batch_end', batch_end)
    model.add_callback('on_train_epoch_end', ep_end)
    model.add_callback('on_model_save', model_save)
    t = time.perf_counter()
    model.train(**args)
    result.update(train_s=round(state['train_s'], 1), train_wall_s=round(time.perf_counter() - t, 1),
                  epoch_s=state['epochs'], params=state.get('params'), iters=state['iters'],
                  images_seen=state['iters'] * b['batch'], checkpoint=ckpts[b['epochs']])
    preds = {}
    t = time.perf_counter()
    for variant, pred_kw in spec['evals'].items():
        for e, ck in ckpts.items():
            path = osp.join(out_dir, f'preds_{variant or "own"}_e{e}.keypoints.json')
            write_predictions(YOLO(ck), spec['images'], b['input'], pred_kw, path)
            preds.setdefault(variant, {})[str(e)] = path
    result.update(test_s=round(time.perf_counter() - t, 1), preds=preds)
    write_worker_result(out_dir, result)


def write_predictions(model, images, imgsz: int, pred_kw: dict, path: str) -> None:
    """Predict ``images``; write COCO keypoint results keyed by file name (score = box conf)."""
    kw = dict(imgsz=imgsz, conf=0.001, iou=0.7, max_det=300, device='cpu', verbose=False,
              stream=True)
    if pred_kw.get('nms') is not None:
        kw['nms'] = pred_kw['nms']
    out = []
    for r in model.predict(source=images, **kw):
        if r.keypoints is None or r.boxes is None or len(r.boxes) == 0:
            continue
        kp = r.keypoints.data.cpu().numpy()  # (n, 17, 3) in original-image pixels
        for k, s in zip(kp, r.boxes.conf.cpu().numpy()):
            out.append(dict(file_name=osp.basename(r.path), category_id=1,
                            keypoints=[round(float(v), 3) for v in k.reshape(-1)],
                            score=float(s)))
    with open(path, 'w') as f:
        json.dump(out, f)
