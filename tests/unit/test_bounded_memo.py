"""The bounded memo the request path's small pure functions sit behind."""

from interfleet.memo import BoundedMemo


def test_a_value_is_computed_once_and_the_memo_starts_over_when_full():
    calls = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    memo = BoundedMemo(square, size=2)
    assert (memo[3], memo[3], memo[4]) == (9, 9, 16)
    assert calls == [3, 4]
    assert memo[5] == 25  # full: cleared, then 5 computed
    assert dict(memo) == {5: 25}
    assert memo[3] == 9 and calls == [3, 4, 5, 3]
