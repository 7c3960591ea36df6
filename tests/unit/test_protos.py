"""The committed generated code matches protos/ (regenerate with `make protos`)."""

from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("fleet_pb2.py", "fleet_pb2.pyi", "fleet_pb2_grpc.py")


def test_generated_code_is_current(tmp_path):
    proto = "protos/interfleet/proto/fleet.proto"
    args = [
        "protoc",
        f"-I{ROOT / 'protos'}",
        f"--python_out={tmp_path}",
        f"--pyi_out={tmp_path}",
        f"--grpc_python_out={tmp_path}",
        str(ROOT / proto),
    ]
    assert protoc.main(args) == 0
    for name in GENERATED:
        fresh = (tmp_path / "interfleet" / "proto" / name).read_text()
        committed = (ROOT / "interfleet" / "proto" / name).read_text()
        assert fresh == committed, f"interfleet/proto/{name} is stale: run `make protos`"
