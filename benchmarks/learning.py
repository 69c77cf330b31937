#!/usr/bin/env python
"""Learning benchmark: ER-Pose-n, its paper ablations and its peers trained at one CPU budget
on the same synthetic data (a "mixed" and a "crowded" split), several seeds each, scored by
one COCO / CrowdPose keypoint evaluation. Report: benchmarks/results/learning_benchmark.md (+ .png).

    .venv/bin/python -m benchmarks.learning --jobs 2 --threads 1     # everything, resumable
    .venv/bin/python -m benchmarks.learning --only main --jobs 2 --threads 1
    .venv/bin/python -m benchmarks.learning --quick                  # smoke run, work dir only
    .venv/bin/python -m benchmarks.learning --doc-only               # re-render from the cache
    .venv/bin/python -m benchmarks.learning --list
    .venv/bin/python -m benchmarks.learning --family silhouette --only main   # second data family

Rows, data, workers, scoring and the report live in ``benchmarks/learning_benchmark/``; what
all benchmarks share in ``benchmarks/common/``. Worker runs are cached in
``WORK_DIR/results.json`` by row, seed, budget and a hash of the code they ran (a snapshot
of ``erpose_mm/``, ``configs/erpose/`` and the benchmark taken when the run starts), so a
killed run resumes with the first unfinished (row, seed).
"""
import argparse
import json
import os
import os.path as osp
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def worker_main(kind: str, spec_path: str) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    if kind == 'mm':
        from benchmarks.learning_benchmark import mm_worker
        mm_worker.run(spec)
    else:
        from benchmarks.learning_benchmark import yolo_worker
        yolo_worker.run(spec)


def parse_args():
    from benchmarks.common.peers import DEFAULT_PEERS_PYTHON
    from benchmarks.learning_benchmark.rows import FULL
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true', help='tiny smoke run (APs ~0 expected)')
    p.add_argument('--only', default='', help='rows or groups, comma-separated (see --list)')
    p.add_argument('--rerun', default='', help='rows to recompute (all their seeds)')
    p.add_argument('--seeds', default=None, help='seeds of the main rows, e.g. 0,1,2')
    p.add_argument('--ablation-seeds', default=None, help='seeds of the other rows, e.g. 0,1')
    p.add_argument('--list', action='store_true', help='list rows and groups, then exit')
    p.add_argument('--work-dir', help='default work_dirs/learning_benchmark[_quick]')
    p.add_argument('--doc', help='markdown output (default benchmarks/results/learning_benchmark.md; '
                   'with --quick WORK_DIR/learning_benchmark.md)')
    p.add_argument('--doc-only', action='store_true', help='only re-render from the cache')
    p.add_argument('--partial-note', default='', help='extra line for a report written while '
                   'the run is still going')
    p.add_argument('--snapshot', help='run on this existing code snapshot (a folder under '
                   'WORK_DIR/code/) instead of taking a new one of the working tree')
    p.add_argument('--notes', default=osp.join(ROOT, 'benchmarks', 'learning_benchmark',
                                                'notes.md'),
                   help='markdown file whose text goes into the report as its "Notes" section '
                   '(measurements made outside the cached runs; default: learning_benchmark/'
                   'notes.md; "" for none)')
    p.add_argument('--threads', type=int, default=1, help='torch / OpenMP threads per row')
    p.add_argument('--jobs', type=int, default=2, help='worker runs at once')
    p.add_argument('--bench-python', default=DEFAULT_PEERS_PYTHON,
                   help='python of the peers venv (benchmarks/setup_peers_env.sh)')
    p.add_argument('--row-timeout', type=int, default=0, help='seconds per run (0 = auto)')
    for k, v in FULL.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            p.add_argument('--' + k.replace('_', '-'), type=type(v), default=None,
                           help=f'budget: {k} (full {v})')
    from benchmarks.learning_benchmark.data import FAMILIES
    p.add_argument('--family', choices=list(FAMILIES), default=None,
                   help="data family: 'figures' (default; the one choices are tuned on) or "
                   "'silhouette' (an independent generator, to confirm them; default work dir "
                   "work_dirs/learning_benchmark_silhouette[_quick], doc "
                   "benchmarks/results/learning_benchmark_silhouette.md)")
    p.add_argument('--worker', choices=['mm', 'yolo'], help=argparse.SUPPRESS)
    p.add_argument('--spec', help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.worker:
        worker_main(args.worker, args.spec)
        return
    from benchmarks.common.machine import cpu_info, loadavg
    from benchmarks.common.worker import snapshot_code
    from benchmarks.learning_benchmark import report
    from benchmarks.learning_benchmark.data import make_data
    from benchmarks.learning_benchmark.rows import (ABLATION_SEEDS, FULL, MAIN_SEEDS, QUICK,
                                                    ROWS, GROUPS, SPLITS, parse_names,
                                                    trained_name)
    from benchmarks.learning_benchmark.runner import (CODE_PATHS, Bench, code_hashes, collect,
                                                      git_version, last_run_codes, log, plan,
                                                      record_run)
    if args.list:
        for r in ROWS:
            print(f"{r['name']:18s} {r['group']:13s} {'main' if r.get('main') else '    '} "
                  f"{r['label']}")
        print('groups: ' + '; '.join(f'{k} = {",".join(v)}' for k, v in GROUPS.items()))
        return
    b = dict(QUICK if args.quick else FULL)
    for k in FULL:
        v = getattr(args, k, None)
        if v is not None:
            b[k] = v
    if b['epochs'] not in b['ckpt_epochs']:
        b['ckpt_epochs'] = sorted(set(b['ckpt_epochs']) | {b['epochs']})
    b['ckpt_epochs'] = [e for e in b['ckpt_epochs'] if 1 <= e <= b['epochs']]
    main_seeds = tuple(int(s) for s in args.seeds.split(',')) if args.seeds else (
        (0,) if args.quick else MAIN_SEEDS)
    abl_seeds = tuple(int(s) for s in args.ablation_seeds.split(',')) if \
        args.ablation_seeds else ABLATION_SEEDS
    fam = '' if b['family'] == 'figures' else '_' + b['family']
    args.work_dir = osp.abspath(args.work_dir or osp.join(
        ROOT, 'work_dirs', 'learning_benchmark' + fam + ('_quick' if args.quick else '')))
    if not args.doc:
        args.doc = (osp.join(args.work_dir, 'learning_benchmark.md') if args.quick
                    else osp.join(ROOT, 'benchmarks', 'results', f'learning_benchmark{fam}.md'))
    if not args.row_timeout:
        args.row_timeout = 1800 if args.quick else 3 * 3600
    names = parse_names(args.only)
    rerun = parse_names(args.rerun) if args.rerun else []
    args.rerun = {(trained_name(n), s) for n in rerun for s in set(main_seeds) | set(abl_seeds)}
    os.makedirs(args.work_dir, exist_ok=True)
    cpu = cpu_info()

    from benchmarks.common.cache import ResultCache
    if args.doc_only:
        code_dir = None
        codes = last_run_codes(ResultCache(osp.join(args.work_dir, 'results.json')), b)
    else:
        if args.snapshot:
            code_dir = osp.abspath(args.snapshot)
            if not osp.isfile(osp.join(code_dir, '.complete')):
                raise SystemExit(f'--snapshot {code_dir}: not a complete code snapshot')
        else:
            code_dir, _ = snapshot_code(ROOT, osp.join(args.work_dir, 'code'), CODE_PATHS)
            if not osp.isfile(osp.join(code_dir, '.git_version')):
                with open(osp.join(code_dir, '.git_version'), 'w') as f:
                    f.write(git_version() + '\n')
        codes = code_hashes(code_dir)  # per row kind: only what changes its training
    bench = Bench(args, b, code_dir, codes)
    if not args.doc_only:
        record_run(bench.cache, b, codes, code_dir)
        log(f'budget {b}; code {codes} ({code_dir}); load {loadavg()}; rows: {", ".join(names)}')
        bench.data_root = make_data(args.work_dir, b, SPLITS, log=log)
        jobs = plan(names, main_seeds, abl_seeds)
        bench.run_all(jobs)
    results = collect(bench.cache, b, codes)
    want = plan([r['name'] for r in ROWS], main_seeds, abl_seeds)
    meta = dict(cpu=cpu, date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), codes=codes,
                main_seeds=main_seeds, ablation_seeds=abl_seeds, quick=args.quick,
                partial_note=args.partial_note, args=args,
                notes=open(args.notes).read().strip() if args.notes and not args.quick else '')
    print(report.terminal_table(results, b))
    report.write(args.doc, results, b, meta, want, bench.cache, osp.join(args.work_dir, 'data'))
    log(f'wrote {args.doc}')


if __name__ == '__main__':
    main()
