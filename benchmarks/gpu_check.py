"""Steps of benchmarks/gpu_check.sh (each prints / writes JSON; ``report`` writes the markdown).

    python benchmarks/gpu_check.py env      --out env.json
    python benchmarks/gpu_check.py parity   CFG CKPT IMG --out-dir D --device cuda --out parity.json
    python benchmarks/gpu_check.py peers    --out-dir D --device cuda --out peers.json   (peers venv)
    python benchmarks/gpu_check.py latency  CFG CKPT|none --onnx-dir D --device cuda --out latency.json
    python benchmarks/gpu_check.py train-summary WORK_DIR --wall-s S --out train.json
    python benchmarks/gpu_check.py tools    CFG CKPT ONNX IMG --out-dir D --device cuda --ort-device cuda --out tools.json
    python benchmarks/gpu_check.py report   --work-dir W --out gpu_check.md

``peers`` runs in the Ultralytics environment (benchmarks/setup_peers_env.sh) and imports
nothing of this project; the other steps run in the project environment. Timing: 640x640,
batch 1, median over ``--iters`` runs after ``--warmup`` runs; ONNX Runtime times
``session.run`` on a float32 numpy input (host-device copies included), PyTorch times the
forward with ``torch.cuda.synchronize()``. Weights do not change the time of these graphs
(ER-Pose's decode is a top-k, not an NMS): the latency step takes random weights
(checkpoint ``none``) of the deployed COCO config. ER-Pose's graph includes its decode and top-k;
YOLOv8n-pose's raw head needs NMS afterwards, which is not in its model time.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
INPUT = 640
PEERS = ('yolov8n-pose', 'yolo26n-pose')
PAPER_RATIO_V8 = 0.66   # ER-Pose-n / YOLOv8n-pose latency on a V100 (paper)


def dump(obj, path):
    text = json.dumps(obj, indent=1)
    if path:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
    print(text)


def providers_for(device: str):
    return (['CUDAExecutionProvider', 'CPUExecutionProvider'] if device.startswith('cuda')
            else ['CPUExecutionProvider'])


def ort_session(path: str, device: str):
    """An ONNX Runtime session on ``device``; refuses a silent CPU fallback."""
    if device.startswith('cuda'):
        import torch  # noqa: F401  (loads the CUDA / cuDNN libraries of torch's wheels)
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=providers_for(device))
    if device.startswith('cuda') and 'CUDAExecutionProvider' not in sess.get_providers():
        raise SystemExit(f'error: {path}: ONNX Runtime could not start the CUDA provider '
                         f'(available: {ort.get_available_providers()})')
    return sess


def median_ms(step, warmup: int, iters: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


# ----------------------------------------------------------------------------- env
def cmd_env(args):
    info = dict(python=platform.python_version(), machine=platform.machine(),
                date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))
    try:
        info['commit'] = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO,
                                        capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    smi = subprocess.run('nvidia-smi --query-gpu=name,driver_version,memory.total,'
                         'compute_cap --format=csv,noheader', shell=True, capture_output=True,
                         text=True)
    info['nvidia_smi'] = smi.stdout.strip() or 'not available'
    import torch
    info.update(torch=torch.__version__, torch_cuda=torch.version.cuda,
                cuda_available=torch.cuda.is_available(),
                cudnn=torch.backends.cudnn.version() if torch.cuda.is_available() else None,
                gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    try:
        import mmcv
        from mmcv.ops import get_compiler_version, get_compiling_cuda_version
        info.update(mmcv=mmcv.__version__, mmcv_ops_cuda=get_compiling_cuda_version(),
                    mmcv_ops_compiler=get_compiler_version())
    except Exception as e:  # report, do not stop: the check's table shows it
        info['mmcv'] = f'import failed: {e}'
    import onnxruntime as ort
    info.update(onnxruntime=ort.__version__, ort_providers=ort.get_available_providers())
    cpu = subprocess.run('lscpu | grep "Model name"', shell=True, capture_output=True,
                         text=True).stdout.split(':')[-1].strip()
    info['cpu'] = cpu or platform.processor()
    dump(info, args.out)


# ----------------------------------------------------------------------------- parity
def _match(ref_k, ref_s, k, s, thr, at_least=10):
    """Max keypoint / score error of the reference rows with score > thr (at least the
    ``at_least`` best rows: a barely trained model has no confident people), each matched
    to the row of (k, s) with the closest keypoints (top-k order swaps near-equal scores)."""
    kerr, serr = [], []
    rows = np.argsort(-ref_s)
    rows = rows[:max(int((ref_s > thr).sum()), at_least)]
    for i in rows:
        d = np.abs(k[:, :, :2] - ref_k[i, :, :2]).max(axis=(1, 2))
        j = int(d.argmin())
        kerr.append(float(d[j]))
        serr.append(float(abs(s[j] - ref_s[i])))
    return dict(rows=len(kerr), kpt_px=max(kerr, default=0.0), score=max(serr, default=0.0))


def cmd_parity(args):
    import torch
    import erpose_mm  # noqa: F401
    from erpose_mm.deploy.export import ERPoseExportModule, build_model, export_onnx
    from erpose_mm.testing import calibration_batch
    os.makedirs(args.out_dir, exist_ok=True)
    f32 = osp.join(args.out_dir, 'erpose-n_fp32.onnx')
    f16 = osp.join(args.out_dir, 'erpose-n_fp16.onnx')
    for path, half in ((f32, False), (f16, True)):
        if not osp.exists(path):
            export_onnx(args.config, args.checkpoint, path, input_size=(INPUT, INPUT),
                        score_thr=0.0, fp16=half)
    x = calibration_batch([args.image], INPUT, torch.Generator()).float()
    # score_thr 0: every row compared, none turned into padding
    model = ERPoseExportModule(build_model(args.config, args.checkpoint), score_thr=0.0).eval()
    with torch.no_grad():
        ref_d, ref_k = (t.numpy() for t in model(x))   # PyTorch CPU float32: the reference
    ref_k, ref_s = ref_k[0], ref_d[0, :, 4]
    rows = {}
    ort_device = args.ort_device or args.device
    for name, path in (('ORT fp32', f32), ('ORT fp16', f16)):
        d, k = ort_session(path, ort_device).run(None, {'input': x.numpy()})
        rows[f'{name} ({ort_device})'] = _match(ref_k, ref_s, k[0], d[0, :, 4], args.thr)
    if args.device.startswith('cuda'):
        m = model.to(args.device)
        with torch.no_grad():
            d, k = (t.float().cpu().numpy() for t in m(x.to(args.device)))
            rows['PyTorch fp32 (cuda, TF32 as default)'] = _match(ref_k, ref_s, k[0],
                                                                  d[0, :, 4], args.thr)
            with torch.autocast('cuda', dtype=torch.float16):
                d, k = (t.float().cpu().numpy() for t in m(x.to(args.device)))
            rows['PyTorch autocast fp16 (cuda)'] = _match(ref_k, ref_s, k[0], d[0, :, 4],
                                                          args.thr)
    dump(dict(reference='PyTorch float32 on CPU, same input', input=INPUT,
              score_thr=args.thr, rows=rows), args.out)


# ----------------------------------------------------------------------------- peers
def cmd_peers(args):
    """(peers venv) Build YOLOv8n-pose / YOLO26n-pose from yaml (random, seeded), export
    ONNX to --out-dir, time PyTorch eager on --device (fp32 and fp16)."""
    import re
    import torch
    import ultralytics
    from ultralytics import YOLO
    os.makedirs(args.out_dir, exist_ok=True)
    cfg_dir = osp.join(osp.dirname(ultralytics.__file__), 'cfg', 'models')
    out = dict(ultralytics=ultralytics.__version__, torch=torch.__version__, models={})
    for name, (sub, fname) in zip(PEERS, (('v8', 'yolov8-pose.yaml'),
                                          ('26', 'yolo26-pose.yaml'))):
        txt = re.sub(r'^nc: *\d+', 'nc: 1', open(osp.join(cfg_dir, sub, fname)).read(),
                     flags=re.M)
        yaml = osp.join(args.out_dir, f'{name}.yaml')
        with open(yaml, 'w') as f:
            f.write(txt)
        torch.manual_seed(0)
        yolo = YOLO(yaml)
        end2end = getattr(yolo.model.model[-1], 'one2one_cv2', None) is not None
        path = yolo.export(format='onnx', imgsz=INPUT, dynamic=False, batch=1, simplify=True,
                           **(dict(nms=False) if end2end else {}))
        dst = osp.join(args.out_dir, f'{name}_fp32.onnx')
        os.replace(path, dst)
        torch.manual_seed(0)
        net = YOLO(yaml).model
        if end2end:
            net.end2end = True
        net = net.fuse(verbose=False).eval().to(args.device)
        x = torch.rand(1, 3, INPUT, INPUT, device=args.device)
        times = {}
        for label, ctx in (('fp32', None), ('fp16', torch.float16)):
            if ctx is not None and not args.device.startswith('cuda'):
                continue

            def step():
                with torch.inference_mode():
                    if ctx is None:
                        net(x)
                    else:
                        with torch.autocast('cuda', dtype=ctx):
                            net(x)
                if args.device.startswith('cuda'):
                    torch.cuda.synchronize()
            times[label] = median_ms(step, args.warmup, args.iters)
        out['models'][name] = dict(onnx=dst, end2end=end2end, torch_ms=times,
                                   params=sum(p.numel() for p in net.parameters()))
    dump(out, args.out)


# ----------------------------------------------------------------------------- latency
def cmd_latency(args):
    import torch
    import erpose_mm  # noqa: F401
    from erpose_mm.deploy.export import ERPoseExportModule, build_model, export_onnx
    from erpose_mm.deploy.fp16 import convert_onnx_to_fp16
    ckpt = None if args.checkpoint.lower() == 'none' else args.checkpoint
    files = {'erpose-n': {p: osp.join(args.onnx_dir, f'erpose-n_latency_{p}.onnx')
                          for p in ('fp32', 'fp16')}}
    for prec, path in files['erpose-n'].items():
        if not osp.exists(path):
            export_onnx(args.config, ckpt, path, input_size=(INPUT, INPUT),
                        fp16=prec == 'fp16')
    peers = {}
    if args.peers_json and osp.isfile(args.peers_json):
        with open(args.peers_json) as f:
            peers = json.load(f)['models']
    for name, info in peers.items():
        f16 = info['onnx'].replace('_fp32.onnx', '_fp16.onnx')
        if not osp.exists(f16):
            convert_onnx_to_fp16(info['onnx'], f16)
        files[name] = dict(fp32=info['onnx'], fp16=f16)
    x = np.random.default_rng(0).random((1, 3, INPUT, INPUT), dtype=np.float32)
    ort_device = args.ort_device or args.device
    rows = {}
    for name, by_prec in files.items():
        for prec, path in by_prec.items():
            sess = ort_session(path, ort_device)
            feed = {sess.get_inputs()[0].name: x}
            rows.setdefault(name, {})[f'ORT {prec} ({ort_device})'] = median_ms(
                lambda: sess.run(None, feed), args.warmup, args.iters)
    model = ERPoseExportModule(build_model(args.config, ckpt))  # the export's defaults
    model = model.eval().to(args.device)
    xt = torch.from_numpy(x).to(args.device)
    for prec in ('fp32', 'fp16'):
        if prec == 'fp16' and not args.device.startswith('cuda'):
            continue

        def step():
            with torch.inference_mode():
                if prec == 'fp32':
                    model(xt)
                else:
                    with torch.autocast('cuda', dtype=torch.float16):
                        model(xt)
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()
        rows['erpose-n'][f'PyTorch {prec} ({args.device})'] = median_ms(
            step, args.warmup, args.iters)
    for name, info in peers.items():
        for prec, ms in info['torch_ms'].items():
            rows[name][f'PyTorch {prec} ({args.device})'] = ms
    dump(dict(device=args.device, ort_device=ort_device, input=INPUT, iters=args.iters,
              warmup=args.warmup, rows=rows), args.out)


# ----------------------------------------------------------------------------- user tools
def cmd_tools(args):
    """``tools/infer.py`` (PyTorch) and ``tools/onnx_infer.py`` (ONNX Runtime) on the image,
    each on its device, as a user runs them: exit status, wall time, people written."""
    runs = {'tools/infer.py': [sys.executable, osp.join(REPO, 'tools', 'infer.py'),
                               args.config, args.checkpoint, args.image,
                               '--device', args.device],
            'tools/onnx_infer.py': [sys.executable, osp.join(REPO, 'tools', 'onnx_infer.py'),
                                    args.onnx, args.image, '--device', args.ort_device]}
    out = {}
    for name, cmd in runs.items():
        out_dir = osp.join(args.out_dir, osp.basename(name)[:-3])
        t0 = time.perf_counter()
        res = subprocess.run(cmd + ['--out-dir', out_dir, '--no-vis', '--score-thr',
                                    str(args.thr)], capture_output=True, text=True)
        row = dict(device=cmd[cmd.index('--device') + 1], rc=res.returncode,
                   wall_s=round(time.perf_counter() - t0, 1))
        pred = osp.join(out_dir, 'predictions', osp.basename(args.image) + '.json')
        if res.returncode == 0 and osp.isfile(pred):
            with open(pred) as f:
                row['people'] = len(json.load(f))
        else:
            row['error'] = (res.stderr.strip().splitlines() or ['?'])[-1][:300]
        out[name] = row
    dump(out, args.out)


# ----------------------------------------------------------------------------- training
def cmd_train_summary(args):
    """Mean s/iter, peak memory and the last validation metrics of an MMEngine work dir
    (its newest ``*/vis_data/scalars.json``)."""
    runs = sorted(d for d in os.listdir(args.work_dir)
                  if osp.isfile(osp.join(args.work_dir, d, 'vis_data', 'scalars.json')))
    if not runs:
        raise SystemExit(f'error: {args.work_dir}: no */vis_data/scalars.json (did it train?)')
    with open(osp.join(args.work_dir, runs[-1], 'vis_data', 'scalars.json')) as f:
        records = [json.loads(line) for line in f if line.strip()]
    train = [r for r in records if 'loss' in r and 'time' in r]
    val = [r for r in records if 'coco/AP' in r]
    times = [r['time'] for r in train[1:]] or [r['time'] for r in train]
    out = dict(iters=max((r.get('iter', r.get('step', 0)) for r in train), default=0),
               wall_s=args.wall_s, s_per_iter=round(statistics.mean(times), 4) if times else None,
               memory_mb=max((r['memory'] for r in train if 'memory' in r), default=None),
               final_loss=round(train[-1]['loss'], 4) if train else None)
    if val:
        out.update({k: v for k, v in val[-1].items() if k.startswith('coco/')})
    dump(out, args.out)


# ----------------------------------------------------------------------------- report
def _load(work, name):
    path = osp.join(work, name)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _num(x, nd):
    return '-' if x is None else f'{x:.{nd}f}'


def _speed_rows(w):
    """{model: {'fp32'|'amp': row}} from benchmarks/train_speed.py's JSON files in ``w``."""
    out = {}
    for name in sorted(os.listdir(w)):
        if name.startswith('train_speed_') and name.endswith('.json'):
            prec = 'amp' if name.endswith('_amp.json') else 'fp32'
            for r in _load(w, name)['rows']:
                out.setdefault(r['model'], {})[prec] = r
    return out


def cmd_report(args):
    w = args.work_dir
    env, parity, lat = (_load(w, f) for f in ('env.json', 'parity.json', 'latency.json'))
    tools = _load(w, 'tools.json')
    train = {k: _load(w, f'train_{k}.json') for k in ('fp32', 'amp')}
    lines = [f'# GPU check ({args.mode})', '']
    if env:
        lines += ['| | |', '|---|---|']
        for key in ('date', 'commit', 'nvidia_smi', 'gpu', 'torch', 'torch_cuda', 'cudnn',
                    'mmcv', 'mmcv_ops_cuda', 'mmcv_ops_compiler', 'onnxruntime',
                    'ort_providers', 'python', 'cpu'):
            lines.append(f'| {key} | {env.get(key)} |')
        lines.append('')
    lines += ['Command: `bash benchmarks/gpu_check.sh ' + ' '.join(args.argv) + '`', '']
    if any(train.values()):
        lines += ['## Training (ER-Pose-n, synthetic data, `configs/erpose/erpose-n_synthetic-256.py`)',
                  '', '| run | iterations | wall s | s/iter (log) | peak memory MB | val AP | AP50 |',
                  '|---|---|---|---|---|---|---|']
        for k, t in train.items():
            if t:
                lines.append(f"| {k} | {t.get('iters')} | {t.get('wall_s') or 0:.1f} | "
                             f"{t.get('s_per_iter')} | {t.get('memory_mb')} | "
                             f"{t.get('coco/AP')} | {t.get('coco/AP50')} |")
        lines.append('')
    if parity:
        lines += [f"## Parity (reference: {parity['reference']}; rows with score > "
                  f"{parity['score_thr']}, at least the 10 best)", '',
                  '| runtime | rows | max keypoint error (px) | max score error |',
                  '|---|---|---|---|']
        for k, r in parity['rows'].items():
            lines.append(f"| {k} | {r['rows']} | {r['kpt_px']:.4f} | {r['score']:.5f} |")
        lines.append('')
    if lat:
        rows = lat['rows']
        cols = sorted({c for r in rows.values() for c in r})
        lines += [f"## Latency ({lat['device']}, {lat['input']}x{lat['input']}, batch 1, "
                  f"median of {lat['iters']} after {lat['warmup']} warm-up), ms", '',
                  '| model | ' + ' | '.join(cols) + ' |', '|---' * (len(cols) + 1) + '|']
        for name, r in rows.items():
            lines.append(f'| {name} | ' + ' | '.join(
                f'{r[c]:.2f}' if c in r else '-' for c in cols) + ' |')
        lines.append('')
        for peer in PEERS:
            if peer in rows:
                ratios = ', '.join(f'{c}: {rows["erpose-n"][c] / rows[peer][c]:.2f}x'
                                   for c in cols if c in rows[peer] and c in rows['erpose-n'])
                lines.append(f'ER-Pose-n / {peer}: {ratios}')
        if 'yolov8n-pose' in rows:
            lines.append(f'(paper, V100: {PAPER_RATIO_V8}x YOLOv8n-pose; YOLOv8n-pose times '
                         'exclude its NMS, ER-Pose times include decode and top-k)')
        else:
            lines.append('Peers not timed (no Ultralytics environment: '
                         'bash benchmarks/setup_peers_env.sh, then --peers-python).')
        lines.append('')
    if tools:
        lines += ['## User tools on the image', '', '| tool | device | exit | wall s | people |',
                  '|---|---|---|---|---|']
        for name, r in tools.items():
            lines.append(f"| `{name}` | {r['device']} | {r['rc']} | {r['wall_s']} | "
                         f"{r.get('people', r.get('error'))} |")
        lines.append('')
    speed = _speed_rows(w)
    if speed:
        lines += ['## Training step without data loading (`benchmarks/train_speed.py`, '
                  f'640x640, batch {args.speed_batch})', '',
                  '| model | s / iter | optimiser step s | peak memory MB | AMP s / iter |',
                  '|---|---|---|---|---|']
        for model, by in speed.items():
            f32, amp = by.get('fp32', {}), by.get('amp')
            mem = f32.get('gpu_peak_mb', f32.get('peak_rss_mb'))
            cells = [model, _num(f32.get('s_per_iter'), 3), _num(f32.get('step'), 3),
                     _num(mem, 0), _num(amp['s_per_iter'], 3) if amp else '-']
            lines.append('| ' + ' | '.join(cells) + ' |')
        lines.append('')
    loss_md = osp.join(w, 'loss_ops.md')
    if osp.isfile(loss_md):
        with open(loss_md) as f:
            body = f.read().split('\n')
        start = next((i for i, ln in enumerate(body) if ln.startswith('### ')), len(body))
        lines += ['## The training loss alone (`benchmarks/loss_ops.py`)', '']
        lines += [ln.replace('### ', '### Loss ops ') for ln in body[start:]] + ['']
    notes_path = osp.join(w, 'notes.txt')
    notes = open(notes_path).read().split('\n') if osp.isfile(notes_path) else []
    notes = [n for n in notes if n.strip()]
    if notes:
        lines += ['## Notes', ''] + [f'- {n}' for n in notes] + ['']
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines))
    print('\n'.join(lines))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest='step', required=True)
    e = sub.add_parser('env')
    e.add_argument('--out')
    pa = sub.add_parser('parity')
    pa.add_argument('config')
    pa.add_argument('checkpoint')
    pa.add_argument('image')
    pa.add_argument('--out-dir', required=True)
    pa.add_argument('--device', default='cuda')
    pa.add_argument('--ort-device', help='ONNX Runtime device (default: --device)')
    pa.add_argument('--thr', type=float, default=0.3)
    pa.add_argument('--out')
    for name in ('peers', 'latency'):
        s = sub.add_parser(name)
        if name == 'latency':
            s.add_argument('config')
            s.add_argument('checkpoint')
            s.add_argument('--onnx-dir', required=True)
            s.add_argument('--peers-json')
            s.add_argument('--ort-device', help='ONNX Runtime device (default: --device)')
        else:
            s.add_argument('--out-dir', required=True)
        s.add_argument('--device', default='cuda')
        s.add_argument('--iters', type=int, default=200)
        s.add_argument('--warmup', type=int, default=30)
        s.add_argument('--out')
    t = sub.add_parser('train-summary')
    t.add_argument('work_dir')
    t.add_argument('--wall-s', type=float, default=None)
    t.add_argument('--out')
    tl = sub.add_parser('tools')
    for a in ('config', 'checkpoint', 'onnx', 'image'):
        tl.add_argument(a)
    tl.add_argument('--out-dir', required=True)
    tl.add_argument('--device', default='cuda')
    tl.add_argument('--ort-device', default='cuda')
    tl.add_argument('--thr', type=float, default=0.3)
    tl.add_argument('--out')
    r = sub.add_parser('report')
    r.add_argument('--work-dir', required=True)
    r.add_argument('--speed-batch', type=int, default=32)
    r.add_argument('--mode', default='cuda')
    r.add_argument('--out', required=True)
    r.add_argument('argv', nargs='*')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    dict(env=cmd_env, parity=cmd_parity, peers=cmd_peers, latency=cmd_latency,
         report=cmd_report, tools=cmd_tools)[args.step](args) \
        if args.step != 'train-summary' else cmd_train_summary(args)


if __name__ == '__main__':
    main()
