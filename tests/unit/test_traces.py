"""Trace files: the simple CSV and the Azure Functions 2019 per-minute format, good and malformed."""

import numpy as np
import pytest

from loadgen.arrivals import ArrivalSpec
from loadgen.errors import LoadgenError
from loadgen.schedule import build_schedule
from loadgen.traces import read_azure_trace, read_csv_trace


def test_csv_trace_with_header_comments_and_slo(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp_s,model,slo_ms\n# warm-up\n0.5,mlp,20\n0.1,tiny_cnn\n\n2.0,mlp,\n")
    trace = read_csv_trace(path)
    assert trace.times.tolist() == [0.1, 0.5, 2.0]
    assert trace.models == ["tiny_cnn", "mlp", "mlp"]
    assert np.isnan(trace.slo_ms[0]) and trace.slo_ms[1] == 20


@pytest.mark.parametrize(
    "body, message",
    [
        ("0.1,mlp\nsoon,mlp\n", "line 2: timestamp 'soon' is not a number"),
        ("0.1\n", "line 1: expected timestamp_s,model"),
        ("0.1,mlp\n-3,mlp\n", "line 2: timestamp must be a finite number >= 0"),
        ("0.1,mlp,fast\n", "line 1: slo_ms 'fast' is not a number"),
        ("1,\n", "line 1: empty model name"),
        ("timestamp_s,model\n", "holds no requests"),
    ],
)
def test_malformed_csv_names_the_line(tmp_path, body, message):
    path = tmp_path / "t.csv"
    path.write_text(body)
    with pytest.raises(LoadgenError, match=message):
        read_csv_trace(path)


def test_missing_trace_file_is_a_clear_error(tmp_path):
    with pytest.raises(LoadgenError, match="cannot read trace"):
        read_csv_trace(tmp_path / "absent.csv")


def azure_file(tmp_path, rows, minutes=3):
    header = "HashOwner,HashApp,HashFunction,Trigger," + ",".join(str(m) for m in range(1, minutes + 1))
    path = tmp_path / "invocations_per_function_md.anon.d01.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_azure_functions_map_to_models_by_popularity(tmp_path):
    path = azure_file(tmp_path, ["o,a,rare,http,1,0,0", "o,a,busy,timer,5,3,2", "o,b,mid,queue,0,4,0"])
    trace = read_azure_trace(path, ["first", "second"], np.random.default_rng(0))
    # busy (10) -> first, mid (4) -> second, rare (1) -> first again (cycling)
    assert trace.models.count("first") == 11 and trace.models.count("second") == 4
    minute = (trace.times // 60).astype(int)
    assert np.bincount(minute).tolist() == [6, 7, 2]  # per-minute totals preserved
    assert (np.diff(trace.times) >= 0).all()


def test_azure_replay_with_time_scale_and_duration(tmp_path):
    path = azure_file(tmp_path, ["o,a,f,http,30,30,30"])
    schedule = build_schedule(
        ArrivalSpec.parse(f"azure:path={path}"),
        {"mlp": 1.0},
        lambda m: 5.0,
        duration=12,
        seed=1,
        time_scale=0.1,
    )  # 3 minutes compressed to 18 s, cut at 12 s
    assert len(schedule) == 60 and schedule.times.max() < 12 and schedule.models == ("mlp",)


@pytest.mark.parametrize(
    "rows, header_ok, message",
    [
        (["o,a,f,http,1,2"], True, "line 2: 6 fields, the header has 7"),
        (["o,a,f,http,1,x,2"], True, "line 2: invocation counts must be whole numbers"),
        (["o,a,f,http,1,-1,2"], True, "line 2: invocation counts must be >= 0"),
        ([], False, "line 1: expected the Azure Functions header"),
    ],
)
def test_malformed_azure_names_the_line(tmp_path, rows, header_ok, message):
    path = azure_file(tmp_path, rows)
    if not header_ok:
        path.write_text("owner,app,function,trigger,1\n")
    with pytest.raises(LoadgenError, match=message):
        read_azure_trace(path, ["m"], np.random.default_rng(0))
