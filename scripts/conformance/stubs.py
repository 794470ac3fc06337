"""Import stubs for running SGLang's and sglang-router's argument parsers without a GPU.

The conformance checker imports the REAL `sglang.srt.server_args` and `sglang_router.launch_router`
from the pinned wheels (installed with `--no-deps`). Their import chains reach GPU and serving stacks
that the parsers never call; those top-level modules are replaced by permissive stand-ins:

  torch, torchvision, triton     GPU stack (~2 GB of CUDA wheels); the parsers read only names and
                                 `torch.__version__` (stubbed as the wheel's pinned 2.11.0); torch.npu/
                                 hpu/xpu/musa are absent so the platform probes answer "no such device"
  transformers, huggingface_hub, model-config classes registered with AutoConfig at import time; the
  safetensors, sentencepiece,    checker never loads a checkpoint (the model's facts are given, see
  einops                         check.py: `sglang.srt.configs.model_config` is replaced too)
  IPython, aiohttp, zmq,         servers and notebooks: imported at module level, unused by argparse
  fastapi, uvicorn, setproctitle

Everything else (pydantic, openai's types, partial_json_parser, numpy, ...) is the real package, pinned
by version and sha256 in requirements/. A stand-in never answers a parser question: the choices,
defaults, actions and rules the checker reports all come from the wheels' own code.
"""
import abc
import importlib.abc
import importlib.machinery
import sys
import types

STUBBED_ROOTS = (
    "torch", "torchvision", "triton",
    "transformers", "huggingface_hub", "safetensors", "sentencepiece", "einops",
    "IPython", "aiohttp", "zmq", "fastapi", "uvicorn", "setproctitle",
)
# Attributes that must NOT exist, so that feature probes (`hasattr(torch, "npu")`) say "absent".
ABSENT = {"torch.npu", "torch.hpu", "torch.xpu", "torch.musa", "triton.runtime.driver.active"}
VERSIONS = {"torch": "2.11.0"}
stubbed_imports: list[str] = []

_OPS = (
    "neg pos abs invert add radd sub rsub mul rmul truediv rtruediv floordiv rfloordiv mod rmod pow rpow "
    "and rand xor rxor lshift rlshift rshift rrshift matmul rmatmul or ror"
).split()


class StubMeta(abc.ABCMeta):
    """A stand-in is a class: it can be called, subclassed (also beside ABCs), indexed, combined."""

    def __getattr__(cls, name):
        if name == "__func__":  # a classmethod's function (`PretrainedConfig.from_dict.__func__`)
            return cls
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if f"{cls.__qualname__}.{name}" in ABSENT:
            raise AttributeError(name)
        return make_stub(f"{cls.__qualname__}.{name}")

    def __call__(cls, *args, **kwargs):
        if cls.__dict__.get("_is_stub"):
            # Used as a bare decorator (`@torch.compile`): hand back the decorated function.
            if len(args) == 1 and callable(args[0]) and not kwargs:
                return args[0]
            return make_stub(f"{cls.__qualname__}()")
        return super().__call__(*args, **kwargs)

    def register(cls, *args, **kwargs):  # AutoConfig.register(...), not ABCMeta.register
        return args[-1] if args else cls

    def __bool__(cls): return False
    def __iter__(cls): return iter(())
    def __len__(cls): return 0
    def __getitem__(cls, key): return cls
    def __setitem__(cls, key, value): pass
    def __contains__(cls, key): return False
    def __int__(cls): return 0
    def __index__(cls): return 0
    def __float__(cls): return 0.0
    def __lt__(cls, other): return False
    def __gt__(cls, other): return False
    def __le__(cls, other): return False
    def __ge__(cls, other): return False
    def __hash__(cls): return id(cls)
    def __enter__(cls): return cls
    def __exit__(cls, *exc): return False


for _op in _OPS:
    setattr(StubMeta, f"__{_op}__", lambda cls, *a: cls)


def make_stub(qualname: str) -> type:
    return StubMeta(
        qualname.rsplit(".", 1)[-1], (),
        {"_is_stub": True, "__qualname__": qualname, "__init_subclass__": classmethod(lambda cls, **kw: None)},
    )


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if f"{self.__name__}.{name}" in ABSENT:
            raise AttributeError(name)
        return make_stub(f"{self.__name__}.{name}")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] not in STUBBED_ROOTS:
            return None
        stubbed_imports.append(fullname)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        module.__version__ = VERSIONS.get(spec.name, "0.0.0")
        return module

    def exec_module(self, module):
        pass


def install() -> None:
    if not any(isinstance(f, _StubFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _StubFinder())
