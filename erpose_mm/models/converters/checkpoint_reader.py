"""Read the tensors of a foreign checkpoint without importing the code that wrote it.

Ultralytics ``.pt`` files pickle whole ``nn.Module`` trees whose classes live in the
``ultralytics`` package (``ultralytics.nn.tasks.PoseModel``, ``...modules.block.C2f``);
MMEngine checkpoints pickle ``mmengine`` objects in their ``meta`` / ``message_hub``.
Unpickling them normally needs those packages installed and runs whatever code the pickle
names. :func:`read_checkpoint` instead uses an unpickler that

- rebuilds tensors, ``OrderedDict`` and the ``torch.nn`` layer classes (their state is
  plain data), and
- replaces every other class or function the file names by an inert stand-in that only
  keeps the arguments / state it is given (nothing of the named code runs).

The state dict of a pickled module tree is then collected from the tree's ``_parameters``
and ``_buffers``, with the same dotted names ``module.state_dict()`` gives.
"""
import pickle
import types
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
import torch.nn as nn


class InertStandIn:
    """Stand-in for a class or function a checkpoint names but the reader does not import.

    Instances keep the constructor arguments (``_args``) and the unpickled state (in their
    ``__dict__`` when it is a dict); ``_qualname`` is the name the pickle used.
    """

    _qualname = '?'

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__['_args'] = args
        self.__dict__['_kwargs'] = kwargs

    def __setstate__(self, state: Any) -> None:
        # (dict_state, slots_state) is what objects with __slots__ pickle
        if isinstance(state, tuple) and len(state) == 2 and all(
                s is None or isinstance(s, dict) for s in state):
            for s in state:
                self.__dict__.update(s or {})
        elif isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__['_state'] = state

    # lists / dicts pickled as subclasses call these while loading
    def append(self, item: Any) -> None:
        self.__dict__.setdefault('_items', []).append(item)

    def extend(self, items: Any) -> None:
        self.__dict__.setdefault('_items', []).extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__.setdefault('_mapping', {})[key] = value

    def __repr__(self) -> str:
        return f'<inert {self._qualname}>'


_STAND_INS: Dict[str, type] = {}
_TORCH_REBUILD = {'_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_parameter',
                  '_rebuild_parameter_with_state', '_rebuild_device_tensor_from_numpy'}
# plain data types only: no callables that could act (getattr, eval, exec, open, ...)
_BUILTIN_TYPES = {'set', 'frozenset', 'slice', 'range', 'complex', 'bytearray', 'list',
                  'dict', 'tuple', 'int', 'float', 'bool', 'str', 'bytes'}


def _stand_in(module: str, name: str) -> type:
    qualname = f'{module}.{name}'
    if qualname not in _STAND_INS:
        _STAND_INS[qualname] = type(name, (InertStandIn,), {'_qualname': qualname})
    return _STAND_INS[qualname]


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only tensor-rebuilding code and ``torch.nn`` layers."""

    def find_class(self, module: str, name: str) -> Any:
        if module == 'collections' and name == 'OrderedDict':
            return OrderedDict
        if module in ('builtins', '__builtin__') and name in _BUILTIN_TYPES:
            return getattr(__import__('builtins'), name)
        if module == 'torch._utils' and name in _TORCH_REBUILD:
            return getattr(torch._utils, name)
        if module == 'torch' and name == 'Size':
            return torch.Size
        if module == 'torch' and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module.startswith('torch.nn.modules.'):
            obj = getattr(__import__(module, fromlist=[name]), name, None)
            if isinstance(obj, type) and issubclass(obj, nn.Module):
                return obj
        return _stand_in(module, name)


# torch.load takes a "pickle module": anything with an Unpickler (and load) attribute
_RESTRICTED_PICKLE = types.SimpleNamespace(
    __name__='erpose_restricted_pickle', Unpickler=RestrictedUnpickler,
    load=lambda f, **kw: RestrictedUnpickler(f, **kw).load())


@dataclass
class ForeignCheckpoint:
    """Tensors and descriptive fields read from a checkpoint file.

    Attributes:
        path: the file.
        state_dict: name -> tensor, as the source framework's ``state_dict()`` names them.
        framework: ``'ultralytics'`` (a pickled ``model`` / ``ema`` module tree),
            ``'mmengine'`` (a ``state_dict`` entry) or ``'state_dict'`` (a bare mapping).
        layer_types: Ultralytics only: the class of each top-level layer, e.g.
            ``'ultralytics.nn.modules.block.C2f'`` (the pickled ``type`` attribute).
        yaml: Ultralytics only: the model's yaml dict (``nc``, ``kpt_shape``, ``scale``, ...).
        head_strides: Ultralytics only: the strides of the detection / pose head levels.
    """

    path: str
    state_dict: Dict[str, torch.Tensor]
    framework: str
    layer_types: List[str] = field(default_factory=list)
    yaml: Dict[str, Any] = field(default_factory=dict)
    head_strides: Optional[List[float]] = None


def module_tree_state_dict(root: Any) -> Dict[str, torch.Tensor]:
    """``state_dict()`` of a pickled module tree whose classes may be stand-ins.

    Walks ``_modules`` / ``_parameters`` / ``_buffers`` in each object's ``__dict__``;
    non-persistent buffers are left out, as ``nn.Module.state_dict`` does.
    """
    out: Dict[str, torch.Tensor] = OrderedDict()

    def walk(obj: Any, prefix: str) -> None:
        d = getattr(obj, '__dict__', {})
        for name, p in (d.get('_parameters') or {}).items():
            if p is not None:
                out[prefix + name] = p.detach()
        skip = d.get('_non_persistent_buffers_set')
        skip = skip if isinstance(skip, (set, frozenset)) else set()
        for name, b in (d.get('_buffers') or {}).items():
            if b is not None and name not in skip:
                out[prefix + name] = b.detach()
        for name, m in (d.get('_modules') or {}).items():
            if m is not None:
                walk(m, f'{prefix}{name}.')

    walk(root, '')
    return out


def _ultralytics_fields(model: Any) -> Dict[str, Any]:
    """Layer types, yaml and head strides of a pickled Ultralytics model (stand-in)."""
    d = model.__dict__
    seq = (d.get('_modules') or {}).get('model')
    layers = list((getattr(seq, '__dict__', {}).get('_modules') or {}).values())
    types_ = [str(getattr(m, '__dict__', {}).get('type', type(m).__module__ + '.'
                                                   + type(m).__name__)) for m in layers]
    strides = None
    if layers:
        s = getattr(layers[-1], '__dict__', {}).get('stride')
        if isinstance(s, torch.Tensor) and s.numel():
            strides = [float(v) for v in s.flatten()]
    yaml = d.get('yaml') if isinstance(d.get('yaml'), dict) else {}
    return dict(layer_types=types_, yaml=yaml, head_strides=strides)


def read_checkpoint(path: str) -> ForeignCheckpoint:
    """Read the tensors of an Ultralytics, MMEngine/MMYOLO or plain state-dict file.

    Nothing the file names is imported or run except tensor rebuilding and ``torch.nn``
    layer classes (see the module docstring). Tensors are returned as stored (an
    Ultralytics release is fp16).

    Raises:
        ValueError: the file holds no recognisable tensors (one line, naming the file).
    """
    try:
        obj = torch.load(path, map_location='cpu', pickle_module=_RESTRICTED_PICKLE,
                         weights_only=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
        raise ValueError(f'{path}: not a PyTorch checkpoint ({type(e).__name__}: '
                         f'{str(e).splitlines()[0] if str(e) else ""})') from None
    if isinstance(obj, dict):
        for key in ('ema', 'model'):  # Ultralytics: the EMA when present, else the model
            tree = obj.get(key)
            if isinstance(getattr(tree, '__dict__', {}).get('_modules'), dict):
                sd = module_tree_state_dict(tree)
                if sd:
                    return ForeignCheckpoint(path, sd, 'ultralytics', **_ultralytics_fields(tree))
        if isinstance(obj.get('state_dict'), dict):
            sd = {k: v for k, v in obj['state_dict'].items() if isinstance(v, torch.Tensor)}
            return ForeignCheckpoint(path, sd, 'mmengine')
        sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if sd:
            return ForeignCheckpoint(path, sd, 'state_dict')
    elif isinstance(getattr(obj, '__dict__', {}).get('_modules'), dict):
        return ForeignCheckpoint(path, module_tree_state_dict(obj), 'ultralytics',
                                 **_ultralytics_fields(obj))
    raise ValueError(f'{path}: no model tensors found (expected an Ultralytics .pt with a '
                     f'"model"/"ema" entry, an MMEngine checkpoint with "state_dict", or a '
                     f'state dict)')
