"""The report's charts written as SVG directly: bars, two axis lines and a handful of
labelled ticks. A chart is a few dozen elements, so 60+ charts cost milliseconds where
matplotlib figures cost seconds (docs/benchmarks.md, "report charts")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

COLOR, AXIS, INK = "#2f6fdf", "#9aa3b2", "#1d2430"
PT = 72  # user units per inch: the sizes the matplotlib charts had, 8-unit text
FONT = 8


def nice_ticks(lo: float, hi: float, most: int, integer: bool = False) -> list[float]:
    """At most `most` (+1) round ticks in [lo, hi]: steps of 1, 2, 2.5 or 5 × 10^k."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / most
    if integer:
        raw = max(raw, 1.0)
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw * (1 - 1e-9))
    if integer and step != int(step):
        step = math.ceil(step)
    first = math.ceil(lo / step - 1e-9)
    ticks = [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]
    return [round(t, 12) + 0.0 for t in ticks]  # no 0.30000000000000004, no -0


def tick_label(value: float, step: float) -> str:
    """Enough decimals to tell ticks `step` apart; large or tiny values as 1.5e+06."""
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if step > 0 and round(step, decimals) != step:
        decimals += 1  # 2.5, 0.25
    return f"{value:.{decimals}f}"


class Frame:
    """A plotting area `width` × `height` inches with the axes' margins as fractions,
    mapping data x in [x0, x1] and y in [y0, y1] to SVG coordinates."""

    def __init__(self, width: float, height: float, margins: tuple[float, float, float, float]) -> None:
        left, bottom, right, top = margins
        self.w, self.h = width * PT, height * PT
        self.left, self.right = left * self.w, right * self.w
        self.top, self.bottom = (1 - top) * self.h, (1 - bottom) * self.h
        self.bars: list[str] = []
        self.lines: list[str] = []
        self.texts: list[str] = []
        self.x0, self.x1, self.y0, self.y1 = 0.0, 1.0, 0.0, 1.0

    def domain(self, x0: float, x1: float, y0: float, y1: float) -> None:
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1
        self.y0, self.y1 = y0, y1 if y1 > y0 else y0 + 1

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def rect(self, x: float, y: float, width: float, height: float, tip: str) -> None:
        self.bars.append(
            f'<rect x="{x:.2f}" y="{y:.2f}" width="{width:.2f}" height="{height:.2f}">'
            f"<title>{escape(tip)}</title></rect>"
        )

    def text(self, x: float, y: float, label: str, anchor: str = "middle", rotate: float = 0) -> None:
        turn = f' transform="rotate({-rotate:g} {x:.2f} {y:.2f})"' if rotate else ""
        self.texts.append(f'<text x="{x:.2f}" y="{y:.2f}" text-anchor="{anchor}"{turn}>{escape(label)}</text>')

    def xticks(self, ticks: Sequence[tuple[float, str]], rotate: float = 0) -> None:
        for value, label in ticks:
            x = self.x(value)
            self.lines.append(f'<line x1="{x:.2f}" y1="{self.bottom:.2f}" x2="{x:.2f}" y2="{self.bottom + 3.5:.2f}"/>')
            if rotate:
                self.text(x + 2, self.bottom + 6 + FONT * 0.7, label, "end", rotate)
            else:
                self.text(x, self.bottom + 6 + FONT * 0.8, label)

    def yticks(self, ticks: Sequence[tuple[float, str]]) -> None:
        for value, label in ticks:
            y = self.y(value)
            self.lines.append(f'<line x1="{self.left - 3.5:.2f}" y1="{y:.2f}" x2="{self.left:.2f}" y2="{y:.2f}"/>')
            self.text(self.left - 5, y + FONT * 0.35, label, "end")

    def svg(self, label: str) -> str:
        axes = f'<path d="M{self.left:.2f} {self.top:.2f}V{self.bottom:.2f}H{self.right:.2f}"/>'
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w:g}pt" height="{self.h:g}pt" '
            f'viewBox="0 0 {self.w:g} {self.h:g}" role="img" aria-label="{escape(label)}">'
            f'<g fill="{COLOR}" fill-opacity="0.85">{"".join(self.bars)}</g>'
            f'<g stroke="{AXIS}" stroke-width="0.8" fill="none">{axes}{"".join(self.lines)}</g>'
            f'<g fill="{INK}" font-size="{FONT}">{"".join(self.texts)}</g>'
            "</svg>"
        )


def _labelled(ticks: list[float]) -> list[tuple[float, str]]:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else abs(ticks[0]) or 1.0
    return [(t, tick_label(t, step)) for t in ticks]


def _count_axis(counts: Sequence[float], most: int) -> tuple[float, list[tuple[float, str]]]:
    """Counts from 0 to 5 % above the largest, with whole-number ticks."""
    top = max(counts, default=0) * 1.05 or 1.0
    return top, _labelled(nice_ticks(0, top, most, integer=True))


def histogram_svg(hist: dict[str, Any], kind: str) -> str:
    """A bar per bin between its edges, as high as its count."""
    edges, counts = hist["edges"], hist["counts"]
    frame = Frame(4.2, 1.7, (0.13, 0.2, 0.97, 0.95))
    top, yticks = _count_axis(counts, 4)
    frame.domain(edges[0], edges[-1], 0, top)
    for lo, hi, n in zip(edges, edges[1:], counts):
        if n:
            x0, x1, y = frame.x(lo), frame.x(hi), frame.y(n)
            frame.rect(x0, y, max(x1 - x0, 0.5), frame.bottom - y, f"[{_g(lo)}, {_g(hi)}): {n:,}")
    if kind == "int" and len(edges) > 1 and edges[1] - edges[0] == 1:  # a bin per whole number: label the numbers
        centres = [round(e + 0.5) for e in edges[:-1]][:: max(1, len(edges) // 12)]
        xticks = [(c + 0.0, str(c)) for c in centres]
    else:
        xticks = _labelled(nice_ticks(edges[0], edges[-1], 5))
    frame.xticks(xticks)
    frame.yticks(yticks)
    return frame.svg("histogram")


def top_svg(top: list[list[Any]]) -> str:
    """A horizontal bar per most frequent value, the most frequent at the top."""
    height = 0.45 + 0.17 * len(top)
    frame = Frame(4.2, height, (0.42, 0.3 / height, 0.97, 0.95))
    counts = [c for _, c in top]
    right, xticks = _count_axis(counts, 5)
    frame.domain(0, right, -0.6, len(top) - 0.4)
    band = frame.y(0) - frame.y(0.8)
    for i, (value, count) in enumerate(top):
        label, row = _label(value), len(top) - 1 - i
        y = frame.y(row + 0.4)
        frame.rect(frame.left, y, frame.x(count) - frame.left, band, f"{label}: {count:,}")
        frame.yticks([(row, label)])
    frame.xticks(xticks)
    return frame.svg("most frequent values")


def bars_svg(labels: list[str], values: list[int], xlabel: str, wide: bool = False) -> str:
    """A vertical bar per label (days, hours), every label up to 16 of them."""
    frame = Frame(8.5 if wide else 4.2, 2.2, (0.08 if wide else 0.13, 0.32 if wide else 0.22, 0.97, 0.95))
    top, yticks = _count_axis(values, 4)
    frame.domain(-0.6, len(values) - 0.4, 0, top)
    width = frame.x(0.8) - frame.x(0)
    for i, (label, n) in enumerate(zip(labels, values)):
        if n:
            y = frame.y(n)
            frame.rect(frame.x(i - 0.4), y, width, frame.bottom - y, f"{label}: {n:,}")
    step = max(1, math.ceil(len(labels) / 16))
    frame.xticks([(i, labels[i]) for i in range(0, len(labels), step)], rotate=30 if wide else 0)
    frame.yticks(yticks)
    frame.text((frame.left + frame.right) / 2, frame.h - 4, xlabel)
    return frame.svg(f"per {xlabel}")


def _g(value: float) -> str:
    return f"{value:.4g}"


def _label(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 28 else text[:27] + "…"
