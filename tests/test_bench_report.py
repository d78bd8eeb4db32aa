"""The benchmark report's `--append`: a run's figures joined to the previous run's, read
back from bench/.work/last_run.json (JSON keys are strings)."""

import json
from types import SimpleNamespace

from bench.report import Row, constancy, merge


def _run(sizes, statements):
    return SimpleNamespace(
        args=SimpleNamespace(sizes=sizes, only="sweep", runs=1),
        rows=[Row("sweep: SQL statements vs SQL floor", f"{sizes[0]:,}", "14", "2", 7.0, "")],
        notes=[],
        raw={"sweep_statements": dict(zip(sizes, statements, strict=True))},
    )


def _saved(bench) -> dict:
    """As bench/run.py writes last_run.json and --append reads it back."""
    saved = {
        "rows": [row.__dict__ for row in bench.rows],
        "notes": bench.notes,
        "raw": bench.raw,
        "sizes": bench.args.sizes,
        "runs": bench.args.runs,
    }
    return json.loads(json.dumps(saved, default=str))


def test_appended_sizes_are_compared_as_numbers():
    earlier = _run([100_000], [14])
    later = _run([1_000_000], [14])

    merge(later, _saved(earlier))
    constancy(later)

    assert later.raw["sweep_statements"] == {100_000: 14, 1_000_000: 14}
    assert [row.verdict for row in later.rows] == ["ok: N=100,000: 14, N=1,000,000: 14"] * 2


def test_a_size_run_again_replaces_its_earlier_count():
    earlier = _run([100_000], [15])
    again = _run([100_000], [14])

    merge(again, _saved(earlier))

    assert again.raw["sweep_statements"] == {100_000: 14}
