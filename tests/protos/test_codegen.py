"""The generated protobuf code matches the .proto files, and editing a .proto without regenerating fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import protos.codegen as codegen

REPO = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh() -> None:
    assert codegen.stale_files() == []


def test_generated_messages_import_in_a_fresh_interpreter() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from protos.camfleet.v1 import camfleet_pb2 as pb; print(pb.Command.DESCRIPTOR.full_name)",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "camfleet.v1.Command"


def test_stale_check_fails_after_an_edit(tmp_path: Path) -> None:
    copy = tmp_path / "protos"
    shutil.copytree(REPO / "protos", copy, ignore=shutil.ignore_patterns("__pycache__"))
    proto = copy / "camfleet" / "v1" / "camfleet.proto"
    proto.write_text(proto.read_text().replace("message Reboot {}", "message Reboot {\n  bool force = 1;\n}"))
    res = subprocess.run(
        [sys.executable, "-m", "protos.codegen", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1
    assert "stale generated code" in res.stderr
