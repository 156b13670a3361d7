"""Where seprof places SE in every timm model, and where it refuses: a coverage scan of ``timm.list_models()``.

Each model is built on the meta device (nothing is allocated or downloaded) and opened as seprof opens
``timm:NAME`` (``seprof.measure.open_model``); its ``StageMap`` gives the sites seprof would add SE at and the
model's own SE-like blocks (native). One row per model:

- ``placed``: seprof found sites, or native blocks it recognises; ``refused``: seprof raised a SeprofError (its
  one-line message is the reason), or found neither outside the model's own attention (as seprof refuses to add
  SE there, the reason names that attention); ``error``: anything else (its type and first line), including a
  model that ran past ``--timeout`` or whose process died.
- for a placed model: sites and native blocks, their stages and strides; timm's feature reductions
  (``model.feature_info``, where the model has one); how many sites (added and native) are off those strides
  (a stride within a factor 2^0.25 of a reduction is at it), how many are deeper than the last feature
  reduction, and how many lie inside another attention module (a module seprof did not write, on the path
  above the site): SE-like and convolutional attention (timm's ``get_attn`` modules, SqueezeExcite, channel or
  spatial attention) apart from transformer self-attention (any other class named ``*Attn*`` or
  ``*Attention*`` that is not a whole block or stage).

Each model runs in a process of its own, forked from this one once torch, timm and seprof are imported, at most
``--workers`` at a time, so a model that hangs is killed at its time limit and one that dies costs its own row.

    python benchmarks/timm_coverage.py --workers 2 --out benchmarks/results/timm_coverage.json
    python benchmarks/timm_coverage.py --sample 300 --seed 0 --out benchmarks/results/timm_coverage_sample.json
    python benchmarks/timm_coverage.py --match "*resnet*" --limit 20
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import random
import re
import sys
import time
import warnings
from collections import Counter, deque
from multiprocessing.connection import wait
from pathlib import Path

# SE-like and convolutional attention: timm's get_attn modules, and other classes named for channel or spatial
# attention (matched by name, so timm's model-local copies count too).
CONV_ATTENTION = re.compile(
    r"SEModule|SqueezeExcite|GatherExcite|EcaModule|CecaModule|GlobalContext$|CbamModule|CoordAttn|EfficientLocalAttn"
    r"|StripAttn|SelectiveKernel(Attn)?$|SplitAttn|LambdaLayer|BottleneckAttn|HaloAttn|NonLocalAttn"
    r"|ChannelAttn|SpatialAttn|ChannelAttention|SpatialAttention"
)
SELF_ATTENTION = re.compile(r"Attn|Attention")
NOT_ATTENTION = re.compile(r"(Block|Stage|Extract|Pool\w*)$")  # a block or stage that holds attention, a pooling head
LOG2_TOLERANCE = 0.25  # a stride within a factor 2^0.25 (~1.19) of a feature reduction is at it


def attention_kind(cls: type) -> str | None:
    """"conv" (SE-like, channel/spatial or convolutional attention), "self" (transformer self-attention) or
    None, for a module class seprof did not write, by its name alone."""
    if cls.__module__.startswith("seprof"):
        return None
    name = cls.__name__
    if CONV_ATTENTION.search(name):
        return "conv"
    if SELF_ATTENTION.search(name) and not NOT_ATTENTION.search(name):
        return "self"
    return None


def attention_modules(model) -> dict[str, tuple[str, str]]:
    """path → (kind, class name) of the model's attention modules (see ``attention_kind``). A self-attention
    name that holds another attention module is a block around it (maxxvit's PartitionAttentionCl), not one."""
    kinds = {path: attention_kind(type(module)) for path, module in model.named_modules() if path}
    found = {}
    for path, module in model.named_modules():
        kind = kinds.get(path)
        if kind == "self" and any(kinds.get(f"{path}.{inner}") for inner, _ in module.named_modules() if inner):
            continue
        if kind:
            found[path] = (kind, type(module).__name__)
    return found


def feature_reductions(model) -> list[float] | None:
    """The reductions of timm's ``feature_info`` (sorted, distinct), or None where the model has none."""
    info = getattr(model, "feature_info", None)
    if not info:
        return None
    try:
        found = {float(entry["reduction"]) for entry in info if entry.get("reduction")}
    except (TypeError, AttributeError):
        return None
    return sorted(found) or None


def at_feature_stride(stride: float, reductions: list[float]) -> bool:
    return stride > 0 and any(abs(math.log2(stride / r)) <= LOG2_TOLERANCE for r in reductions)


def number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)


def examine(name: str) -> dict:
    """One model's row (see the module docstring)."""
    from seprof.errors import SeprofError, first_line
    from seprof.measure import open_model

    warnings.simplefilter("ignore")
    start = time.perf_counter()
    try:
        source = open_model(f"timm:{name}")
        stage_map = source.sites()
    except SeprofError as error:
        return {"model": name, "status": "refused", "reason": first_line(error, with_type=False),
                "seconds": round(time.perf_counter() - start, 3)}
    except Exception as error:  # noqa: BLE001 - anything else is this scan's finding, not its failure
        return {"model": name, "status": "error", "error": first_line(error),
                "seconds": round(time.perf_counter() - start, 3)}
    model = source.meta
    attention = attention_modules(model)
    sites, native = stage_map.sites, stage_map.native
    every = (*sites, *native)
    reductions = feature_reductions(model)
    inside: dict[str, Counter] = {"conv": Counter(), "self": Counter()}
    examples: dict[str, list[str]] = {"conv": [], "self": []}
    for site in every:
        parts = site.path.split(".")
        for depth in range(1, len(parts)):  # strictly above the site, below the model itself
            kind, name_above = attention.get(".".join(parts[:depth]), (None, ""))
            if kind:
                inside[kind][name_above] += 1
                if len(examples[kind]) < 3:
                    examples[kind].append(site.path)
                break
    row = {
        "model": name, "status": "placed" if every else "refused", "class": type(model).__name__,
        "sites": len(sites), "native": len(native),
        "stages": sorted({s.stage for s in sites}), "native_stages": sorted({s.stage for s in native}),
        "strides": sorted({number(s.stride) for s in sites}),
        "native_strides": sorted({number(s.stride) for s in native}),
        "feature_reductions": [number(r) for r in reductions] if reductions else None,
        "off_feature_strides": None, "deeper_than_features": None,
        "inside_attention": sum(inside["conv"].values()), "inside_attention_classes": dict(inside["conv"]),
        "inside_attention_paths": examples["conv"],
        "inside_self_attention": sum(inside["self"].values()),
        "inside_self_attention_classes": dict(inside["self"]), "inside_self_attention_paths": examples["self"],
    }
    if not every:  # seprof refuses to add SE here, naming the model's own attention (seprof.measure)
        kinds = ", ".join(dict.fromkeys(s.attention.label for s in stage_map.attention))
        row["reason"] = (f"{type(model).__name__} has nowhere seprof can put SE outside its own attention ({kinds})"
                         if kinds else "no sites and no native blocks")
    if reductions:
        last = max(reductions)
        row["off_feature_strides"] = sum(not at_feature_stride(s.stride, reductions) for s in every)
        row["deeper_than_features"] = sum(s.stride > 0 and math.log2(s.stride / last) > LOG2_TOLERANCE for s in every)
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def _child(name: str, conn) -> None:
    conn.send(examine(name))
    conn.close()


def scan(names: list[str], workers: int, timeout: float, on_row) -> list[dict]:
    """``examine`` each name in a forked process of its own, ``workers`` at a time; a process past ``timeout``
    seconds is killed and one that dies becomes an error row. Rows come back in the order of ``names``."""
    context = multiprocessing.get_context("fork")
    todo, running, rows = deque(names), {}, {}
    while todo or running:
        while todo and len(running) < workers:
            name = todo.popleft()
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(name, send), daemon=True)
            process.start()
            send.close()
            running[receive] = (process, name, time.perf_counter())
        next_deadline = min(start for _, _, start in running.values()) + timeout
        for receive in wait(list(running), timeout=max(0.0, next_deadline - time.perf_counter())):
            process, name, start = running.pop(receive)
            try:
                row = receive.recv()
            except EOFError:
                process.join()
                row = {"model": name, "status": "error", "error": f"its process died (exit code {process.exitcode})",
                       "seconds": round(time.perf_counter() - start, 3)}
            receive.close()
            process.join()
            rows[name] = row
            on_row(row)
        now = time.perf_counter()
        for receive, (process, name, start) in list(running.items()):
            if now - start > timeout:
                process.kill()
                process.join()
                receive.close()
                del running[receive]
                rows[name] = {"model": name, "status": "error", "error": f"timed out after {timeout:g} s",
                              "seconds": round(now - start, 3)}
                on_row(rows[name])
    return [rows[name] for name in names]


def by_reason(rows: list[dict], key: str) -> list[dict]:
    """Rows grouped by their ``key`` text, the most common first: reason, count, models. (``refused_by_rule``
    groups the reasons with the model's class name, their first word, read as MODEL.)"""
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row["model"])
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [{key: text, "count": len(models), "models": models} for text, models in ordered]


def summarise(rows: list[dict], seconds: float, workers: int, timeout: float, chosen: dict) -> dict:
    import timm
    import torch

    import seprof
    from seprof.latency import device_name

    status = Counter(row["status"] for row in rows)
    placed = [row for row in rows if row["status"] == "placed"]
    with_features = [row for row in placed if row["feature_reductions"]]
    refused = [row for row in rows if row["status"] == "refused"]

    def models_with(field: str) -> list[str]:
        return [row["model"] for row in placed if row[field]]

    def classes(field: str) -> dict[str, int]:
        total = Counter()
        for row in placed:
            total.update(row[field])
        return dict(total.most_common())

    return {
        "models": len(rows),
        "chosen": chosen,
        "counts": {s: status.get(s, 0) for s in ("placed", "refused", "error")},
        "placed_pct": round(100 * len(placed) / len(rows), 2) if rows else None,
        "placed_with_added_sites": sum(1 for row in placed if row["sites"]),
        "placed_with_native_blocks": sum(1 for row in placed if row["native"]),
        "placed_with_one_site": [row["model"] for row in placed if row["sites"] + row["native"] == 1],
        "placed_with_feature_info": len(with_features),
        "placed_all_at_feature_strides": sum(1 for row in with_features if row["off_feature_strides"] == 0),
        "placed_any_off_feature_strides": [row["model"] for row in with_features if row["off_feature_strides"]],
        "placed_any_deeper_than_features": [row["model"] for row in with_features if row["deeper_than_features"]],
        "placed_any_inside_attention": models_with("inside_attention"),
        "inside_attention_classes": classes("inside_attention_classes"),
        "placed_any_inside_self_attention": models_with("inside_self_attention"),
        "inside_self_attention_classes": classes("inside_self_attention_classes"),
        "refused": by_reason(refused, "reason"),
        "refused_by_rule": by_reason([{**row, "reason": re.sub(r"^\w+(?=:| has )", "MODEL", row["reason"])}
                                     for row in refused], "reason"),
        "errors": by_reason([row for row in rows if row["status"] == "error"], "error"),
        "seconds": round(seconds, 1),
        "model_seconds": {"sum": round(sum(row["seconds"] for row in rows), 1),
                          "max": max((row["seconds"] for row in rows), default=None),
                          "slowest": max(rows, key=lambda row: row["seconds"])["model"] if rows else None},
        "workers": workers,
        "timeout_s": timeout,
        "stride_tolerance": f"|log2(stride / reduction)| <= {LOG2_TOLERANCE}",
        "machine": {"cpu": device_name(torch.device("cpu")), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "torch": torch.__version__, "timm": timm.__version__,
                    "seprof": seprof.__version__},
        "rows": rows,
    }


def to_json(result: dict) -> str:
    """The result as JSON text: the summary indented, each model's row on one line."""
    rows = ",\n".join(f"    {json.dumps(row)}" for row in result["rows"])
    text = json.dumps({**result, "rows": []}, indent=2)
    return text.replace('"rows": []', f'"rows": [\n{rows}\n  ]' if rows else '"rows": []') + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="models examined at once, each in its own process")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one model may take before it is an error")
    parser.add_argument("--match", default="", help="only timm's names matching this pattern (timm.list_models)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N names (after --match)")
    parser.add_argument("--sample", type=int, default=None, help="a random sample of N names (after --match)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    if args.workers < 1 or args.timeout <= 0:
        parser.error("give at least 1 worker and a positive --timeout")

    import timm
    import torch  # noqa: F401 - imported once here, before the workers are forked

    import seprof.measure  # noqa: F401
    import seprof.stages  # noqa: F401

    names = list(timm.list_models(args.match or ""))
    if args.sample is not None:
        names = sorted(random.Random(args.seed).sample(names, min(args.sample, len(names))))
    if args.limit is not None:
        names = names[:args.limit]
    if not names:
        parser.error(f"no timm model matches {args.match!r}")
    chosen = {"match": args.match or None, "limit": args.limit, "sample": args.sample,
              "seed": args.seed if args.sample is not None else None, "of": len(timm.list_models())}

    done = 0

    def progress(row: dict) -> None:
        nonlocal done
        done += 1
        what = row.get("reason") or row.get("error") or f"{row['sites']} sites, {row['native']} native"
        print(f"[{done}/{len(names)}] {row['model']}: {row['status']} ({what}) {row['seconds']:.2f} s",
              file=sys.stderr)

    start = time.perf_counter()
    rows = scan(names, args.workers, args.timeout, progress)
    result = summarise(rows, time.perf_counter() - start, args.workers, args.timeout, chosen)

    counts = result["counts"]
    print(f"{result['models']} models in {result['seconds']:.0f} s ({args.workers} workers): "
          f"{counts['placed']} placed ({result['placed_pct']}%), {counts['refused']} refused, {counts['error']} errors")
    print(f"placed with feature_info: {result['placed_with_feature_info']}, all sites at feature strides: "
          f"{result['placed_all_at_feature_strides']}, a site deeper than the last feature stride: "
          f"{len(result['placed_any_deeper_than_features'])}")
    print(f"placed with a site inside another attention module: {len(result['placed_any_inside_attention'])} "
          f"(inside self-attention: {len(result['placed_any_inside_self_attention'])})")
    for group in result["refused"][:10]:
        print(f"  refused {group['count']:4d}  {group['reason']}  (e.g. {', '.join(group['models'][:3])})")
    for group in result["errors"][:10]:
        print(f"  error   {group['count']:4d}  {group['error']}  (e.g. {', '.join(group['models'][:3])})")
    if args.out:
        Path(args.out).write_text(to_json(result))


if __name__ == "__main__":
    main()
