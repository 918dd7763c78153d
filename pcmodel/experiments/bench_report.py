"""``pcmodel bench``'s results as text: tables of ratios, targets met, item sizes."""

from __future__ import annotations

from typing import Any

__all__ = ["comparison_table", "parse_size", "size_label", "targets_summary",
           "uncontended_table"]


def comparison_table(results: dict[str, Any]) -> str:
    """The comparisons as aligned text: one row per comparison and grid point."""
    from pcmodel.experiments.cli import format_table

    rows = [
        [c["comparison"], c["backend"], c["capacity"], f"{c['producers']}x{c['consumers']}",
         size_label(c["item_size"]), c["contender_rate"], c["baseline_rate"],
         f"{c['ratio']:.2f}x",
         "-" if c["target"] is None else f"{c['target']:g}x",
         {None: "", True: "met", False: "MISSED"}[c["met"]]]
        for c in results["comparisons"]
    ]
    headers = ["comparison", "backend", "capacity", "PxC", "item", "items/s",
               "baseline items/s", "ratio", "target", ""]
    return format_table(rows, headers)


def size_label(size: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


#: The largest item ``pcmodel bench`` moves: 16 MiB. A trial moves dozens of items, each
#: producer holds its own copies, and one trial of 16 MiB items already takes a minute; much
#: larger ones exhaust memory or the trial's time limit instead of measuring anything.
MAX_ITEM_SIZE = 16 << 20


def parse_size(text: str) -> int:
    """``"8"``, ``"1K"``/``"1KiB"``, ``"64k"``, ``"1M"`` -> bytes, at most
    :data:`MAX_ITEM_SIZE`; ValueError saying what to write instead if not such a size."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20}.get(value[-1:], 1)
    number = value[:-1] if scale > 1 else value
    if not (number.isascii() and number.isdigit()) or int(number) < 1:
        raise ValueError(f"{text!r} is not an item size; write bytes as 8, 1K, 64K or 1M")
    size = int(number) * scale
    if size > MAX_ITEM_SIZE:
        raise ValueError(f"{text!r} is too large: items of at most {size_label(MAX_ITEM_SIZE)} "
                         "(16M) can be measured")
    return size


def uncontended_table(results: dict[str, Any]) -> str:
    """The one-actor comparisons: cost per item of each code path, and the ratios."""
    from pcmodel.experiments.cli import format_table

    costs = results["uncontended"]["ns_per_item"]
    rows = [
        [c["comparison"], c["backend"], round(costs[c["backend"]][c["contender"]]["best"]),
         round(costs[c["backend"]][c["baseline"]]["best"]), f"{c['ratio']:.2f}x",
         "-" if c["target"] is None else f"{c['target']:g}x",
         {None: "", True: "met", False: "MISSED"}[c["met"]]]
        for c in results["uncontended"]["comparisons"]
    ]
    headers = ["comparison (one actor alone, put+get)", "backend", "best ns/item", "baseline",
               "ratio", "target", ""]
    note = ("(threads: wall-clock time of one thread; processes: CPU time of one process, "
            "the item crossing nothing)")
    return format_table(rows, headers) + "\n" + note


def targets_summary(results: dict[str, Any]) -> list[str]:
    """One line per comparison with a target: how many grid points met it, the worst ratio."""
    lines = []
    by_label: dict[str, list[dict]] = {}
    sizes = {c["item_size"] for c in results["comparisons"]}
    for c in results["comparisons"]:
        if c["target"] is not None:
            by_label.setdefault(c["comparison"], []).append(c)
            if len(sizes) > 1:  # each target at each item size too (1 MiB has a target)
                label = f"{c['comparison']} ({size_label(c['item_size'])} items)"
                by_label.setdefault(label, []).append(c)
    for label, rows in by_label.items():
        met = sum(1 for r in rows if r["met"])
        worst = min(rows, key=lambda r: r["ratio"])
        lines.append(f"{label}: target {rows[0]['target']:g}x met at {met}/{len(rows)} points; "
                     f"worst {worst['ratio']:.2f}x ({worst['backend']}, capacity "
                     f"{worst['capacity']}, {worst['producers']}x{worst['consumers']}, "
                     f"{size_label(worst['item_size'])} items)")
    for c in results["uncontended"]["comparisons"]:
        if c["target"] is not None:
            verdict = "met" if c["met"] else "missed"
            alone = "one thread" if c["backend"] == "thread" else "one process, CPU time"
            lines.append(f"{c['comparison']}, {alone}: {c['ratio']:.2f}x, target "
                         f"{c['target']:g}x {verdict}")
    return lines
