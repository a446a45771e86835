"""One table for every benchmark: workload, figure, ours, reference, ratio."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Row:
    workload: str
    figure: str
    ours: float | None
    reference: float | None = None
    unit: str = ""
    better: str = "lower"  # which direction is better, for reading the ratio
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """reference / ours when lower is better (so > 1 means we win), ours / reference
        when higher is better; None when either side is missing."""
        if self.ours in (None, 0) or self.reference in (None, 0):
            return None
        assert self.ours is not None and self.reference is not None
        return self.reference / self.ours if self.better == "lower" else self.ours / self.reference

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio}


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


def render(rows: list[Row]) -> str:
    header = ["workload", "figure", "ours", "reference", "ratio (x better)", "note"]
    body = [
        [
            r.workload,
            f"{r.figure} ({r.unit})" if r.unit else r.figure,
            fmt(r.ours),
            fmt(r.reference),
            fmt(r.ratio),
            r.note,
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    for row in body:
        lines.append(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)
