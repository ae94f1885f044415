"""The SVG chart helpers on their own: numbers in data attributes, marks to scale, text escaped."""

import pytest

from dashboard.charts import Bar, bar_chart, heatmap, histogram, number
from tests.dashboard.html import chart_marks, elements


def test_numbers_are_written_plainly():
    assert [number(v) for v in (3, 2.0, 0.08375, 1 / 3, None, 0)] == ["3", "2", "0.08375", "0.333333", "", "0"]


def test_bar_chart_one_bar_per_item_to_scale_and_escaped():
    svg = str(bar_chart("c", [Bar("<script>x</script>", 10, data={"task": "a&b"}), Bar("small", 5)], title="T"))
    bars = chart_marks(svg, "c", "bar")
    assert [(b["data-label"], b["data-value"]) for b in bars] == [("<script>x</script>", "10"), ("small", "5")]
    assert bars[0]["data-task"] == "a&b"
    assert float(bars[0]["width"]) == pytest.approx(2 * float(bars[1]["width"]))
    assert "<script>" not in svg and elements(svg, "svg")[0]["data-count"] == "2"
    assert 'class="empty"' in str(bar_chart("e", [], title="nothing"))


def test_histogram_draws_every_bin_even_empty_ones():
    svg = str(histogram("h", ["a", "b", "c"], [4, 0, 2], title="H", data={"task": "t"}))
    bins = chart_marks(svg, "h", "bin")
    assert [(b["data-bin"], b["data-count"]) for b in bins] == [("a", "4"), ("b", "0"), ("c", "2")]
    assert float(bins[1]["height"]) == 0 and float(bins[0]["height"]) == pytest.approx(2 * float(bins[2]["height"]))
    assert elements(svg, "svg")[0]["data-total"] == "6" and elements(svg, "svg")[0]["data-task"] == "t"
    with pytest.raises(ValueError):
        histogram("h", ["a"], [1, 2], title="H")


def test_heatmap_has_a_cell_per_pair_and_marks_missing_ones():
    svg = str(heatmap("m", ["g1", "g2"], ["t1", "t2"], {("g1", "t1"): (0.25, 4), ("g2", "t2"): (0.5, 1)}, title="M"))
    cells = {(c["data-row"], c["data-column"]): (c["data-value"], c["data-n"]) for c in chart_marks(svg, "m", "cell")}
    assert cells == {("g1", "t1"): ("0.25", "4"), ("g1", "t2"): ("", "0"), ("g2", "t1"): ("", "0"),
                     ("g2", "t2"): ("0.5", "1")}
