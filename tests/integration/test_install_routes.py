"""tools/install.sh routes, checked through its dry run (``ERPOSE_DRY_RUN=1`` prints the
commands instead of running them): the CPU route as CI runs it, the CUDA routes (cu130,
cu128) with a fake CUDA toolkit, the refusals, and the requirement files they install.
No package is installed and nothing is downloaded."""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
INSTALL = osp.join(REPO, 'tools', 'install.sh')
REQ = osp.join(REPO, 'requirements')


def run_install(tmp_path, **env_vars):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('ERPOSE_', 'TORCH_CUDA_ARCH_LIST', 'CUDA_HOME', 'PIP_CONSTRAINT'))}
    env.update(ERPOSE_DRY_RUN='1', ERPOSE_VENV=str(tmp_path / 'venv'),
               ERPOSE_WHEELS=str(tmp_path / 'no_wheels'))
    env.update(env_vars)
    return subprocess.run(['bash', INSTALL], env=env, capture_output=True, text=True,
                          timeout=120)


def commands(out: str):
    """The printed commands, one string each (the '+ ' lines)."""
    return [line[2:] for line in out.splitlines() if line.startswith('+ ')]


def only(cmds, pattern):
    hits = [c for c in cmds if re.search(pattern, c)]
    assert len(hits) == 1, (pattern, cmds)
    return hits[0]


def fake_toolkit(tmp_path, release: str) -> str:
    """A CUDA_HOME whose bin/nvcc reports ``release`` (e.g. '13.0')."""
    home = tmp_path / f'cuda-{release}'
    (home / 'bin').mkdir(parents=True)
    (home / 'include').mkdir()
    (home / 'include' / 'cuda_runtime.h').write_text('')
    nvcc = home / 'bin' / 'nvcc'
    nvcc.write_text('#!/bin/sh\necho "nvcc: NVIDIA (R) Cuda compiler driver"\n'
                    f'echo "Cuda compilation tools, release {release}, V{release}.1"\n')
    nvcc.chmod(0o755)
    return str(home)


def fake_nvidia_smi(tmp_path, caps) -> str:
    """A PATH with an nvidia-smi that lists GPUs of compute capabilities ``caps``."""
    bindir = tmp_path / 'fakebin'
    bindir.mkdir(exist_ok=True)
    smi = bindir / 'nvidia-smi'
    smi.write_text('#!/bin/sh\n' + ''.join(f'echo {c}\n' for c in caps))
    smi.chmod(0o755)
    return f'{bindir}:{os.environ["PATH"]}'


def test_cpu_route_is_the_stack_md_install(tmp_path):
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    (wheels / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl').write_bytes(b'')
    res = run_install(tmp_path, ERPOSE_WHEELS=str(wheels))
    assert res.returncode == 0, res.stderr
    cmds = commands(res.stdout)
    py = str(tmp_path / 'venv' / 'bin' / 'python')
    assert cmds[0] == f'python3 -m venv {tmp_path / "venv"}'
    assert '# PIP_CONSTRAINT: torch==2.13.0,setuptools<81' in res.stdout
    assert only(cmds, r'install -q torch').endswith('install -q torch==2.13.0')
    deps = only(cmds, r'runtime\.txt')
    assert deps.endswith(f'-r {REQ}/runtime.txt -r {REQ}/ort-cpu.txt')
    mmcv = only(cmds, r'mmcv==2\.1\.0')
    assert mmcv.startswith('env MMCV_WITH_OPS=1 MAX_JOBS=2 ')
    assert f'--find-links {wheels}' in mmcv and 'FORCE_CUDA' not in mmcv
    assert only(cmds, 'mmpose').endswith('--no-deps mmdet==3.3.0 mmpose==1.3.2 mmdeploy==1.3.1')
    assert only(cmds, 'xtcocotools').endswith('--no-binary xtcocotools xtcocotools==1.14.3')
    assert cmds[-1].endswith(f'--no-deps --no-build-isolation -e {REPO}')
    assert all(c.startswith((f'{py} -m pip', 'env ', 'python3 -m venv')) for c in cmds)
    assert 'onnxruntime-gpu' not in res.stdout


def test_cpu_route_compiles_mmcv_without_a_wheel(tmp_path):
    res = run_install(tmp_path)
    assert res.returncode == 0, res.stderr
    mmcv = only(commands(res.stdout), r'mmcv==2\.1\.0')
    assert '--find-links' not in mmcv and 'MMCV_WITH_OPS=1' in mmcv
    assert 'no prebuilt wheel: compiling mmcv' in res.stdout


@pytest.mark.parametrize('route,torch_spec,cuda,ort_file,ort_pin', [
    ('cu130', 'torch==2.13.0', '13.0', 'ort-gpu-cu13.txt', 'onnxruntime-gpu==1.31.1'),
    ('cu128', 'torch==2.8.0', '12.8', 'ort-gpu-cu12.txt', 'onnxruntime-gpu==1.26.0'),
])
def test_cuda_route(tmp_path, route, torch_spec, cuda, ort_file, ort_pin):
    home = fake_toolkit(tmp_path, cuda)
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    (wheels / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl').write_bytes(b'')  # CPU-ops wheel
    res = run_install(tmp_path, ERPOSE_CUDA=route, CUDA_HOME=home, ERPOSE_WHEELS=str(wheels),
                      PATH=fake_nvidia_smi(tmp_path, ['9.0', '8.0', '9.0']), MAX_JOBS='16')
    assert res.returncode == 0, res.stderr
    cmds = commands(res.stdout)
    assert f'# PIP_CONSTRAINT: {torch_spec},setuptools<81' in res.stdout
    assert only(cmds, r'install -q torch').endswith(f'install -q {torch_spec}')
    assert only(cmds, r'runtime\.txt').endswith(f'-r {REQ}/runtime.txt -r {REQ}/{ort_file}')
    with open(osp.join(REQ, ort_file)) as f:
        pins = [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]
    assert pins == [ort_pin]
    mmcv = only(cmds, r'mmcv==2\.1\.0')
    # CUDA ops, for the GPUs nvidia-smi lists, from source (never the CPU-ops wheel/cache)
    assert mmcv.startswith('env MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=8.0\\;9.0 '
                           f'CUDA_HOME={home} MAX_JOBS=16 ')
    assert '--no-cache-dir --no-binary mmcv --no-build-isolation --no-deps' in mmcv
    assert '--find-links' not in mmcv
    assert f'CUDA route {route}: {torch_spec}, nvcc {cuda} ({home}/bin/nvcc)' in res.stdout


def test_cuda_route_uses_the_given_arch_list(tmp_path):
    res = run_install(tmp_path, ERPOSE_CUDA='cu130', CUDA_HOME=fake_toolkit(tmp_path, '13.0'),
                      TORCH_CUDA_ARCH_LIST='9.0+PTX', ERPOSE_TORCH='torch==2.12.1')
    assert res.returncode == 0, res.stderr
    cmds = commands(res.stdout)
    assert only(cmds, r'install -q torch').endswith('install -q torch==2.12.1')
    assert 'TORCH_CUDA_ARCH_LIST=9.0+PTX ' in only(cmds, r'mmcv==2\.1\.0')


@pytest.mark.parametrize('env,message', [
    (dict(ERPOSE_CUDA='cu130', CUDA_HOME='{tmp}/nowhere'),
     "install.sh: error: ERPOSE_CUDA=cu130 compiles mmcv's CUDA ops: CUDA_HOME={tmp}/nowhere "
     'has no bin/nvcc (install a CUDA 13.x toolkit there or unset CUDA_HOME)'),
    (dict(ERPOSE_CUDA='cu128', CUDA_HOME='TOOLKIT_13.0'),
     'install.sh: error: ERPOSE_CUDA=cu128 needs a CUDA 12.x toolkit, but '
     'TOOLKIT_13.0/bin/nvcc is CUDA 13.0'),
    (dict(ERPOSE_CUDA='cu121'), 'install.sh: error: ERPOSE_CUDA=cu121: unknown route (cpu, '
     'cu130, cu128)'),
    (dict(ERPOSE_ORT='gpu'), 'install.sh: error: ERPOSE_ORT=gpu needs a CUDA route '
     '(ERPOSE_CUDA=cu130 or cu128)'),
    (dict(ERPOSE_MMCV_OPS='cuda'), 'install.sh: error: ERPOSE_MMCV_OPS=cuda needs a CUDA route '
     '(ERPOSE_CUDA=cu130 or cu128)'),
    (dict(ERPOSE_CUDA='cu130', ERPOSE_MMCV_OPS='gpu'),
     'install.sh: error: ERPOSE_MMCV_OPS=gpu: unknown (cuda, cpu)'),
])
def test_refusals_are_one_line_before_any_install(tmp_path, env, message):
    toolkit = fake_toolkit(tmp_path, '13.0')
    env = {k: v.replace('{tmp}', str(tmp_path)).replace('TOOLKIT_13.0', toolkit)
           for k, v in env.items()}
    message = message.replace('{tmp}', str(tmp_path)).replace('TOOLKIT_13.0', toolkit)
    res = run_install(tmp_path, **env)
    assert res.returncode == 2
    assert res.stderr.strip() == message
    assert commands(res.stdout) == []  # refused before the venv or any pip command


def test_cuda_route_refuses_without_any_toolkit(tmp_path):
    if osp.exists('/usr/local/cuda/bin/nvcc'):
        pytest.skip('a CUDA toolkit is installed in /usr/local/cuda on this machine')
    env = dict(ERPOSE_CUDA='cu130', PATH='/usr/bin:/bin')
    res = run_install(tmp_path, **env)
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "install.sh: error: ERPOSE_CUDA=cu130 compiles mmcv's CUDA ops and needs nvcc from a "
        'CUDA 13.x toolkit: none found (set CUDA_HOME or put nvcc on PATH)')


def test_cuda_route_with_cpu_mmcv_ops_needs_no_toolkit(tmp_path):
    """ERPOSE_MMCV_OPS=cpu: CUDA torch and onnxruntime-gpu, mmcv compiled from source with
    its CPU ops against that torch (no nvcc; no GPU visible to mmcv's setup, else it builds
    CUDA ops), never a prebuilt wheel (built for another torch)."""
    (tmp_path / 'no_wheels').mkdir()
    (tmp_path / 'no_wheels' / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl').write_text('')
    res = run_install(tmp_path, ERPOSE_CUDA='cu130', ERPOSE_MMCV_OPS='cpu',
                      PATH=f'{osp.dirname(shutil.which("g++"))}:/usr/bin:/bin')
    assert res.returncode == 0, res.stderr
    assert 'mmcv with CPU ops only (no CUDA toolkit needed)' in res.stdout
    cmds = commands(res.stdout)
    only(cmds, r'pip .* install -q torch==2\.13\.0$')
    only(cmds, r'-r \S+/requirements/ort-gpu-cu13\.txt')
    mmcv = only(cmds, r'mmcv==2\.1\.0')
    assert mmcv.startswith('env MMCV_WITH_OPS=1 FORCE_CUDA=0 CUDA_VISIBLE_DEVICES= ')
    assert '--no-binary mmcv' in mmcv and '--find-links' not in mmcv
    assert 'CUDA_HOME' not in mmcv and 'TORCH_CUDA_ARCH_LIST' not in mmcv


def test_requirements_split_keeps_onnxruntime_out_of_runtime():
    def pins(name):
        with open(osp.join(REQ, name)) as f:
            return [ln.split('#')[0].strip() for ln in f if ln.split('#')[0].strip()]
    runtime = pins('runtime.txt')
    assert not [p for p in runtime if p.startswith('onnxruntime')]
    assert 'onnx==1.23.2' in runtime
    assert pins('ort-cpu.txt') == ['onnxruntime==1.32.0']


def test_setup_extras_follow_the_requirement_files():
    code = ('import runpy, setuptools; seen = {}; '
            'setuptools.setup = lambda **kw: seen.update(kw); '
            f'runpy.run_path({osp.join(REPO, "setup.py")!r}, run_name="__main__"); '
            'print(repr(seen["extras_require"]))')
    res = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    extras = eval(res.stdout.strip())  # a dict literal printed by repr()
    assert extras['ort-cpu'] == ['onnxruntime==1.32.0']
    assert extras['ort-gpu-cu13'] == ['onnxruntime-gpu==1.31.1']
    assert extras['ort-gpu-cu12'] == ['onnxruntime-gpu==1.26.0']


def test_cpu_route_environment_imports_onnxruntime_cpu():
    import onnxruntime
    assert onnxruntime.__version__ == '1.32.0'
    assert 'CPUExecutionProvider' in onnxruntime.get_available_providers()
