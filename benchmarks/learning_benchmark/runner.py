"""Main side of the learning benchmark: which worker runs to do, in which order, running
them (``--jobs`` at once) on the code snapshot, scoring their predictions, caching."""
import json
import os
import os.path as osp
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

from benchmarks.common.cache import ResultCache, result_key
from benchmarks.common.machine import loadavg, thread_env
from benchmarks.common.peers import peers_env
from benchmarks.common.worker import run_worker
from benchmarks.learning_benchmark import data as D
from benchmarks.learning_benchmark.rows import (ABLATION_SEEDS, MAIN_SEEDS, ROW_BY_NAME, ROWS,
                                                SPLITS, eval_rows_of, trained_name)
from benchmarks.learning_benchmark.scoring import (load_json, match_diagnostics,
                                                   score_keypoints, split_results)

# what a trained row's result depends on besides its own options: hashed into the cache key
CODE_PATHS = ('erpose_mm', 'configs/erpose', 'benchmarks/__init__.py', 'benchmarks/common',
              'benchmarks/learning_benchmark', 'benchmarks/learning.py')
# what each kind of row's results depend on (hashed into its cache key): Ultralytics rows do
# not run erpose_mm, so edits there leave them cached
HASHED_PATHS = {
    'mm': ('erpose_mm', 'configs/erpose', 'benchmarks/learning_benchmark/mm_worker.py',
           'benchmarks/learning_benchmark/data.py'),
    'yolo': ('benchmarks/learning_benchmark/yolo_worker.py',
             'benchmarks/learning_benchmark/data.py', 'benchmarks/common/worker.py'),
}
DIAG_THRESHOLDS = (0.3, 0.1)


def log(*a) -> None:
    print('[learning]', time.strftime('%H:%M:%S'), *a, file=sys.stderr, flush=True)


def git_version() -> str:
    """Short git commit of the checkout, '+dirty' when files under erpose_mm/ or configs/
    are modified or new (the snapshot the rows run on holds those uncommitted changes)."""
    import subprocess
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    try:
        c = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=root, text=True,
                           capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--', 'erpose_mm', 'configs'],
                               cwd=root, text=True,
                               capture_output=True).stdout.strip()
        return c + ('+dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def seeds_of(row: dict, main_seeds, ablation_seeds) -> Tuple[int, ...]:
    return tuple(main_seeds if row.get('main') else ablation_seeds)


def plan(names: List[str], main_seeds=MAIN_SEEDS, ablation_seeds=ABLATION_SEEDS
         ) -> List[Tuple[str, int]]:
    """(trained row, seed) worker runs for the requested rows, seed-major: every row's first
    seed before any row's second, so a stopped run has covered as many rows as it could."""
    trained = list(dict.fromkeys(trained_name(n) for n in names))
    order = [r['name'] for r in ROWS]
    trained.sort(key=order.index)
    out = []
    for i in range(max(len(main_seeds), len(ablation_seeds))):
        for n in trained:
            s = seeds_of(ROW_BY_NAME[n], main_seeds, ablation_seeds)
            if i < len(s):
                out.append((n, s[i]))
    return out


def keyed_budget(b: dict) -> dict:
    """``b`` as cache keys and run records hold it: the data ``family`` only when it is not
    the default 'figures' (whose keys are those of a budget without the entry)."""
    return {k: v for k, v in b.items() if k != 'family' or v != 'figures'}


def row_budget(b: dict, name: str) -> dict:
    """The budget entries a trained row's result depends on (its cache key's budget part):
    the peers' recipe factor only matters to the MMPose peers; the data family is in it
    (see :func:`keyed_budget`)."""
    r = ROW_BY_NAME[trained_name(name)]
    return {k: v for k, v in keyed_budget(b).items() if k != 'peer_lr_factor' or r.get('peer')}


def code_hashes(code_dir: str) -> Dict[str, str]:
    """``{row kind: hash}`` of the snapshot (see :data:`HASHED_PATHS`)."""
    from benchmarks.common.cache import content_hash
    return {kind: content_hash(code_dir, paths) for kind, paths in HASHED_PATHS.items()}


class Bench:
    def __init__(self, args, budget: dict, code_dir: Optional[str],
                 codes: Dict[str, str]) -> None:
        self.args, self.b = args, budget
        self.work = osp.abspath(args.work_dir)
        self.cache = ResultCache(osp.join(self.work, 'results.json'))
        self.code_dir, self.codes = code_dir, codes
        self.data_root: Optional[str] = None
        # the checkout's git version when the snapshot was taken (written next to it)
        gv = osp.join(code_dir or '', '.git_version')
        self.git = open(gv).read().strip() if code_dir and osp.isfile(gv) else 'unknown'
        self.lock = threading.RLock()

    # ------------------------------------------------------------------ keys and specs
    def key(self, name: str, seed: int) -> str:
        r = ROW_BY_NAME[name]
        what = {k: r.get(k) for k in ('kind', 'config', 'model', 'opts', 'predict', 'peer')}
        if r.get('hooks'):
            what['hooks'] = r['hooks']
        what['evals'] = {e['name']: e.get('opts') or e.get('predict') for e in eval_rows_of(name)}
        last_only = [e['name'] for e in eval_rows_of(name) if e.get('last_only')]
        if last_only:
            what['last_only'] = last_only
        return result_key(name, seed, dict(budget=row_budget(self.b, name), row=what,
                                           splits=SPLITS), self.codes[r['kind']])

    def evals(self, name: str) -> Dict[str, dict]:
        r = ROW_BY_NAME[name]
        own = r.get('predict', {}) if r['kind'] == 'yolo' else {}
        out = {'': own}
        for e in eval_rows_of(name):
            out[e['name']] = e.get('opts') or e.get('predict') or {}
        return out

    # ------------------------------------------------------------------ running
    def run_all(self, jobs_list: List[Tuple[str, int]]) -> None:
        todo = [(n, s) for n, s in jobs_list
                if (n, s) in self.args.rerun or not self.cache.get(self.key(n, s))]
        log(f'{len(jobs_list) - len(todo)} of {len(jobs_list)} worker runs cached; '
            f'{len(todo)} to run: ' + ', '.join(f'{n}/s{s}' for n, s in todo))
        if self.args.jobs <= 1:
            for n, s in todo:
                self.ensure(n, s)
            return
        with ThreadPoolExecutor(self.args.jobs) as pool:
            list(pool.map(lambda ns: self.ensure(*ns), todo))

    def ensure(self, name: str, seed: int) -> dict:
        key = self.key(name, seed)
        try:
            r = self.run_one(name, seed)
        except Exception as e:  # keep going with the other rows
            log(f'{name} seed {seed}: FAILED: {e}')
            r = dict(status=f'failed: {str(e).splitlines()[0][:160]}')
        r.update(name=name, seed=seed, code=self.codes[ROW_BY_NAME[name]['kind']], git=self.git,
                 budget=row_budget(self.b, name))
        self.cache.put(key, r)
        if r.get('status') == 'ok':
            own = r['scores']['']
            last = str(self.b['epochs'])
            log(f"{name} seed {seed}: " + ', '.join(
                f"{sp} AP {own[last][sp]['AP']:.3f}" for sp in SPLITS) +
                f"; train {r.get('train_s')} s, row {r.get('row_wall_s')} s")
        return r

    def run_one(self, name: str, seed: int) -> dict:
        row = ROW_BY_NAME[name]
        row_dir = osp.join(self.work, 'rows', f'{name}_seed{seed}')
        shutil.rmtree(row_dir, ignore_errors=True)
        os.makedirs(row_dir)
        spec = dict(name=name, seed=seed, budget=self.b, data_root=self.data_root,
                    out_dir=row_dir, threads=self.args.threads, evals=self.evals(name),
                    last_only=[e['name'] for e in eval_rows_of(name) if e.get('last_only')])
        env = thread_env(self.args.threads)
        if row['kind'] == 'mm':
            spec.update(config=row['config'], opts=row.get('opts', {}),
                        peer=row.get('peer', False), hooks=row.get('hooks', []))
            py = sys.executable
            env['PYTHONPATH'] = self.code_dir  # the snapshot's erpose_mm, not the live tree
        else:
            py = self.args.bench_python
            if not osp.isfile(py):
                return dict(status='not run (no peers venv: bash benchmarks/setup_peers_env.sh)')
            with self.lock:
                data_yaml = D.coco_to_yolo(self.data_root)
            spec.update(model=row['model'], data_yaml=data_yaml,
                        train_list=osp.join(osp.dirname(data_yaml), 'train.txt'),
                        images=[osp.join(self.data_root, 'val', im['file_name']) for im in
                                load_json(osp.join(self.data_root, D.VAL_JSON))['images']])
            env = peers_env(py, env)
            env['PYTHONPATH'] = self.code_dir  # for benchmarks.* (no erpose_mm import there)
        spec_path = osp.join(row_dir, 'spec.json')
        with open(spec_path, 'w') as f:
            json.dump(spec, f, indent=1)
        t0, la0 = time.time(), loadavg()
        log(f'{name} seed {seed}: running -> {row_dir}/worker.log')
        # ``-m`` in the snapshot folder: the snapshot's benchmarks (and erpose_mm) come first
        w = run_worker([py, '-m', 'benchmarks.learning', '--worker', row['kind'], '--spec',
                        spec_path], row_dir, env, cwd=self.code_dir,
                       timeout=self.args.row_timeout)
        w['scores'], w['diagnostics'] = self.score(w['preds'], yolo=row['kind'] == 'yolo')
        w.update(status='ok', load_before=la0, load_after=loadavg(),
                 row_wall_s=round(time.time() - t0, 1), date=time.strftime('%Y-%m-%d %H:%M'))
        return w

    # ------------------------------------------------------------------ scoring
    def score(self, preds: Dict[str, Dict[str, str]], yolo: bool):
        """Scores per decoding, checkpoint and split; diagnostics at the last checkpoint."""
        val = load_json(osp.join(self.data_root, D.VAL_JSON))
        ids = {im['file_name']: im['id'] for im in val['images']}
        gts = {sp: load_json(osp.join(self.data_root, D.val_json(sp))) for sp in SPLITS}
        split_ids = {sp: [im['id'] for im in g['images']] for sp, g in gts.items()}
        last = str(self.b['epochs'])
        scores, diag = {}, {}
        for variant, by_epoch in preds.items():
            for e, path in by_epoch.items():
                res = load_json(path) if osp.isfile(path) else []
                if yolo:
                    res = [dict(image_id=ids[p.pop('file_name')], **p) for p in res]
                for sp in SPLITS:
                    sub = split_results(res, split_ids[sp])
                    scores.setdefault(variant, {}).setdefault(e, {})[sp] = score_keypoints(
                        osp.join(self.data_root, D.val_json(sp)), sub, crowd=sp == 'crowded')
                    if e == last:
                        diag.setdefault(variant, {})[sp] = {
                            str(t): match_diagnostics(gts[sp], sub, t) for t in DIAG_THRESHOLDS}
        return scores, diag


def collect(cache: ResultCache, b: dict, codes: Dict[str, str]) -> Dict[str, Dict[int, dict]]:
    """``{display row: {seed: result of that decoding}}`` of one budget and code version."""
    out: Dict[str, Dict[int, dict]] = {}
    for r in cache.data.values():
        if r.get('status') != 'ok' or r.get('name') not in ROW_BY_NAME:
            continue
        if r.get('code') != codes.get(ROW_BY_NAME[r['name']]['kind']) or \
                r.get('budget') != row_budget(b, r['name']):
            continue
        for variant in r['scores']:
            name = variant or r['name']
            out.setdefault(name, {})[r['seed']] = dict(
                r, scores=r['scores'][variant], diagnostics=r['diagnostics'].get(variant, {}))
    return out


def record_run(cache: ResultCache, b: dict, codes: Dict[str, str], code_dir: str) -> None:
    """Remember which code a run used, so ``--doc-only`` reports that run's results."""
    cache.put('run|' + time.strftime('%Y-%m-%dT%H:%M:%S'),
              dict(status='run', budget=keyed_budget(b), codes=codes, code_dir=code_dir))


def last_run_codes(cache: ResultCache, b: dict) -> Dict[str, str]:
    """The code hashes of the latest recorded run with this budget ({} when none)."""
    runs = sorted(k for k, r in cache.data.items() if r.get('status') == 'run'
                  and r.get('budget') == keyed_budget(b))
    return dict(cache.data[runs[-1]]['codes']) if runs else {}
