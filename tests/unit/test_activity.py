"""Co-runner tracking: an execution learns every other model whose execution overlapped it."""

from services.worker.activity import DeviceActivity


def test_overlaps_in_both_directions_and_not_self():
    activity = DeviceActivity()
    a = activity.begin("resnet")
    b = activity.begin("mlp")  # starts while resnet runs
    assert activity.end(b) == {"resnet"}
    c = activity.begin("bert")  # starts after mlp ended, while resnet still runs
    assert activity.end(a) == {"mlp", "bert"}
    assert activity.end(c) == {"resnet"}
    d = activity.begin("mlp")
    assert activity.end(d) == frozenset()


def test_same_model_twice_is_not_its_own_co_runner():
    activity = DeviceActivity()
    a, b = activity.begin("m"), activity.begin("m")
    assert activity.end(a) == frozenset() and activity.end(b) == frozenset()
