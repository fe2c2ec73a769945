"""Regenerate, or check, the Python code generated from protos/camfleet/v1/*.proto."""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PROTO_DIR = ROOT / "camfleet" / "v1"
SUFFIXES = ("_pb2.py", "_pb2.pyi")


def _protoc(out_dir: Path) -> None:
    # grpc_tools bundles protoc, so the output depends only on the pinned grpcio-tools version.
    import importlib.resources

    from grpc_tools import protoc  # type: ignore[import-untyped]

    well_known = importlib.resources.files("grpc_tools") / "_proto"
    protos = sorted(str(p.relative_to(ROOT)) for p in PROTO_DIR.glob("*.proto"))
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")


def generated_names() -> list[str]:
    return sorted(p.stem + s for p in PROTO_DIR.glob("*.proto") for s in SUFFIXES)


def stale_files() -> list[str]:
    """Names of generated files that differ from what the .proto files produce now."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _protoc(out)
        stale = []
        for name in generated_names():
            fresh = out / "camfleet" / "v1" / name
            current = PROTO_DIR / name
            if not current.exists() or not filecmp.cmp(fresh, current, shallow=False):
                stale.append(name)
        return stale


def generate() -> None:
    _protoc(ROOT)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="fail if the committed generated code is stale")
    args = ap.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print(
                f"stale generated code: {', '.join(stale)}; run `python -m protos.codegen`", file=sys.stderr
            )
            return 1
        print("generated protobuf code is up to date")
        return 0
    generate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
