"""What a file's delta step gathers chunk after chunk (``bridge.engine.prints``): the new
fingerprints, a key given again taking its last one, and the keys seen for ``gone``, kept as
Arrow text rather than Python strings."""

from __future__ import annotations

import pickle

import pytest

from bridge.engine import prints as prints_module
from bridge.engine.prints import Prints, SeenKeys


def gathered(*chunks: dict[str, str]) -> Prints:
    prints = Prints()
    for chunk in chunks:
        prints.update(chunk)
    return prints


def test_a_key_given_again_takes_its_last_fingerprint_as_a_dict_would() -> None:
    chunks = [{"A": "1", "B": "1"}, {}, {"C": "1", "A": "2"}, {"B": "3", "é\x1f\n": "\x00"}]
    expected: dict[str, str] = {}
    for chunk in chunks:
        expected.update(chunk)
    got = gathered(*chunks)
    assert got.as_dict() == expected
    assert sorted(got) == sorted(expected)
    assert len(got) == 6  # the pairs given: at least the keys there are
    assert sorted(pickle.loads(pickle.dumps(got)).items()) == sorted(expected.items())


def test_prints_are_given_back_a_batch_at_a_time_and_merged(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setattr(prints_module, "BATCH", 3)
    first = gathered({f"k{i}": "a" for i in range(5)})
    first.update(gathered({"k1": "b"}, {f"n{i}": "c" for i in range(4)}))
    got = list(first.items())
    assert len(got) == 9 and len({k for k, _ in got}) == 9
    assert dict(got)["k1"] == "b" and dict(got)["k4"] == "a"


def test_nothing_given_is_nothing() -> None:
    empty = gathered({}, {})
    assert len(empty) == 0 and list(empty.items()) == [] and not empty.as_dict()


def test_the_keys_not_seen_are_found_in_their_order() -> None:
    seen = SeenKeys()
    assert seen.missing([["a", "b"]]) == (2, ["a", "b"])  # nothing seen yet
    seen.update(["b", "x"])
    seen.update([])
    seen.update(["d", "é"])
    assert seen.missing([["a", "b", "c"], [], ["d", "é", "E"]]) == (6, ["a", "c", "E"])
    assert seen.missing([]) == (0, []) == seen.missing([[]])
