"""Rows, markdown report and plot of ``benchmarks/train_speed.py``."""
import sys
from typing import List

import numpy as np

from benchmarks.common.report import md_table
from benchmarks.common.stats import med
from benchmarks.speed.train_step_common import STAGES_ER, STAGES_YOLO

TARGET_VS_V8 = 0.8  # ER-Pose-n s/iter <= 0.8 x YOLOv8n-pose


TRAIN_COLUMNS = ('model', 'params (M)', '**s / iter**', 'min', 'CPU s / iter',
                 'fwd (backbone+neck)', 'head fwd', 'assign', 'loss', 'backward', 'optim step',
                 'peak RSS (MB)', 'train RSS (MB)', 'load')


def train_cells(r: dict) -> List[str]:
    """One row of the training-speed table (``TRAIN_COLUMNS``); times in s."""
    fwd = r.get('backbone_neck_fwd', r.get('fwd'))
    return [r['model'], f'{r["params"] / 1e6:.2f}', f'**{fmt(r["s_per_iter"], 3)}**',
            fmt(r['s_min'], 3), fmt(r['cpu_s'], 3), fmt(fwd, 3), fmt(r.get('head_fwd'), 3),
            fmt(r.get('assign'), 3), fmt(r.get('loss'), 3), fmt(r.get('backward'), 3),
            fmt(r.get('step'), 3), f'{r["peak_rss_mb"]:.0f}', f'{r["train_rss_mb"]:.0f}',
            fmt(r['load'], 1)]


def fmt(x, nd=2):
    """``x`` with ``nd`` decimals, ``-`` for None / nan."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return '-'
    return f'{x:.{nd}f}'


def summarize(results, infos, stats) -> List[dict]:
    """One row per model: median s / iter and stage times, CPU time, RSS, load."""
    rows = []
    for name, rs in results.items():
        row = dict(model=name, n=len(rs), s_per_iter=med([r['total'] for r in rs]),
                   s_min=min(r['total'] for r in rs), cpu_s=med([r.get('cpu') for r in rs]),
                   load=med([r['load'] for r in rs]))
        for k in set(STAGES_ER) | set(STAGES_YOLO):
            vals = [r[k] for r in rs if k in r]
            if vals:
                row[k] = med(vals)
        row.update(params=infos[name]['params'], rss_setup_mb=stats[name]['rss_setup_mb'],
                   peak_rss_mb=stats[name]['peak_rss_mb'])
        row['train_rss_mb'] = row['peak_rss_mb'] - row['rss_setup_mb']
        if 'gpu_peak_mb' in stats[name]:
            row['gpu_peak_mb'] = stats[name]['gpu_peak_mb']
        rows.append(row)
    return rows


def markdown(rows, sweep, prof, env, args) -> str:
    """The report: setup line, speed table, targets, assigner sweep, profile."""
    on_gpu = env.get('device', 'cpu') != 'cpu'
    precision = 'float16 AMP' if args.amp else "float32, PyTorch's default TF32 convolutions"
    where = (f'GPU: {env.get("gpu")} ({precision}; '
             'stage times between CUDA synchronisations, which add a little to each step). '
             if on_gpu else '')
    L = [f'# {"GPU" if on_gpu else "CPU"} training speed: ER-Pose vs YOLOv8n-pose, YOLO26n-pose', '',
         f'Written by `benchmarks/train_speed.py{(" " + " ".join(sys.argv[1:])) if sys.argv[1:] else ""}` on '
         f'{env["date"]}. {where}Machine: {env["cpu"]}, {env["ncpu"]} logical CPUs, load average '
         f'before / after {env["load_before"]} / {env["load_after"]}. Batch {args.batch}, '
         f'640x640, {args.threads} torch threads, people per image {env["people"]}; '
         f'{env["iters"]} timed iterations per model after {args.warmup} warm-up, interleaved '
         f'in {args.rounds} rounds; medians.', '',
         'Versions: ' + ', '.join(f'{k} {v}' for k, v in env['versions'].items()), '',
         'One iteration = forward + assignment + loss + backward + optimizer step (ER-Pose: '
         '`data_preprocessor` -> `extract_feat` -> `head.loss` -> `parse_losses` -> the '
         'config\'s OptimWrapper (AdamW, clip_grad 10); Ultralytics: `model(img)` -> '
         '`model.loss(batch, preds)` -> `loss.sum().backward()` -> clip_grad_norm_(10) -> '
         'AdamW). No EMA, no data loading. `min` = fastest iteration; `CPU s / iter` = '
         'process CPU time (both threads) per iteration. `assign` = time inside the assigners '
         '(ER-Pose: `KeypointDrivenAssigner.assign`, SAH + MAH; Ultralytics: '
         '`TaskAlignedAssigner`), `loss` = the rest of the loss computation. Peak RSS is '
         'the worker process\' `ru_maxrss`; `train RSS` = peak minus RSS after building the '
         'model (the peers venv\'s torch is a CUDA build with a larger import footprint).', '']
    if on_gpu:
        L += md_table(TRAIN_COLUMNS[:-3] + ('GPU peak (MB)',),
                      [train_cells(r)[:-3] + [f'{r.get("gpu_peak_mb", float("nan")):.0f}']
                       for r in rows])
    else:
        L += md_table(TRAIN_COLUMNS, [train_cells(r) for r in rows])
    L.append('')
    L.append('(For the Ultralytics models "fwd" is the whole network forward, head included.)')
    by = {r['model']: r for r in rows}
    L += ['', '## Targets', '']
    if 'erpose-n' in by and 'yolov8n-pose' in by:
        ratio = by['erpose-n']['s_per_iter'] / by['yolov8n-pose']['s_per_iter']
        L.append(f'- ER-Pose-n / YOLOv8n-pose s/iter = {ratio:.2f} (target <= {TARGET_VS_V8}) -> '
                 f'{"MET" if ratio <= TARGET_VS_V8 else "MISSED"}')
    if 'erpose-n' in by and 'yolo26n-pose' in by:
        ratio = by['erpose-n']['s_per_iter'] / by['yolo26n-pose']['s_per_iter']
        L.append(f'- ER-Pose-n / YOLO26n-pose s/iter = {ratio:.2f}')
    if 'erpose-n' in by and 'yolov8n-pose' in by:
        ratio = by['erpose-n']['cpu_s'] / by['yolov8n-pose']['cpu_s']
        L.append(f'- same on process CPU time (both threads; less sensitive to load): '
                 f'ER-Pose-n / YOLOv8n-pose = {ratio:.2f}')
    if sweep:
        L += ['', '## Assigner and head loss vs. people per image (ER-Pose-n)', '',
              '`KeypointDrivenAssigner.assign` per image on the model\'s own predictions '
              f'({sweep["cells"]} cells), and the full head loss (both branches, assignment, '
              'losses) for the batch of 4, forward and forward + backward. 1 thread, median '
              'thread CPU time in ms.', '']
        L += md_table(('people / image', 'assign MAH (top-10)', 'assign SAH (top-1)',
                       'head loss fwd', 'head loss fwd+bwd'),
                      [[g, f'{1000 * sweep["assign_o2m"][i]:.2f}',
                        f'{1000 * sweep["assign_o2o"][i]:.2f}',
                        f'{1000 * sweep["head_loss_fwd"][i]:.1f}',
                        f'{1000 * sweep["head_loss_fwd_bwd"][i]:.1f}']
                       for i, g in enumerate(sweep['counts'])])
        g = np.asarray(sweep['counts'], float)
        L.append('')
        for key in ('assign_o2m', 'assign_o2o', 'head_loss_fwd_bwd'):
            t = np.asarray(sweep[key])
            slope, icpt = np.polyfit(g, t, 1)
            growth = t[-1] / t[0]
            L.append(f'- {key}: {1000 * icpt:.2f} ms + {1000 * slope:.3f} ms x people (linear '
                     f'fit); {g[-1] / g[0]:.0f}x people -> {growth:.1f}x time '
                     f'({"at most linear" if growth <= g[-1] / g[0] else "SUPER-LINEAR"})')
    if prof:
        L += ['', '## Profile of one ER-Pose-n training iteration (torch.profiler)', '']
        L += md_table(('stage', 'ms / iter'),
                      [[k, f'{v:.0f}'] for k, v in prof['stages_ms'].items()] +
                      [['of which backward through backbone+neck (measured alone)',
                        f'{prof["backbone_neck_bwd_ms"]:.0f} of {prof["total_bwd_ms"]:.0f}']])
        L += ['', 'Top ops by self CPU time (ms / iter): ' + ', '.join(
            f'{o["op"]} {o["self_ms"]:.0f} ({o["calls"]}x)' for o in prof['top_ops']) + '.']
    L += ['', 'Re-run on a quiet machine for final numbers: '
          '`.venv/bin/python -m benchmarks.train_speed`.']
    return '\n'.join(L) + '\n'


def plot_sweep(sweep, out_file) -> None:
    """Assigner time per image and head-loss time per batch vs. people per image."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    g = sweep['counts']
    axes[0].plot(g, 1000 * np.asarray(sweep['assign_o2m']), 'o-', label='assign MAH (top-10)')
    axes[0].plot(g, 1000 * np.asarray(sweep['assign_o2o']), 's-', label='assign SAH (top-1)')
    axes[0].set_xlabel('people per image')
    axes[0].set_ylabel('ms per image')
    axes[0].set_title('KeypointDrivenAssigner.assign')
    axes[1].plot(g, 1000 * np.asarray(sweep['head_loss_fwd']), 'o-', label='forward')
    axes[1].plot(g, 1000 * np.asarray(sweep['head_loss_fwd_bwd']), 's-', label='forward+backward')
    axes[1].set_xlabel('people per image')
    axes[1].set_ylabel('ms per batch of 4')
    axes[1].set_title('ER-Pose-n head loss (both branches)')
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)
