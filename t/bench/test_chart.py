"""Tests of chart.py, the bench summary's SVG (make check runs them: a
fraction of a second). The SVG must parse as XML, place each median on
the log scale where its ratio is, colour it by whether the metric got
better or worse, escape the labels, and leave out rows without ratios."""

import math
import os
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart  # noqa: E402

NS = "{http://www.w3.org/2000/svg}"
ROWS = [
    ("local-4k", "req/s", "shoald/ref", 0.9, 1.2, 1.3),
    ("local-4k", "p99 ms", "shoald/ref", 1.1, 1.2, 1.4),
    ("local-4k", "wrk cpu %", "shoald/ref", 0.5, 0.6, 0.7),
    ("relay-4k", "MiB/s", "shoald/ref", 0.98, 1.01, 1.03),
    ("<b>&case", "server cpu us/req", "a/b", 0.25, 0.5, 0.75),
    ("broken", "req/s", "shoald/ref", float("nan"), 1.0, 1.0),
    ("zero", "req/s", "shoald/ref", 0.0, 1.0, 1.0),
]


def medians(root):
    return [c for c in root.iter(NS + "circle")
            if c.get("class") == "median"]


class ChartTest(unittest.TestCase):
    def setUp(self):
        self.text = chart.svg(ROWS, "bench <now>", "rounds & seconds")
        self.root = ET.fromstring(self.text)

    def test_one_line_per_usable_row(self):
        self.assertEqual(len(medians(self.root)), 5)
        self.assertNotIn("broken", self.text)
        self.assertNotIn("zero", self.text)

    def test_medians_sit_on_a_log_scale_centred_on_one(self):
        # The widest ratio is 1/4: the scale spans 1/4 to 4.
        half = chart.span([r for r in ROWS if chart.usable(r)])
        self.assertEqual(half, 2.0)
        xs = [float(c.get("cx")) for c in medians(self.root)]
        one = chart.LABEL + chart.PLOT / 2
        for x, row in zip(xs, ROWS):
            want = one + chart.PLOT * math.log2(row[4]) / (2 * half)
            self.assertAlmostEqual(x, want, places=0)
        # Symmetric: 1.2 and 1/1.2 the same distance from 1.
        self.assertGreater(xs[0], one)
        self.assertLess(xs[4], one)

    def test_colours_say_better_or_worse(self):
        fill = [c.get("fill") for c in medians(self.root)]
        self.assertEqual(fill, [chart.COLOURS[1],    # more req/s
                                chart.COLOURS[-1],   # a longer p99
                                chart.COLOURS[0],    # the client's cpu
                                chart.COLOURS[0],    # within 2%
                                chart.COLOURS[1]])   # half the cpu

    def test_labels_are_escaped(self):
        self.assertIn("&lt;b&gt;&amp;case", self.text)
        self.assertIn("bench &lt;now&gt;", self.text)
        texts = "".join(self.root.itertext())
        self.assertIn("<b>&case", texts)

    def test_no_rows(self):
        root = ET.fromstring(chart.svg([], "empty"))
        self.assertEqual(medians(root), [])
        self.assertIn("no ratios", "".join(root.itertext()))

    def test_a_ratio_beyond_the_scale_is_cut_at_its_edge(self):
        root = ET.fromstring(chart.svg(
            [("far", "req/s", "a/b", 50.0, 100.0, 200.0)], "far"))
        (c,) = medians(root)
        self.assertAlmostEqual(float(c.get("cx")), chart.LABEL + chart.PLOT)


if __name__ == "__main__":
    unittest.main()
