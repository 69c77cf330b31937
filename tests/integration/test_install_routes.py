"""tools/install.sh routes, checked through its dry run (``ERPOSE_DRY_RUN=1`` prints the
commands instead of running them): the CPU route as CI runs it, the CUDA routes (cu130,
cu128) with a fake CUDA toolkit, the refusals, and the requirement files they install.
No package is installed and nothing is downloaded.

The printed commands are parsed (``parse_commands``) into the interpreter, environment
variables, pip flags and options and requirement specs they carry, so the checks are on
what each route installs, from where and how, not on the spelling of the command lines."""
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
INSTALL = osp.join(REPO, 'tools', 'install.sh')
REQ = osp.join(REPO, 'requirements')

# pip options that take a value (either ``--opt value`` or ``--opt=value``), by canonical name
PIP_VALUE_OPTIONS = {
    '-r': '--requirement', '--requirement': '--requirement',
    '-c': '--constraint', '--constraint': '--constraint',
    '-e': '--editable', '--editable': '--editable',
    '-f': '--find-links', '--find-links': '--find-links',
    '-i': '--index-url', '--index-url': '--index-url',
    '--extra-index-url': '--extra-index-url',
    '--no-binary': '--no-binary', '--only-binary': '--only-binary',
    '--target': '--target', '-t': '--target', '--prefix': '--prefix',
}
PIP_FLAG_ALIASES = {'-q': '--quiet', '-U': '--upgrade', '-y': '--yes'}


@dataclass
class Command:
    """One printed command: ``python3 -m venv DIR`` or ``[env K=V ...] PY -m pip ACTION ...``."""
    argv: list
    env: dict = field(default_factory=dict)
    python: str = ''              # the interpreter that runs pip / venv
    tool: str = ''                # 'pip' or 'venv'
    action: str = ''              # pip: 'install' / 'uninstall'; venv: 'create'
    flags: set = field(default_factory=set)
    options: dict = field(default_factory=dict)   # canonical option -> [values]
    reqs: dict = field(default_factory=dict)      # canonical name -> Requirement
    venv_dir: str = ''

    def opt(self, name):
        return self.options.get(name, [])

    def pin(self, name):
        return str(self.reqs[canonicalize_name(name)].specifier)

    def requirement_files(self):
        return [osp.normpath(p) for p in self.opt('--requirement')]


def parse_command(line: str) -> Command:
    argv = shlex.split(line)
    cmd = Command(argv=argv)
    rest = list(argv)
    if rest and rest[0] == 'env':
        rest.pop(0)
        while rest and re.match(r'^[A-Za-z_][A-Za-z0-9_]*=', rest[0]):
            key, _, value = rest.pop(0).partition('=')
            cmd.env[key] = value
    assert len(rest) >= 3 and rest[1] == '-m', line
    cmd.python, cmd.tool = rest[0], rest[2]
    rest = rest[3:]
    if cmd.tool == 'venv':
        cmd.action = 'create'
        (cmd.venv_dir,) = [a for a in rest if not a.startswith('-')]
        return cmd
    assert cmd.tool == 'pip', line
    # global options before the subcommand
    while rest and rest[0].startswith('-'):
        flag = rest.pop(0)
        cmd.flags.add(PIP_FLAG_ALIASES.get(flag, flag))
    cmd.action = rest.pop(0)
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition('=') if arg.startswith('--') else (arg, '', '')
        if name in PIP_VALUE_OPTIONS:
            cmd.options.setdefault(PIP_VALUE_OPTIONS[name], []).append(
                value if eq else rest.pop(0))
        elif arg.startswith('-'):
            cmd.flags.add(PIP_FLAG_ALIASES.get(arg, arg))
        else:
            req = Requirement(arg)
            cmd.reqs[canonicalize_name(req.name)] = req
    return cmd


def parse_commands(out: str):
    """The printed commands (the '+ ' lines), parsed."""
    return [parse_command(line[2:]) for line in out.splitlines() if line.startswith('+ ')]


def printed_constraints(out: str):
    """The PIP_CONSTRAINT lines the dry run reports, as {name: specifier}."""
    (line,) = [ln for ln in out.splitlines() if ln.startswith('# PIP_CONSTRAINT: ')]
    reqs = [Requirement(r) for r in line.split(': ', 1)[1].split(',')]
    return {canonicalize_name(r.name): str(r.specifier) for r in reqs}


def file_pins(path: str):
    """{name: specifier} of a requirements file (comments and blank lines skipped)."""
    with open(path) as f:
        reqs = [Requirement(ln.split('#')[0].strip()) for ln in f if ln.split('#')[0].strip()]
    return {canonicalize_name(r.name): str(r.specifier) for r in reqs}


def installs(cmds, name):
    """The one pip install command that names requirement ``name`` on its command line."""
    key = canonicalize_name(name)
    hits = [c for c in cmds if c.tool == 'pip' and c.action == 'install' and key in c.reqs]
    assert len(hits) == 1, (name, [c.argv for c in cmds])
    return hits[0]


def installed_pins(cmds):
    """{name: specifier} over every pip install, requirement files included."""
    pins = {}
    for c in cmds:
        if c.tool != 'pip' or c.action != 'install':
            continue
        for path in c.requirement_files():
            pins.update(file_pins(path))
        pins.update({k: str(r.specifier) for k, r in c.reqs.items()})
    return pins


def readme_versions(*names):
    """{name: '==X.Y.Z'} for each package the README's set-up paragraph names with a version."""
    with open(osp.join(REPO, 'README.md')) as f:
        text = f.read()
    found = {}
    for name in names:
        m = re.search(rf'(?<![\w-]){re.escape(name)} (\d+(?:\.\d+)+)', text)
        assert m, f'README.md names no version of {name}'
        found[canonicalize_name(name)] = f'=={m.group(1)}'
    return found


def position(cmds, cmd):
    return next(i for i, c in enumerate(cmds) if c is cmd)


def assert_common_install(cmds, python):
    """What every route shares: each command runs the target interpreter's pip with no index
    override (torch comes from pip's configured index / PyPI, never a route-specific URL),
    torch lands before anything built against it, and ER-Pose's editable install comes last."""
    pips = [c for c in cmds if c.tool == 'pip']
    assert pips and all(c.python == python for c in pips), [c.argv for c in pips]
    for c in pips:
        assert not any(c.opt(o) for o in ('--index-url', '--extra-index-url')), c.argv
    tooling = installs(cmds, 'setuptools')
    assert tooling.pin('setuptools') == '<81' and '--upgrade' in tooling.flags
    assert {'pip', 'wheel'} <= set(tooling.reqs)
    torch = installs(cmds, 'torch')
    deps = [c for c in pips if os.path.join(REQ, 'runtime.txt') in c.requirement_files()]
    assert len(deps) == 1, [c.argv for c in pips]
    # packages built with --no-build-isolation need the tooling, torch and runtime deps first
    for c in pips:
        if '--no-build-isolation' in c.flags:
            assert position(cmds, c) > max(position(cmds, tooling), position(cmds, torch),
                                           position(cmds, deps[0])), c.argv
    editable = [c for c in pips if c.opt('--editable')]
    assert len(editable) == 1 and [osp.normpath(p) for p in editable[0].opt('--editable')] == [REPO]
    assert {'--no-deps', '--no-build-isolation'} <= editable[0].flags
    assert editable[0] is pips[-1]
    for name in ('mmdet', 'mmpose', 'mmdeploy'):
        assert '--no-deps' in installs(cmds, name).flags, name
    xtcoco = installs(cmds, 'xtcocotools')
    assert 'xtcocotools' in xtcoco.opt('--no-binary') and '--no-build-isolation' in xtcoco.flags
    assert xtcoco.pin('xtcocotools') == '==1.14.3'
    return torch


def test_parser_reads_any_spelling_of_the_same_command():
    spellings = [
        "env MAX_JOBS=2 'A=8.0;9.0' /py -m pip -q install --find-links=/w --no-deps 'x<2' -r f",
        "env 'A=8.0;9.0' MAX_JOBS=2 /py -m pip install x\\<2 --quiet -r f --no-deps -f /w",
    ]
    first, second = (parse_command(s) for s in spellings)
    for c in (first, second):
        assert (c.python, c.tool, c.action) == ('/py', 'pip', 'install')
        assert c.env == {'MAX_JOBS': '2', 'A': '8.0;9.0'}
        assert {'--quiet', '--no-deps'} <= c.flags
        assert c.opt('--find-links') == ['/w'] and c.requirement_files() == ['f']
        assert c.pin('x') == '<2'


def run_install(tmp_path, **env_vars):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('ERPOSE_', 'TORCH_CUDA_ARCH_LIST', 'CUDA_HOME', 'PIP_CONSTRAINT'))}
    env.update(ERPOSE_DRY_RUN='1', ERPOSE_VENV=str(tmp_path / 'venv'),
               ERPOSE_WHEELS=str(tmp_path / 'no_wheels'))
    env.update(env_vars)
    return subprocess.run(['bash', INSTALL], env=env, capture_output=True, text=True,
                          timeout=120)


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


def mmcv_wheel_dir(tmp_path) -> str:
    """A folder holding a (CPU-ops) mmcv 2.1.0 wheel, as ERPOSE_WHEELS would."""
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    (wheels / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl').write_bytes(b'')
    return str(wheels)


STACK = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmpose', 'mmdeploy', 'onnxruntime')


def test_cpu_route_installs_the_documented_stack(tmp_path):
    wheels = mmcv_wheel_dir(tmp_path)
    res = run_install(tmp_path, ERPOSE_WHEELS=wheels)
    assert res.returncode == 0, res.stderr
    cmds = parse_commands(res.stdout)
    assert cmds[0].tool == 'venv' and cmds[0].python == 'python3'
    assert osp.normpath(cmds[0].venv_dir) == str(tmp_path / 'venv')
    torch = assert_common_install(cmds, str(tmp_path / 'venv' / 'bin' / 'python'))
    assert torch.pin('torch') == '==2.13.0'
    assert printed_constraints(res.stdout) == {'torch': '==2.13.0', 'setuptools': '<81'}
    pins = installed_pins(cmds)
    assert {k: pins.get(k) for k in map(canonicalize_name, STACK)} == readme_versions(*STACK)
    assert 'onnxruntime-gpu' not in pins
    ort = [c for c in cmds if osp.join(REQ, 'ort-cpu.txt') in c.requirement_files()]
    assert len(ort) == 1
    # mmcv: the prebuilt wheel from ERPOSE_WHEELS, no CUDA ops, no forced source build
    mmcv = installs(cmds, 'mmcv')
    assert mmcv.opt('--find-links') == [wheels]
    assert 'mmcv' not in mmcv.opt('--no-binary')
    assert mmcv.env.get('MMCV_WITH_OPS') == '1' and mmcv.env.get('MAX_JOBS') == '2'
    assert 'FORCE_CUDA' not in mmcv.env
    assert {'--no-deps', '--no-build-isolation'} <= mmcv.flags
    assert f'using prebuilt wheel from {wheels}' in res.stdout


def test_cpu_route_compiles_mmcv_without_a_wheel(tmp_path):
    res = run_install(tmp_path)
    assert res.returncode == 0, res.stderr
    mmcv = installs(parse_commands(res.stdout), 'mmcv')
    assert mmcv.pin('mmcv') == '==2.1.0'
    assert not mmcv.opt('--find-links') and mmcv.env.get('MMCV_WITH_OPS') == '1'
    assert 'no prebuilt wheel: compiling mmcv' in res.stdout


def test_no_venv_installs_into_the_current_python(tmp_path):
    """ERPOSE_NO_VENV=1: no venv, every pip call through the python3 on PATH (here a stand-in
    that imports nothing, so the dry run shows every step)."""
    bindir = tmp_path / 'curbin'
    bindir.mkdir()
    python3 = bindir / 'python3'
    python3.write_text('#!/bin/sh\nexit 1\n')
    python3.chmod(0o755)
    res = run_install(tmp_path, ERPOSE_NO_VENV='1', PATH=f'{bindir}:{os.environ["PATH"]}')
    assert res.returncode == 0, res.stderr
    cmds = parse_commands(res.stdout)
    assert not [c for c in cmds if c.tool == 'venv']
    assert not (tmp_path / 'venv').exists()
    assert_common_install(cmds, str(python3))
    pins = installed_pins(cmds)
    assert {k: pins.get(k) for k in map(canonicalize_name, STACK)} == readme_versions(*STACK)


@pytest.mark.parametrize('route', ['cpu', 'cu130'])
def test_erpose_torch_pins_that_torch_everywhere(tmp_path, route):
    env = dict(ERPOSE_TORCH='torch==2.12.1')
    if route != 'cpu':
        env.update(ERPOSE_CUDA=route, CUDA_HOME=fake_toolkit(tmp_path, '13.0'),
                   TORCH_CUDA_ARCH_LIST='9.0+PTX')
    res = run_install(tmp_path, **env)
    assert res.returncode == 0, res.stderr
    cmds = parse_commands(res.stdout)
    assert installs(cmds, 'torch').pin('torch') == '==2.12.1'
    # the constraint every pip call carries, so no dependency swaps torch
    assert printed_constraints(res.stdout)['torch'] == '==2.12.1'
    if route != 'cpu':
        assert installs(cmds, 'mmcv').env['TORCH_CUDA_ARCH_LIST'] == '9.0+PTX'


@pytest.mark.parametrize('route,torch_spec,cuda,ort_file,ort_pin', [
    ('cu130', '==2.13.0', '13.0', 'ort-gpu-cu13.txt', '==1.31.1'),
    ('cu128', '==2.8.0', '12.8', 'ort-gpu-cu12.txt', '==1.26.0'),
])
def test_cuda_route(tmp_path, route, torch_spec, cuda, ort_file, ort_pin):
    home = fake_toolkit(tmp_path, cuda)
    wheels = mmcv_wheel_dir(tmp_path)  # a CPU-ops wheel the CUDA route must not take
    res = run_install(tmp_path, ERPOSE_CUDA=route, CUDA_HOME=home, ERPOSE_WHEELS=wheels,
                      PATH=fake_nvidia_smi(tmp_path, ['9.0', '8.0', '9.0']), MAX_JOBS='16')
    assert res.returncode == 0, res.stderr
    cmds = parse_commands(res.stdout)
    torch = assert_common_install(cmds, str(tmp_path / 'venv' / 'bin' / 'python'))
    assert torch.pin('torch') == torch_spec
    assert printed_constraints(res.stdout) == {'torch': torch_spec, 'setuptools': '<81'}
    (deps,) = [c for c in cmds if osp.join(REQ, 'runtime.txt') in c.requirement_files()]
    assert set(deps.requirement_files()) == {osp.join(REQ, 'runtime.txt'), osp.join(REQ, ort_file)}
    assert file_pins(osp.join(REQ, ort_file)) == {'onnxruntime-gpu': ort_pin}
    pins = installed_pins(cmds)
    assert pins['onnxruntime-gpu'] == ort_pin and 'onnxruntime' not in pins
    rest = [p for p in STACK if p not in ('torch', 'onnxruntime')]
    assert {k: pins[k] for k in rest} == readme_versions(*rest)
    # mmcv: CUDA ops for the GPUs nvidia-smi lists, from source (never the CPU-ops wheel/cache)
    mmcv = installs(cmds, 'mmcv')
    assert mmcv.pin('mmcv') == '==2.1.0'
    assert mmcv.env.get('MMCV_WITH_OPS') == '1' and mmcv.env.get('FORCE_CUDA') == '1'
    assert sorted(mmcv.env['TORCH_CUDA_ARCH_LIST'].split(';')) == ['8.0', '9.0']
    assert mmcv.env.get('CUDA_HOME') == home and mmcv.env.get('MAX_JOBS') == '16'
    assert 'mmcv' in mmcv.opt('--no-binary') and not mmcv.opt('--find-links')
    assert {'--no-cache-dir', '--no-build-isolation', '--no-deps'} <= mmcv.flags
    (line,) = [ln for ln in res.stdout.splitlines()
               if ln.startswith(f'[install] CUDA route {route}:')]
    assert f'nvcc {cuda} ({home}/bin/nvcc)' in line


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
    assert parse_commands(res.stdout) == []  # refused before the venv or any pip command


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
    mmcv_wheel_dir(tmp_path)
    res = run_install(tmp_path, ERPOSE_CUDA='cu130', ERPOSE_MMCV_OPS='cpu',
                      ERPOSE_WHEELS=str(tmp_path / 'wheels'),
                      PATH=f'{osp.dirname(shutil.which("g++"))}:/usr/bin:/bin')
    assert res.returncode == 0, res.stderr
    assert 'mmcv with CPU ops only (no CUDA toolkit needed)' in res.stdout
    cmds = parse_commands(res.stdout)
    assert_common_install(cmds, str(tmp_path / 'venv' / 'bin' / 'python'))
    assert installs(cmds, 'torch').pin('torch') == '==2.13.0'
    pins = installed_pins(cmds)
    assert pins['onnxruntime-gpu'] == '==1.31.1' and 'onnxruntime' not in pins
    mmcv = installs(cmds, 'mmcv')
    assert mmcv.env.get('MMCV_WITH_OPS') == '1' and mmcv.env.get('FORCE_CUDA') == '0'
    assert mmcv.env.get('CUDA_VISIBLE_DEVICES') == ''
    assert 'mmcv' in mmcv.opt('--no-binary') and not mmcv.opt('--find-links')
    assert 'CUDA_HOME' not in mmcv.env and 'TORCH_CUDA_ARCH_LIST' not in mmcv.env


def test_requirements_split_keeps_onnxruntime_out_of_runtime():
    def pins(name):
        with open(osp.join(REQ, name)) as f:
            return [ln.split('#')[0].strip() for ln in f if ln.split('#')[0].strip()]
    runtime = pins('runtime.txt')
    assert not [p for p in runtime if p.startswith('onnxruntime')]
    assert 'onnx==1.23.2' in runtime
    assert pins('ort-cpu.txt') == ['onnxruntime==1.32.0']


def test_setup_extras_follow_the_requirement_files():
    # setup.py imported as the module ``setup`` from the repository root (the cwd)
    code = ('import setuptools; seen = {}; '
            'setuptools.setup = lambda **kw: seen.update(kw); '
            'import setup; '
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
