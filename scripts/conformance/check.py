"""Conformance checker: the project's rendered argvs against the REAL parsers of the pinned wheels.

Runs inside the cached venv that scripts/conformance/fetch.sh builds (sglang and sglang-router
installed from PyPI by version and sha256). Two commands, both print JSON on stdout:

  check.py choices                 value lists of the installed release (argparse choices of
                                   ServerArgs, the speculative-algorithm builtins, deprecated flag
                                   aliases and deprecated values with their new names, the router's
                                   policies) -> components/serving/sglangChoices.generated.json
  check.py verify VARIANTS.json    one verdict per variant: the argv goes through the real argparse
                                   parser (unknown flag, rejected choice, deprecation warning = refused),
                                   the parsed values are compared with what the project meant
                                   (`expected`, keyed by argparse dest), then SGLang's own GPU-free rules
                                   of ServerArgs.__post_init__ run (see RULE_STEPS)

What runs of ServerArgs.__post_init__ and what is skipped, and why:
  run     _handle_deprecated_args          deprecated values (tool-call parser qwen25 -> qwen, ...)
  run     _handle_model_specific_adjustments  the Qwen3.5 branch: attention-backend default on SM100,
                                           the mamba radix-cache strategy (auto -> extra_buffer/no_buffer)
                                           and its assertions (no_buffer vs trtllm_mha / overlap / page size,
                                           extra_buffer vs speculative draft tokens)
  run     _handle_page_size, speculative_hook.handle_speculative_decoding
                                           NEXTN -> EAGLE, trtllm_mha + topk > 1, draft-token rules
  skipped everything else: GPU memory sizing, CUDA-graph sizes, kernel/MoE backends, device probes,
          model download and the checkpoint's config.json. The host facts they would read are given
          instead: CUDA, SM100 (B200), architecture Qwen3_5MoeForConditionalGeneration (MHA, not MLA).
"""
import argparse
import contextlib
import io
import json
import logging
import re
import sys
import types
import enum

sys.path.insert(0, __import__("os").path.dirname(__file__))
import stubs  # noqa: E402

stubs.install()

QWEN35_ARCH = "Qwen3_5MoeForConditionalGeneration"


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(re.sub(r"\x1b\[[0-9;]*m", "", record.getMessage()))


@contextlib.contextmanager
def captured_warnings():
    handler = _Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.WARNING)
    try:
        yield handler.messages
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def _fake_model_config_module():
    """`sglang.srt.configs.model_config` reads the checkpoint's config.json (a Hub download) and pulls
    in every quantization kernel; the rules need only three names from it."""
    module = types.ModuleType("sglang.srt.configs.model_config")

    class AttentionArch(enum.Enum):
        MLA = enum.auto()
        MHA = enum.auto()

    module.AttentionArch = AttentionArch
    module.ModelConfig = object
    module.is_deepseek_dsa = lambda hf_config: False
    module.get_mimo_v2_fused_qkv_expected_tp_size = lambda *a, **k: None
    sys.modules[module.__name__] = module
    return module


def _server_args_module():
    import sglang.srt.server_args as sa

    return sa


def _server_parser(sa):
    parser = argparse.ArgumentParser(prog="sglang.launch_server")
    sa.ServerArgs.add_cli_args(parser)
    return parser


def _parse(parser, argv):
    """argparse on the real parser; its refusals (exit 2 with a message) become an error string."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser.parse_args(argv), None
    except SystemExit:
        lines = [l for l in err.getvalue().strip().splitlines() if l.strip()]
        return None, lines[-1] if lines else "argparse refused the argv"


def _same(expected, actual, dest):
    if dest == "model_loader_extra_config" and isinstance(actual, str):
        try:
            actual = json.loads(actual)
        except ValueError:
            return False
    if isinstance(expected, (int, float)) and not isinstance(expected, bool) and isinstance(actual, (int, float)):
        return float(expected) == float(actual)
    return expected == actual


def _simulate_b200(sa):
    for name in ("is_cuda", "is_sm100_supported", "is_blackwell_supported"):
        setattr(sa, name, lambda *a, **k: True)
    sa.get_device_sm = lambda *a, **k: 100


def verify_sglang(variant, sa, parser, spec_hook):
    problems, notes = [], []
    with captured_warnings() as warned:
        ns, error = _parse(parser, variant["argv"])
    if error is not None:
        return [f"argparse: {error}"], notes
    problems += [f"deprecation warning: {w}" for w in warned if "deprecat" in w.lower()]
    for key, want in variant.get("expected", {}).items():
        # Keyed by flag: the parser's own action says which field it fills (dests differ between releases).
        action = parser._option_string_actions.get(key)
        if action is None:
            problems.append(f"{key}: not a flag of this release")
            continue
        dest = action.dest
        if not _same(want, getattr(ns, dest, None), dest):
            problems.append(f"{key} ({dest}): the project meant {want!r}, the parser read {getattr(ns, dest, None)!r}")

    post_init = sa.ServerArgs.__post_init__
    sa.ServerArgs.__post_init__ = lambda self: None
    try:
        args = sa.ServerArgs.from_cli_args(ns)
    finally:
        sa.ServerArgs.__post_init__ = post_init
    mc = sys.modules["sglang.srt.configs.model_config"]

    class HfConfig:
        architectures = [variant.get("modelArch", QWEN35_ARCH)]
        quantization_config = None

    class ModelConfig:
        hf_config = HfConfig()
        attention_arch = mc.AttentionArch.MHA
        is_multimodal = False

    args.model_config = ModelConfig()
    args._quantization_explicitly_unset = False
    with captured_warnings() as warned:
        try:
            args._handle_deprecated_args()
            args._handle_model_specific_adjustments()
            args._handle_page_size()
            spec_hook(args)
        except (AssertionError, ValueError, NotImplementedError) as exc:
            problems.append(f"ServerArgs rule: {type(exc).__name__}: {exc}")
    problems += [f"deprecation warning: {w}" for w in warned if "deprecat" in w.lower()]
    notes += [w for w in warned if "deprecat" not in w.lower()]
    resolved = ("attention_backend", "page_size", "mamba_radix_cache_strategy", "mamba_scheduler_strategy", "speculative_algorithm")
    notes.append("resolved: " + " ".join(f"{name}={getattr(args, name)}" for name in resolved if hasattr(args, name)))
    return problems, notes


def verify_router(variant, parse_router_args):
    problems, notes = [], []
    err = io.StringIO()
    with captured_warnings() as warned:
        try:
            with contextlib.redirect_stderr(err):
                router_args = parse_router_args(variant["argv"])
        except SystemExit:
            lines = [l for l in err.getvalue().strip().splitlines() if l.strip()]
            return [f"argparse: {lines[-1] if lines else 'refused'}"], notes
        validate = getattr(router_args, "_validate_router_args", None)
        if validate is not None:
            try:
                validate()
            except (AssertionError, ValueError) as exc:
                problems.append(f"RouterArgs rule: {exc}")
    problems += [f"deprecation warning: {w}" for w in warned if "deprecat" in w.lower()]
    for field, want in variant.get("expected", {}).items():
        if not hasattr(router_args, field):
            problems.append(f"{field}: not a field of RouterArgs")
        elif not _same(want, getattr(router_args, field), field):
            problems.append(f"{field}: the project meant {want!r}, the router read {getattr(router_args, field)!r}")
    return problems, notes


def versions():
    from importlib.metadata import version

    return {"sglang": version("sglang"), "sglang-router": version("sglang-router")}


def cmd_verify(path):
    with open(path) as f:
        variants = json.load(f)["variants"]
    _fake_model_config_module()
    sa = _server_args_module()
    _simulate_b200(sa)
    from sglang.srt.arg_groups.speculative_hook import handle_speculative_decoding
    from sglang_router.launch_router import parse_router_args

    parser = _server_parser(sa)
    v = versions()
    results = []
    for variant in variants:
        if variant["component"] == "sglang":
            problems, notes = verify_sglang(variant, sa, parser, handle_speculative_decoding)
            component = f"sglang {v['sglang']}"
        else:
            problems, notes = verify_router(variant, parse_router_args)
            component = f"sglang-router {v['sglang-router']}"
        results.append({"name": variant["name"], "component": component, "ok": not problems, "problems": problems, "notes": notes})
    json.dump({"versions": v, "stubbed": sorted({m.split(".")[0] for m in stubs.stubbed_imports}), "results": results}, sys.stdout, indent=1)
    print()


def cmd_choices():
    _fake_model_config_module()
    sa = _server_args_module()
    parser = _server_parser(sa)
    by_dest = {}
    by_flag = {}
    deprecated_flags = {}
    flags = []
    for action in parser._actions:
        flags += [o for o in action.option_strings if o.startswith("--")]
        new_flag = getattr(action, "new_flag", None)
        if "Deprecated" in type(action).__name__:
            for option in action.option_strings:
                deprecated_flags[option] = new_flag
            continue
        if action.choices is not None and action.dest not in by_dest:
            by_dest[action.dest] = list(action.choices)
        for option in action.option_strings:
            if action.choices is not None:
                by_flag[option] = list(action.choices)

    mamba_flag = next(
        (f for f in ("--mamba-radix-cache-strategy", "--mamba-scheduler-strategy") if f in flags and f not in deprecated_flags), None
    )
    help_text = next(a.help for a in parser._actions if a.dest == "speculative_algorithm" and a.help)
    builtins = re.search(r"Builtins: ([A-Z0-9_, ]+)\.", help_text)
    speculative = [s.strip() for s in builtins.group(1).split(",")] if builtins else []

    # Deprecated VALUES are rewritten by ServerArgs._handle_deprecated_args with a warning: find them
    # by running that method on every choice of the fields it touches.
    deprecated_values = {}
    post_init = sa.ServerArgs.__post_init__
    sa.ServerArgs.__post_init__ = lambda self: None
    try:
        for dest, flag in (("tool_call_parser", "--tool-call-parser"), ("attention_backend", "--attention-backend")):
            for value in by_dest.get(dest, []):
                ns = parser.parse_args(["--model-path", "m", flag, value])
                args = sa.ServerArgs.from_cli_args(ns)
                with captured_warnings():
                    args._handle_deprecated_args()
                if getattr(args, dest) != value:
                    deprecated_values.setdefault(flag, {})[value] = getattr(args, dest)
    finally:
        sa.ServerArgs.__post_init__ = post_init

    from sglang_router.launch_router import parse_router_args  # noqa: F401 (the parser's module)
    from sglang_router.router_args import RouterArgs

    router_parser = argparse.ArgumentParser()
    RouterArgs.add_cli_args(router_parser, use_router_prefix=False)
    router_policies = next(list(a.choices) for a in router_parser._actions if a.dest == "policy")

    out = {
        "generatedBy": "scripts/conformance/regenerate-choices.sh (check.py choices); do not edit by hand",
        "versions": versions(),
        "toolCallParsers": by_dest.get("tool_call_parser", []),
        "reasoningParsers": by_dest.get("reasoning_parser", []),
        "attentionBackends": by_dest.get("attention_backend", []),
        # The strategy flag was renamed in 0.5.14 (--mamba-scheduler-strategy -> --mamba-radix-cache-strategy):
        # the current name is the one that is not a deprecated alias.
        "mambaStrategyFlag": mamba_flag,
        "mambaRadixCacheStrategies": by_flag.get(mamba_flag, []),
        "mambaSsmDtypes": by_dest.get("mamba_ssm_dtype", []),
        "kvCacheDtypes": by_dest.get("kv_cache_dtype", []),
        "speculativeAlgorithms": speculative,
        "deprecatedFlags": dict(sorted(deprecated_flags.items())),
        "deprecatedValues": deprecated_values,
        "serverFlags": sorted(set(flags)),
        "routerPolicies": router_policies,
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    if sys.argv[1:2] == ["choices"]:
        cmd_choices()
    elif sys.argv[1:2] == ["verify"] and len(sys.argv) == 3:
        cmd_verify(sys.argv[2])
    else:
        sys.exit("usage: check.py choices | check.py verify VARIANTS.json")
