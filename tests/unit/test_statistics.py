"""Fleet-wide ModelStatistics are the sums of the workers' statistics."""

from tritonclient.grpc import service_pb2

from router.statistics import merge_statistics


def stats(name, count, success_ns, batch_sizes, last):
    s = service_pb2.ModelStatistics(
        name=name, version="1", inference_count=count, execution_count=count, last_inference=last
    )
    s.inference_stats.success.count, s.inference_stats.success.ns = count, success_ns
    for size in batch_sizes:
        entry = s.batch_stats.add(batch_size=size)
        entry.compute_infer.count, entry.compute_infer.ns = 1, 100 * size
    return s


def test_merge_sums_per_model_and_batch_size():
    merged = merge_statistics(
        [stats("a", 2, 10, [1, 4], 5), stats("a", 3, 20, [4], 9), stats("b", 1, 1, [], 1)]
    )
    assert [m.name for m in merged] == ["a", "b"]
    a = merged[0]
    assert a.inference_count == 5 and a.inference_stats.success.ns == 30 and a.last_inference == 9
    assert [(b.batch_size, b.compute_infer.count, b.compute_infer.ns) for b in a.batch_stats] == [
        (1, 1, 100),
        (4, 2, 800),
    ]
