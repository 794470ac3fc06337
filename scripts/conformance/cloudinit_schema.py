"""
Validates `user_data` documents with the REAL schema code of the cloud-init release on PYTHONPATH (a Debian
package unpacked by scripts/conformance/cloudinit-env.sh), and prints one JSON line: per document, the
errors and deprecations cloud-init reports.

What runs is what `cloud-init schema --config-file FILE` runs for each file (cloudinit.config.schema's
validate_cloudconfig_file: header detection, YAML, strict jsonschema validation of the merged schema of every
module, deprecation collection), without the command's first step (get_config_paths_from_args), which as root
looks for this machine's own datasource and writes /run/cloud-init. A second pass runs the check a booting
instance makes (validate_cloudconfig_schema with strict=False, as cloudinit/cmd/main.py does): whatever it
logs at WARNING or above is what leaves a boot "degraded" and `cloud-init status` exiting 2.

stdin: a JSON object {name: user_data text}. Exit 0 when every document was checked (valid or not).
"""
import io
import json
import logging
import os
import sys
import tempfile
import contextlib


def main():
    from cloudinit import version as ci_version
    from cloudinit.config.schema import (
        SchemaType,
        SchemaValidationError,
        get_schema,
        validate_cloudconfig_file,
        validate_cloudconfig_schema,
    )
    from cloudinit.log import loggers
    import yaml

    # DEPRECATED (35) and TRACE levels, as cloud-init's own entry point sets them up before any module logs.
    loggers.define_extra_loggers()
    docs = json.load(sys.stdin)
    schema = get_schema()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in docs.items():
            path = os.path.join(tmp, "user-data")
            with open(path, "w") as f:
                f.write(text)
            r = {"valid": False, "errors": [], "deprecations": [], "boot_warnings": [], "console": ""}
            console = io.StringIO()
            try:
                with contextlib.redirect_stdout(console):
                    performed = validate_cloudconfig_file(path, schema, SchemaType.CLOUD_CONFIG, False, None)
                r["valid"] = bool(performed)
                if not performed:
                    r["errors"].append("not validated (no #cloud-config header, empty, or jsonschema missing)")
            except SchemaValidationError as e:
                r["errors"] += [f"{p.path}: {p.message}" for p in (e.schema_errors or [])]
                r["deprecations"] += [f"{p.path}: {p.message}" for p in (e.schema_deprecations or [])]
            except Exception as e:  # RuntimeError: not a YAML dict, etc.
                r["errors"].append(f"{type(e).__name__}: {e}")
            r["console"] = console.getvalue()
            # `cloud-init schema` prints deprecations instead of raising: take them from its output.
            for line in r["console"].splitlines():
                if "deprecat" in line.lower():
                    r["deprecations"].append(line.strip())

            # The boot's own check: warnings in the log make the boot "degraded".
            records = []

            class Capture(logging.Handler):
                def emit(self, record):
                    if record.levelno >= logging.WARNING:
                        records.append(record.getMessage())

            handler = Capture()
            root = logging.getLogger()
            root.addHandler(handler)
            try:
                cfg = yaml.safe_load(text)
                if isinstance(cfg, dict):
                    validate_cloudconfig_schema(cfg, schema=schema, strict=False, log_details=True, log_deprecations=True)
            except Exception as e:
                records.append(f"{type(e).__name__}: {e}")
            finally:
                root.removeHandler(handler)
            r["boot_warnings"] = records
            results[name] = r
    sys.stdout.write(json.dumps({"component": "cloud-init", "version": ci_version.version_string(), "results": results}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
