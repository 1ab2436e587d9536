"""The one table benchmarks/peers.py prints (markdown, so it pastes into benchmarks/README.md), and the
same figures as JSON for the tests."""

from __future__ import annotations

from typing import Any

from peers_measure import Sample, medians

HEADER = (
    "| row | req/s | server CPU µs/req | req per server core-s | server busy | Envoy CPU µs/req "
    "| ÷ ratelimit | ÷ OPA | p50 / p99 ms at half load | Redis calls/req | Redis µs/call | Redis CPU µs/req |"
)


def figures(rows: list[Any], ratelimit: str, opa: str) -> list[dict[str, Any]]:
    """Per row: the medians of its rounds, requests per server core, and the ratios of that to
    envoyproxy/ratelimit's and OPA-envoy's."""
    out = []
    for row in rows:
        entry: dict[str, Any] = {"name": row.name, "unavailable": row.unavailable, "rounds": len(row.samples)}
        if row.samples:
            entry.update(medians(row.samples))
            entry["per_core"] = per_core(row.samples)
        out.append(entry)
    by_name = {entry["name"]: entry for entry in out}
    for entry in out:
        for key, peer in (("to_ratelimit", ratelimit), ("to_opa", opa)):
            base = by_name[peer].get("per_core")
            entry[key] = entry["per_core"] / base if base and entry.get("per_core") else None
    return out


def per_core(samples: list[Sample]) -> float:
    """Requests per second of the server's CPU: the median over rounds of 1 / CPU per request."""
    values = sorted(1e6 / s.server_us for s in samples if s.server_us > 0)
    return values[len(values) // 2] if values else 0.0


def table(entries: list[dict[str, Any]]) -> str:
    lines = [HEADER, "|" + " --- |" * HEADER.count(" | ") + " --- |"]
    for e in entries:
        if e["unavailable"]:
            lines.append(f"| {e['name']} | {e['unavailable']} |" + " |" * (HEADER.count(" | ") - 1))
            continue
        cells = [
            e["name"],
            f"{e['rate']:,.0f}",
            f"{e['server_us']:.0f}",
            f"{e['per_core']:,.0f}",
            f"{e['busy']:.0%}",
            _num(e["proxy_us"], "{:.0f}"),
            _num(e["to_ratelimit"], "{:.2f}"),
            _num(e["to_opa"], "{:.2f}"),
            f"{e['p50_ms']:.2f} / {e['p99_ms']:.2f}",
            f"{e['redis_calls']:.2f}",
            _num(e["redis_usec_per_call"] if e["redis_calls"] >= 0.01 else None, "{:.1f}"),
            f"{e['redis_cpu_us']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _num(value: float | None, form: str) -> str:
    return "—" if value is None else form.format(value)
