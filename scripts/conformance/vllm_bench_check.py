"""
Feeds `vllm bench serve` argv lists to the REAL parser and pre-flight code of the vllm release unpacked at
$VLLM_SRC (the pinned wheel's own .py files), and prints one JSON object per argv: what vllm parsed, and what
it would send, or the error it refused with.

Per argv (stdin: a JSON list of argv lists, each starting after `vllm`, i.e. with "bench", "serve"):
  1. the `vllm` CLI's parser tree (a FlexibleArgumentParser with the `bench` subcommand and its `serve`
     subparser, built the way vllm/entrypoints/cli/main.py and cli/benchmark/main.py build it), with
     BenchmarkServingSubcommand.add_cli_args: unknown flags and rejected choices fail here;
  2. vllm.benchmarks.serve.main_async, unchanged, i.e. every check it makes before the first request
     (ramp-up arguments, headers, dataset name, the random dataset's own checks while it samples the prompts,
     forcing ignore_eos, --goodput, sampling parameters vs backend, backend name), up to the readiness probe,
     where the real request function of the chosen backend runs its URL check (`URL must end with ...`) and
     builds the JSON body it would POST. The POST itself never happens (see FakeSession below).

Stubbed, because the parser and these checks never call them (each is only imported at module level by a
file on the path, or used for other datasets / real runs):
  - torch, transformers: model execution and HF tokenizers; the random dataset here gets FakeTokenizer.
  - vllm/__init__.py and vllm/entrypoints/cli/__init__.py are not executed (the package paths are set up
    without them): the first imports torch through vllm.env_override, the second imports every other `vllm`
    subcommand (serve, launch, ... which need torch/fastapi). The `bench serve` modules themselves are real.
  - vllm.tokenizers: the HF tokenizer registry (downloads a tokenizer); replaced by FakeTokenizer, a
    whitespace tokenizer with a fixed vocabulary, enough for RandomDataset's length and vocabulary checks.
  - vllm.lora.utils, vllm.multimodal: LoRA adapter paths and image helpers, used by other datasets only.
  - huggingface_hub, PIL, zmq: dataset download, images, and ZMQ sockets (imported by network_utils, which
    the CLI only uses for --host/--port joining): none is called for the random dataset.
  - aiohttp.ClientSession (FakeSession): so the run stops at the first request instead of sending it.
  - the request functions in ASYNC_REQUEST_FUNCS are wrapped: the first call (readiness probe, warm-up or the
    run's first request) runs the real function once against FakeSession (so its URL check and request body
    are vllm's own) and stops the run.
"""
import argparse
import asyncio
import contextlib
import importlib.abc
import importlib.machinery
import io
import json
import logging
import math
import os
import sys
import traceback
import types
import warnings

STUBBED_MODULES = [
    "torch",
    "transformers",
    "vllm.tokenizers",
    "vllm.lora.utils",
    "vllm.multimodal",
    "huggingface_hub",
    "PIL",
    "zmq",
]


class _StubMeta(type):
    """A class whose every attribute is another such class: subclassable, callable, indexable."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _StubMeta(name, (), {})

    def __getitem__(cls, item):
        return cls

    def __or__(cls, other):
        return cls

    def __ror__(cls, other):
        return cls


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _StubMeta(name, (), {})


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if any(name == s or name.startswith(s + ".") for s in STUBBED_MODULES):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


def _package_without_init(name: str, directory: str) -> None:
    pkg = types.ModuleType(name)
    pkg.__path__ = [directory]
    sys.modules[name] = pkg


class FakeTokenizer:
    """Whitespace tokenizer over words w0..w{V-1}: decode/encode round-trip, as RandomDataset needs."""

    vocab_size = 32000
    all_special_ids = [0, 1, 2]

    def num_special_tokens_to_add(self):
        return 0

    def decode(self, ids, **_):
        return " ".join(f"w{int(i)}" for i in ids)

    def encode(self, text, add_special_tokens=False, **_):
        return [int(t[1:]) for t in text.split() if t.startswith("w") and t[1:].isdigit()]

    def __call__(self, text, **kw):
        return types.SimpleNamespace(input_ids=self.encode(text))

    def __len__(self):
        return self.vocab_size


class PreflightDone(Exception):
    pass


class _Sent(Exception):
    pass


class FakeSession:
    """Records the first POST and fails it: nothing leaves the process."""

    last = None

    def __init__(self, *a, **kw):
        pass

    def post(self, url=None, json=None, headers=None, **kw):
        FakeSession.last = {"url": url, "json": json}
        raise _Sent()

    def get(self, url=None, **kw):
        # /metrics (speculative-decoding counters) before the run: "not available", as vllm reads a failure.
        import aiohttp

        raise aiohttp.ClientConnectionError("no server: conformance check")

    async def close(self):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *a):
        return False


def setup(src: str):
    sys.meta_path.insert(0, _StubFinder())
    sys.path.insert(0, src)
    _package_without_init("vllm", os.path.join(src, "vllm"))
    _package_without_init("vllm.entrypoints", os.path.join(src, "vllm", "entrypoints"))
    _package_without_init("vllm.entrypoints.cli", os.path.join(src, "vllm", "entrypoints", "cli"))
    _package_without_init("vllm.entrypoints.cli.benchmark", os.path.join(src, "vllm", "entrypoints", "cli", "benchmark"))
    import aiohttp  # real: TCPConnector is built by benchmark()

    import vllm.benchmarks.serve as serve
    from vllm.entrypoints.cli.benchmark.serve import BenchmarkServingSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    aiohttp.ClientSession = FakeSession
    serve.get_tokenizer = lambda *a, **kw: FakeTokenizer()

    # The first request of the run (readiness probe, warm-up or measured: whichever comes first) runs the real
    # request function once against FakeSession, then the run stops.
    def stop_after_first(real):
        async def wrapped(request_func_input, session, pbar=None):
            out = await real(request_func_input=request_func_input, session=FakeSession())
            raise PreflightDone(out)

        return wrapped

    table = serve.ASYNC_REQUEST_FUNCS
    for name in list(table):
        table[name] = stop_after_first(table[name])
    return serve, BenchmarkServingSubcommand, FlexibleArgumentParser


def build_parser(BenchmarkServingSubcommand, FlexibleArgumentParser):
    parser = FlexibleArgumentParser(description="vLLM CLI")
    subparsers = parser.add_subparsers(required=False, dest="subparser")
    bench = subparsers.add_parser("bench")
    bench_sub = bench.add_subparsers(required=True, dest="bench_type")
    serve_parser = bench_sub.add_parser("serve")
    BenchmarkServingSubcommand.add_cli_args(serve_parser)
    return parser


def _jsonable(v):
    """Plain JSON: non-finite floats (vllm's default --request-rate is inf) as "inf"/"-inf"/"nan", others by repr."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    try:
        json.dumps(v, allow_nan=False)
        return v
    except (TypeError, ValueError):
        return repr(v)


def check(serve, parser, argv):
    result = {"argv": argv, "ok": False, "stage": "parse", "error": None, "warnings": [], "parsed": None, "request": None}
    log_records = []

    class Capture(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                log_records.append(record.getMessage())

    handler = Capture()
    logging.getLogger().addHandler(handler)
    logging.getLogger("vllm").addHandler(handler)
    console = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
            warnings.simplefilter("always")
            try:
                args = parser.parse_args(argv)
            except SystemExit as e:
                result["error"] = f"argparse exit {e.code}: " + console.getvalue().strip().splitlines()[-1] if console.getvalue().strip() else f"argparse exit {e.code}"
                return result
            result["parsed"] = {k: _jsonable(v) for k, v in vars(args).items() if k != "dispatch_function"}
            result["stage"] = "preflight"
            FakeSession.last = None
            try:
                asyncio.run(serve.main_async(args))
                result["error"] = "main_async returned without reaching the first request"
            except PreflightDone:
                result["ok"] = True
                result["stage"] = "request"
                last = FakeSession.last or {}
                result["request"] = {"url": last.get("url"), "body": {k: _jsonable(v) for k, v in (last.get("json") or {}).items() if k not in ("prompt", "messages")}}
            except SystemExit as e:
                result["error"] = f"exit {e.code}: {console.getvalue().strip()[-500:]}"
            except Exception as e:  # the refusal vllm itself raised
                result["error"] = f"{type(e).__name__}: {e}"
            # After the run: ignore_eos as main_async left it (it forces it for the random dataset).
            result["effective"] = {"ignore_eos": bool(getattr(args, "ignore_eos", False)), "backend": args.backend}
        text_warnings = [ln.strip() for ln in console.getvalue().splitlines() if ln.strip().upper().startswith("WARNING")]
        result["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught] + log_records + text_warnings
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("vllm").removeHandler(handler)
    return result


def main():
    src = os.environ.get("VLLM_SRC")
    if not src or not os.path.isdir(os.path.join(src, "vllm", "benchmarks")):
        print(json.dumps({"fatal": f"VLLM_SRC={src!r} does not hold an unpacked vllm wheel"}))
        return 2
    # vllm's logger writes to the process's stdout: keep fd 1 for the JSON result only.
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve, sub, fap = setup(src)
    dist_version = None
    for name in os.listdir(src):
        if name.startswith("vllm-") and name.endswith(".dist-info"):
            dist_version = name[len("vllm-"):-len(".dist-info")]
    parser = build_parser(sub, fap)
    cases = json.load(sys.stdin)
    out = {"component": "vllm", "version": dist_version, "stubbed": STUBBED_MODULES, "results": [check(serve, parser, argv) for argv in cases]}
    result_out.write(json.dumps(out, allow_nan=False) + "\n")
    result_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
