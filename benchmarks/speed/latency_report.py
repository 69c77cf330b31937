"""Rows, markdown report and plots of ``benchmarks/latency.py``."""
import os.path as osp
import sys
from typing import Dict, List

import numpy as np

from benchmarks.common.report import md_table
from benchmarks.common.stats import med

# ratios of ER-Pose-n end-to-end to the peers (ORT, 1 thread)
TARGET_VS_V8 = 0.65
TARGET_VS_26 = 0.75


def summarize(results: Dict[str, List[dict]], meta: Dict[str, dict]) -> List[dict]:
    """One row per case: medians of the stage times (ms), p90 / min, CPU time
    (1-thread cases), candidates, load and model info; ORT rows first."""
    rows = []
    for key, rs in results.items():
        m = meta[key]
        row = dict(model=m['model'], runtime=m['runtime'], threads=m['threads'], n=len(rs))
        for k in ('pre', 'model', 'post', 'e2e'):
            row[k + '_ms'] = 1000 * med([r[k] for r in rs])
        e2e = sorted(1000 * r['e2e'] for r in rs)
        row['e2e_p90'] = e2e[min(len(e2e) - 1, int(0.9 * len(e2e)))] if e2e else float('nan')
        row['e2e_min'] = e2e[0] if e2e else float('nan')
        row['model_min'] = 1000 * min(r['model'] for r in rs) if rs else float('nan')
        # CPU time of the calling thread: with 1 thread all the work runs there, and
        # unlike wall time it does not count waiting for a core on a loaded machine
        for k in ('model_cpu', 'e2e_cpu'):
            row[k + '_ms'] = (1000 * med([r.get(k) for r in rs]) if m['threads'] == 1
                              else float('nan'))
        row['n_cand'] = med([r.get('n_cand') for r in rs])
        row['n_out'] = med([r.get('n_out') for r in rs])
        row['load'] = med([r.get('load') for r in rs])
        row.update({k: v for k, v in m.get('info', {}).items()
                    if k in ('params', 'params_deploy', 'in_graph', 'post', 'gflops')})
        rows.append(row)
    order = ['erpose-n', 'erpose-s', 'yolov8n-pose', 'yolov8n-pose+nms-graph', 'yolo26n-pose',
             'rtmo-s']
    rows.sort(key=lambda r: (r['runtime'] != 'ort', r['threads'],
                             order.index(r['model']) if r['model'] in order else 99))
    return rows


LATENCY_COLUMNS = ('model', 'params (M)', 'GFLOPs', 'runtime', 'thr', 'pre', 'model', 'post',
                   '**e2e**', 'e2e p90', 'e2e min', 'model CPU', 'e2e CPU', 'cand', 'out', 'load')


def latency_cells(r: dict) -> List[str]:
    """One row of the latency table (``LATENCY_COLUMNS``); times in ms."""
    params = r.get('params_deploy') or r.get('params')
    return [r['model'], fmt(params / 1e6, 2) if params else '-', fmt(r.get('gflops'), 2),
            r['runtime'], r['threads'], fmt(r['pre_ms']), fmt(r['model_ms']),
            fmt(r['post_ms'], 2), f'**{fmt(r["e2e_ms"])}**', fmt(r['e2e_p90']),
            fmt(r['e2e_min']), fmt(r['model_cpu_ms']), fmt(r['e2e_cpu_ms']),
            fmt(r['n_cand'], 0), fmt(r['n_out'], 0), fmt(r['load'], 1)]


def fmt(x, nd=1):
    """``x`` with ``nd`` decimals, ``-`` for None / nan."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return '-'
    return f'{x:.{nd}f}'


def targets(rows) -> List[str]:
    """Lines comparing ER-Pose-n end-to-end time with the peers' against the targets."""
    def get(model, rt='ort', t=1, k='e2e_ms'):
        for r in rows:
            if r['model'] == model and r['runtime'] == rt and r['threads'] == t:
                return r[k]
        return None
    lines = []
    er, v8, y26 = (get(m, k='e2e_cpu_ms') for m in ('erpose-n', 'yolov8n-pose', 'yolo26n-pose'))
    if er and v8 and y26 and not any(np.isnan(x) for x in (er, v8, y26)):
        lines.append(f'- ORT 1 thread, CPU time (load-robust): ER-Pose-n e2e / YOLOv8n-pose = '
                     f'{er / v8:.2f} (target <= {TARGET_VS_V8}: '
                     f'{"MET" if er <= TARGET_VS_V8 * v8 else "MISSED"}), / YOLO26n-pose = '
                     f'{er / y26:.2f} (target <= {TARGET_VS_26}: '
                     f'{"MET" if er <= TARGET_VS_26 * y26 else "MISSED"})')
    for t in sorted({r['threads'] for r in rows}):
        er = get('erpose-n', t=t)
        v8, y26 = get('yolov8n-pose', t=t), get('yolo26n-pose', t=t)
        if er is None:
            continue
        if v8:
            ok = er <= TARGET_VS_V8 * v8
            lines.append(f'- ORT {t} thread(s), wall median: ER-Pose-n e2e / YOLOv8n-pose e2e = {er / v8:.2f} '
                         f'(target <= {TARGET_VS_V8}) -> {"MET" if ok else "MISSED"}')
        if y26:
            ok = er <= TARGET_VS_26 * y26
            lines.append(f'- ORT {t} thread(s), wall median: ER-Pose-n e2e / YOLO26n-pose e2e = {er / y26:.2f} '
                         f'(target <= {TARGET_VS_26}) -> {"MET" if ok else "MISSED"}')
    return lines


def markdown(rows, sweep, env, args, prof=None, flops=None) -> str:
    """The report: setup line, latency table, targets, FLOPs, sweep, profile."""
    L = ['# CPU latency: ER-Pose vs YOLOv8n-pose, YOLO26n-pose, RTMO-s', '',
         f'Written by `benchmarks/latency.py{(" " + " ".join(sys.argv[1:])) if sys.argv[1:] else ""}` on '
         f'{env["date"]}. Machine: {env["cpu"]}, {env["ncpu"]} logical CPUs; load average '
         f'before / after: {env["load_before"]} / {env["load_after"]}. '
         f'Image: `{osp.basename(args.image)}` {env["image_shape"]}, letterboxed to 640x640, batch 1. '
         f'Iterations per case: {env["iters"]} (after {args.warmup} warm-up), interleaved in '
         f'{args.rounds} rounds; values are medians in ms.', '',
         'Versions: ' + ', '.join(f'{k} {v}' for k, v in env['versions'].items()), '',
         '`model` = the network (for ORT: `session.run` of the exported graph, which already '
         'contains ER-Pose\'s and YOLO26\'s top-k decode and RTMO\'s NMS); `post` = the rest to '
         'final poses in image pixels (YOLOv8: NMS); `e2e` = pre + model + post timed as one '
         'interval. `model CPU` / `e2e CPU` (1-thread rows only) = CPU time of the calling '
         'thread, where all the work runs at 1 thread: unlike wall time it does not count '
         'waiting for a core, so it is the number to trust on a loaded machine. '
         '`cand` = candidates above the score threshold entering NMS / filtering, '
         '`out` = poses returned. All weights are random (seeded), so `cand` is not what a '
         'trained model sees -- the sweep below covers 1..300 people.', '']
    L += md_table(LATENCY_COLUMNS, [latency_cells(r) for r in rows])
    L += ['', '## Targets', ''] + targets(rows)
    if flops:
        L += ['', '## Where the model FLOPs are (load-independent)', '',
              '2 x MACs of Conv / Gemm / MatMul in each exported graph, GFLOPs. Ultralytics '
              'layers are `model.<i>`; the last one is the pose head.', '']
        for m, f in flops.items():
            L.append(f'- **{m}** {f["total"]:.2f}: ' + ', '.join(
                f'{k} {v:.2f}' for k, v in list(f['parts'].items())[:6]))
    if sweep:
        L += ['', '## Decode / NMS time vs. number of confident candidates', '',
              'Synthetic raw outputs with N candidates above the threshold (random boxes and '
              'keypoints), 1 thread, median thread CPU time in ms. ER-Pose: `ERPoseHead.export_predict` after the '
              'network (decode + top-k + packing: the operations its exported graph runs after '
              'the network, here in torch eager) and the runner\'s numpy postprocess of the graph '
              'outputs. YOLOv8: Ultralytics `non_max_suppression` (torchvision NMS) + '
              'rescale. YOLO26: its end-to-end top-k filter + rescale.', '']
        L += md_table(['N'] + list(sweep['series']),
                      [[n] + [fmt(1000 * v[i], 3) for v in sweep['series'].values()]
                       for i, n in enumerate(sweep['counts'])])
        L += ['', 'Growth from the smallest to the largest N: ' + '; '.join(
            f'{k}: x{v[-1] / v[0]:.2f}' for k, v in sweep['series'].items() if v and v[0]), '']
    if prof:
        L += ['', '## ORT profile (1 thread, ms per run, kernel time)', '']
        for name, p in prof.items():
            L.append(f'**{name}** total {p["total_ms"]:.1f} ms. By op: ' + ', '.join(
                f'{k} {v:.1f}' for k, v in p['by_op'].items()) + '. By graph part: ' + ', '.join(
                f'{k} {v:.1f}' for k, v in p['by_part'].items()) + '.')
            L.append('')
    sfx = getattr(args, 'suffix', '')
    L += ['', f'Plots: `latency_cpu{sfx}.png`, `decode_vs_people{sfx}.png`. '
          f'Raw numbers: `latency_cpu{sfx}.json`.',
          'Re-run on a quiet machine for final numbers: `.venv/bin/python -m benchmarks.latency`.']
    return '\n'.join(L) + '\n'


def plots(rows, sweep, out_dir, suffix: str = '') -> List[str]:
    """Stacked pre / model / post bars per thread count and the sweep plot; the
    written files."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    files = []
    ort_rows = [r for r in rows if r['runtime'] == 'ort']
    threads = sorted({r['threads'] for r in ort_rows})
    if ort_rows:
        fig, axes = plt.subplots(1, len(threads), figsize=(6 * len(threads), 4), squeeze=False)
        for ax, t in zip(axes[0], threads):
            rs = [r for r in ort_rows if r['threads'] == t]
            names = [r['model'] for r in rs]
            x = np.arange(len(rs))
            bottom = np.zeros(len(rs))
            for k, c in (('pre', '#9ecae1'), ('model', '#3182bd'), ('post', '#e6550d')):
                v = np.array([r[k + '_ms'] for r in rs])
                ax.bar(x, v, bottom=bottom, color=c, label=k)
                bottom += v
            ax.set_xticks(x, names, rotation=25, ha='right', fontsize=8)
            ax.set_ylabel('ms (median)')
            ax.set_title(f'ONNX Runtime CPU, {t} thread(s), 640x640, batch 1')
            ax.legend()
        fig.tight_layout()
        f = osp.join(out_dir, f'latency_cpu{suffix}.png')
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f)
    if sweep:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for k, v in sweep['series'].items():
            ax.plot(sweep['counts'], 1000 * np.asarray(v), marker='o', label=k)
        ax.set_xlabel('confident candidates N')
        ax.set_ylabel('ms (median, 1 thread)')
        ax.set_yscale('log')
        ax.set_title('Decode / NMS time vs. number of candidates')
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        f = osp.join(out_dir, f'decode_vs_people{suffix}.png')
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f)
    return files
