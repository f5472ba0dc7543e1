"""Cross-field rules of a result file: numbers that cannot occur together.

The JSON Schema checks each number alone (a fraction in [0, 1], a rank >= 1). These rules check
that the numbers could have come from one evaluation under the protocol's definitions: R@1 <=
R@10, nDCG@10 <= Hit@10, F1 = 2PR/(P+R), a mean equal to the mean of its per-class rows, counts
that add up to the dataset's, and item ids that are not the generated mini benchmark's when the
result claims to be on Mars data. A hand-edited or fabricated file trips at least one of them.
A task other than MarsRetrieval's three is known by what its section declares: it must report
under its own name, only metrics it declares, its headline among them.

Reproduced results hold full-precision numbers from one computation and are checked to 1e-9,
with whole-number checks (R@1 x pairs is a count of queries); reported results copy numbers
from a paper, usually rounded, so equalities there are checked to 1e-3 and inequalities allow
that much slack. `result` has passed the schema when these run, so its shape is known.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from mars_zoo.data.images import MTEB_PREPARATION
from mars_zoo.data.mini_fingerprint import MINI_DATASET_PREFIX, mini_items
from mars_zoo.tasks.mteb_protocol import MRR_CUTOFF, RECALL_DECIMALS, instructions_record
from mars_zoo.core.problems import Problem, format_path
from mars_zoo.schema.training import FINE_TUNED, OWN_WEIGHTS_KINDS, record_problems

EXACT = 1e-9  # reproduced results
ROUNDED = 1e-3  # reported results: numbers copied from a paper, often rounded to 0.01 %
WHOLE = 1e-6  # how far a count computed from a fraction may be from a whole number
NDCG_DEPTH = 10


@dataclass(frozen=True)
class _Context:
    tolerance: float
    exact: bool  # reproduced: full-precision numbers, counts must be whole

    def close(self, a: float, b: float) -> bool:
        return abs(a - b) <= self.tolerance

    def above(self, a: float, b: float) -> bool:
        """a > b beyond what rounding explains."""
        return a > b + self.tolerance


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _whole(value: float) -> bool:
    return abs(value - round(value)) <= WHOLE * max(1.0, abs(value))


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


# --------------------------------------------------------------------------- task 1


def _share_of(value: float, items: int, decimals: int | None) -> bool:
    """Whether `value` is a number of queries over `items`: exactly (to WHOLE), or rounded to
    `decimals` as MTEB rounds its recall (mars_zoo.tasks.mteb_protocol)."""
    if decimals is None:
        return _whole(value * items)
    count = round(value * items)
    return any(round(near / items, decimals) == value for near in (count - 1, count, count + 1))


def _paired_direction(base: list, metrics: dict, items: int | None, ctx: _Context,
                      decimals: int | None = None) -> Iterator[Problem]:
    r1, r10, mrr, medr = (_number(metrics.get(key)) for key in ("r1", "r10", "mrr", "medr"))
    if r1 is not None and r10 is not None and ctx.above(r1, r10):
        yield Problem(format_path([*base, "r1"]), f"R@1 ({r1}) cannot exceed R@10 ({r10})")
    if r1 is not None and mrr is not None and ctx.above(r1, mrr):
        yield Problem(format_path([*base, "r1"]), f"R@1 ({r1}) cannot exceed MRR ({mrr})")
    if r10 is not None and mrr is not None and ctx.above(mrr, r10 + (1 - r10) / 11):
        yield Problem(format_path([*base, "mrr"]),
                      f"MRR ({mrr}) cannot exceed R@10 + (1 - R@10)/11 = {r10 + (1 - r10) / 11:.6g}: "
                      f"a query ranked beyond 10 adds at most 1/11")
    if medr is not None:
        if r1 is not None and ctx.above(r1, 0.5) and medr != 1:
            yield Problem(format_path([*base, "medr"]),
                          f"MedR ({medr}) must be 1 when R@1 ({r1}) is above 0.5: most queries rank first")
        if r10 is not None and ctx.above(r10, 0.5) and medr > NDCG_DEPTH:
            yield Problem(format_path([*base, "medr"]),
                          f"MedR ({medr}) must be at most 10 when R@10 ({r10}) is above 0.5")
        if r10 is not None and ctx.above(0.5, r10) and medr <= NDCG_DEPTH:
            yield Problem(format_path([*base, "medr"]),
                          f"MedR ({medr}) must be above 10 when R@10 ({r10}) is below 0.5")
    if not ctx.exact or not items:
        return
    rounded = f" (after MTEB's rounding to {decimals} decimals)" if decimals is not None else ""
    for key, value in (("r1", r1), ("r10", r10)):
        if value is not None and not _share_of(value, items, decimals):
            yield Problem(format_path([*base, key]),
                          f"{value} x {items} pairs is not a whole number of queries{rounded}: it cannot "
                          f"come from the {items} pairs of tasks.paired.dataset.items")
    if medr is not None and (medr > items or not _whole(2 * medr)):
        yield Problem(format_path([*base, "medr"]),
                      f"MedR ({medr}) must be a rank from 1 to {items} (the pairs evaluated) or the mean of two")
    if mrr is not None and mrr < 1 / items - ctx.tolerance:
        yield Problem(format_path([*base, "mrr"]),
                      f"MRR ({mrr}) cannot be below 1/{items}: no rank exceeds the {items} pairs evaluated")


def _under_mteb(paired: dict) -> bool:
    """Whether task 1 was measured under MTEB's protocol, whose recall is rounded and whose MRR
    stops at rank MRR_CUTOFF (mars_zoo.tasks.mteb_protocol)."""
    return paired.get("image_preparation") == MTEB_PREPARATION


def _instruction_rules(paired: dict) -> Iterator[Problem]:
    """Task instructions are MTEB's (mars_zoo.tasks.mteb_protocol): handed only under its protocol, and
    only what its tasks hand a wrapper."""
    instructions = paired.get("instructions")
    if instructions is None:
        return
    if not _under_mteb(paired):
        yield Problem("tasks.paired.instructions",
                      f"task instructions are MTEB's, but image_preparation is {paired.get('image_preparation')!r}, "
                      f"not {MTEB_PREPARATION!r}: the published protocol hands a model none")
    expected = instructions_record()
    for direction, sides in instructions.items():
        for side, text in sides.items():
            if text != expected[direction][side]:
                yield Problem(f"tasks.paired.instructions.{direction}.{side}",
                              f"{text!r} is not what MTEB's {direction} task hands a wrapper for its {side}s "
                              f"({expected[direction][side]!r})")


def _paired_rules(paired: dict, ctx: _Context) -> Iterator[Problem]:
    yield from _instruction_rules(paired)
    dataset = paired.get("dataset")
    items = dataset["items"] if dataset else None
    decimals = RECALL_DECIMALS if _under_mteb(paired) else None
    for direction, metrics in paired["metrics"].items():
        yield from _paired_direction(["tasks", "paired", "metrics", direction], metrics, items, ctx, decimals)
    if dataset and dataset["source_rows"] is not None:
        accounted = dataset["items"] + len(dataset["missing"])
        if accounted > dataset["source_rows"]:
            yield Problem("tasks.paired.dataset.items",
                          f"{dataset['items']} evaluated plus {len(dataset['missing'])} missing pairs are "
                          f"more than the {dataset['source_rows']} rows of the source (source_rows)")


# --------------------------------------------------------------------------- task 2


def _landform_row(base: list, row: dict, ctx: _Context) -> Iterator[Problem]:
    relevant = row["relevant"]
    ap, rp, ndcg, hit = (_number(row[key]) for key in ("ap", "r_precision", "ndcg@10", "hit@10"))
    if ndcg is not None and hit is not None and ctx.above(ndcg, hit):
        yield Problem(format_path([*base, "ndcg@10"]), f"nDCG@10 ({ndcg}) cannot exceed Hit@10 ({hit})")
    if not ctx.exact:
        return
    if relevant == 0:
        if any(value is not None for value in (ap, rp, ndcg, hit)):
            yield Problem(format_path(base), "a class without relevant images has no scores: ap, "
                                             "r_precision, ndcg@10 and hit@10 must be null")
        return
    if hit is not None and hit not in (0, 1):
        yield Problem(format_path([*base, "hit@10"]),
                      f"must be 0 or 1 for one class query (one query per class), got {hit}")
    elif hit is not None and ndcg is not None and (ndcg > 0) != (hit == 1):
        yield Problem(format_path([*base, "ndcg@10"]),
                      f"nDCG@10 ({ndcg}) is above 0 exactly when Hit@10 is 1, but Hit@10 is {hit}")
    if rp is not None and not _whole(rp * relevant):
        yield Problem(format_path([*base, "r_precision"]),
                      f"{rp} x {relevant} relevant images is not a whole number of images")
    elif rp is not None and rp > 0 and relevant <= NDCG_DEPTH and hit == 0:
        yield Problem(format_path([*base, "hit@10"]),
                      f"must be 1: R-Precision ({rp}) puts a relevant image in the top {relevant}")


def _landform_rules(landform: dict, ctx: _Context) -> Iterator[Problem]:
    rows = landform.get("per_class", [])
    seen: set[str] = set()
    for index, row in enumerate(rows):
        base = ["tasks", "landform", "per_class", index]
        if row["class"] in seen:
            yield Problem(format_path([*base, "class"]), f"class {row['class']!r} is listed twice")
        seen.add(row["class"])
        yield from _landform_row(base, row, ctx)
    metrics = landform["metrics"]
    ndcg, hit = _number(metrics["ndcg@10"]), _number(metrics["hit@10"])
    if ndcg is not None and hit is not None and ctx.above(ndcg, hit):
        yield Problem("tasks.landform.metrics.ndcg@10", f"nDCG@10 ({ndcg}) cannot exceed Hit@10 ({hit})")
    scored = [row for row in rows if row["relevant"] > 0]
    for key, row_key in (("map", "ap"), ("r_precision", "r_precision"), ("ndcg@10", "ndcg@10"), ("hit@10", "hit@10")):
        value, values = _number(metrics[key]), [_number(row[row_key]) for row in scored]
        if value is None or not values or None in values:
            continue
        if not ctx.close(value, _mean(values)):
            yield Problem(format_path(["tasks", "landform", "metrics", key]),
                          f"is {value}, but the mean of its {len(values)} per_class rows is {_mean(values)}")
    dataset = landform.get("dataset")
    if ctx.exact and dataset and rows:
        total = sum(row["relevant"] for row in rows)
        if total != dataset["items"]:
            yield Problem("tasks.landform.per_class",
                          f"the classes' relevant images add up to {total}, but the dataset has "
                          f"{dataset['items']} images (tasks.landform.dataset.items); each image has one class")


# --------------------------------------------------------------------------- task 3


def _geo_curve(base: list, row: dict, k_limit: int | None, ctx: _Context) -> Iterator[Problem]:
    curve = row["curve"]
    ks, precision, recall, f1 = curve["k"], curve["precision"], curve["recall"], curve["f1"]
    if not ks:
        yield Problem(format_path([*base, "curve", "k"]), "must not be empty")
        return
    for index, (p, r, f) in enumerate(zip(precision, recall, f1)):
        if not ctx.close(f, _f1(p, r)):
            yield Problem(format_path([*base, "curve", "f1", index]),
                          f"F1 ({f}) is not 2PR/(P+R) = {_f1(p, r)} of the curve's precision and recall")
            break
    if any(ctx.above(a, b) for a, b in zip(recall, recall[1:])):
        yield Problem(format_path([*base, "curve", "recall"]), "must not decrease as K grows")
    if not ctx.exact:
        return
    if k_limit is not None and ks[-1] != k_limit:
        yield Problem(format_path([*base, "curve", "k"]),
                      f"must end at min(k_max, gallery tiles) = {k_limit}, got {ks[-1]}")
    for index, (k, p) in enumerate(zip(ks, precision)):
        if not _whole(p * k):
            yield Problem(format_path([*base, "curve", "precision", index]),
                          f"{p} x K={k} is not a whole number of tiles")
            break
    truth = row["ground_truth"]
    if any(not _whole(r * truth) if truth else r != 0 for r in recall):
        yield Problem(format_path([*base, "curve", "recall"]),
                      f"every recall must be a whole number of the {truth} ground-truth points over {truth}")
    best = max(range(len(f1)), key=lambda i: (f1[i], -i))
    reported = (row["f1"], row["precision"], row["recall"], row["k"])
    if not (all(ctx.close(a, b) for a, b in zip(reported[:3], (f1[best], precision[best], recall[best])))
            and reported[3] == ks[best]):
        yield Problem(format_path([*base, "f1"]),
                      f"f1, precision, recall and k must be the curve's best point (the first K with the "
                      f"highest F1): {f1[best]}, {precision[best]}, {recall[best]} at K={ks[best]}")
    area = math.fsum((r1 - r0) * (p0 + p1) / 2 for r0, r1, p0, p1 in zip(recall, recall[1:], precision, precision[1:]))
    if row["auprc"] is not None and not ctx.close(row["auprc"], area):
        yield Problem(format_path([*base, "auprc"]),
                      f"is {row['auprc']}, but the area under the curve's (recall, precision) points is {area}")


def _geo_rows(geo: dict, ctx: _Context) -> Iterator[Problem]:
    modes = set(geo["metrics"])
    k_max = geo.get("k_max")
    gallery = geo["gallery"]["items"] if "gallery" in geo else None
    k_limit = min(k for k in (k_max, gallery) if k is not None) if (k_max or gallery) else None
    seen: set[tuple[str, str]] = set()
    for index, row in enumerate(geo.get("per_landform", [])):
        base = ["tasks", "geolocalization", "per_landform", index]
        key = (row["landform"], row["mode"])
        if key in seen:
            yield Problem(format_path(base), f"landform {key[0]!r} with mode {key[1]!r} is listed twice")
        seen.add(key)
        if row["mode"] not in modes:
            yield Problem(format_path([*base, "mode"]),
                          f"mode {row['mode']!r} has no entry in tasks.geolocalization.metrics")
        if k_limit is not None and row["k"] is not None and row["k"] > k_limit:
            yield Problem(format_path([*base, "k"]),
                          f"K {row['k']} exceeds min(k_max, gallery tiles) = {k_limit}")
        p, r, f1 = (_number(row[name]) for name in ("precision", "recall", "f1"))
        if None not in (p, r, f1) and not ctx.close(f1, _f1(p, r)):
            yield Problem(format_path([*base, "f1"]),
                          f"F1 ({f1}) is not 2PR/(P+R) = {_f1(p, r)} of its precision ({p}) and recall ({r})")
        curve = row.get("curve")
        if curve is None:
            continue
        lengths = {name: len(values) for name, values in curve.items()}
        ks = curve["k"]
        if len(set(lengths.values())) > 1:
            yield Problem(format_path([*base, "curve"]),
                          f"k, precision, recall and f1 must have the same length, got {lengths}")
        elif any(b <= a for a, b in zip(ks, ks[1:])):
            yield Problem(format_path([*base, "curve", "k"]), "must be strictly increasing")
        elif k_max is not None and ks and ks[-1] > k_max:
            yield Problem(format_path([*base, "curve", "k"]), f"goes beyond k_max {k_max}")
        elif None not in (p, r, f1):
            yield from _geo_curve(base, row, k_limit, ctx)


def _geo_rules(geo: dict, ctx: _Context) -> Iterator[Problem]:
    yield from _geo_rows(geo, ctx)
    rows = geo.get("per_landform", [])
    for mode, summary in geo["metrics"].items():
        mode_rows = [row for row in rows if row["mode"] == mode]
        for key in ("f1", "auprc"):
            value, values = _number(summary[key]), [_number(row[key]) for row in mode_rows]
            if value is None or not values or None in values:
                continue
            if not ctx.close(value, _mean(values)):
                yield Problem(format_path(["tasks", "geolocalization", "metrics", mode, key]),
                              f"is {value}, but the mean of the {len(values)} per_landform rows of mode "
                              f"{mode!r} is {_mean(values)}")
    truth: dict[str, dict[str, int]] = {}
    for row in rows:
        truth.setdefault(row["mode"], {})[row["landform"]] = row["ground_truth"]
    if len(truth) > 1:
        (first, counts), *others = sorted(truth.items())
        for mode, other in others:
            if other != counts:
                yield Problem("tasks.geolocalization.per_landform",
                              f"mode {mode!r} scores landforms {other}, mode {first!r} {counts}: every mode "
                              f"scores the same landforms against the same ground truth")


# --------------------------------------------------------------------------- per-query values, intervals


def _per_query_rules(paired: dict, ctx: _Context) -> Iterator[Problem]:
    """Task 1's kept ranks must give back its metrics: the mean of each per-query value, the median rank
    (under MTEB's protocol its rounded recall and its MRR cut at rank MRR_CUTOFF)."""
    items = paired["dataset"]["items"] if "dataset" in paired else None
    mteb = _under_mteb(paired)

    def share(hits: list[float]) -> float:
        return round(_mean(hits), RECALL_DECIMALS) if mteb else _mean(hits)

    for direction, values in paired.get("per_query", {}).items():
        base = ["tasks", "paired", "per_query", direction, "rank"]
        ranks = values["rank"]
        metrics = paired["metrics"].get(direction)
        if metrics is None:
            yield Problem(format_path(base[:-1]), f"has ranks, but tasks.paired.metrics has no {direction!r}")
            continue
        if items is not None and len(ranks) != items:
            yield Problem(format_path(base), f"holds {len(ranks)} ranks for the {items} pairs evaluated")
            continue
        if max(ranks) > len(ranks):
            yield Problem(format_path(base), f"holds rank {max(ranks)}, beyond the {len(ranks)} pairs")
            continue
        ordered = sorted(ranks)
        middle = len(ordered) // 2
        median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        implied = {"r1": share([float(rank <= 1) for rank in ranks]), "r10": share([float(rank <= 10) for rank in ranks]),
                   "mrr": _mean([1 / rank if not mteb or rank <= MRR_CUTOFF else 0.0 for rank in ranks]),
                   "medr": median}
        for key, value in implied.items():
            stated = _number(metrics.get(key))
            if stated is not None and not ctx.close(stated, value):
                yield Problem(format_path(["tasks", "paired", "metrics", direction, key]),
                              f"is {stated}, but the per-query ranks (tasks.paired.per_query.{direction}) give {value}")


def _points(body: dict) -> dict[tuple[str, ...], Any]:
    """The point estimate of each metric path that an interval may name: (metric,) or (group, metric)."""
    return {(name, key) if isinstance(value, dict) else (name,): inner
            for name, value in body["metrics"].items()
            for key, inner in (value.items() if isinstance(value, dict) else [(None, value)])}


def _confidence_rules(task: str, body: dict, result: dict, ctx: _Context) -> Iterator[Problem]:
    record = body["confidence"]
    base = ["tasks", task, "confidence"]
    seed = result.get("run", {}).get("seed")
    if seed is not None and record["seed"] != seed:
        yield Problem(format_path([*base, "seed"]), f"is {record['seed']}, but the run's seed (run.seed) is {seed}")
    points = _points(body)
    named = [((key,), value) for key, value in record["metrics"].items() if isinstance(value, list)]
    named += [((group, key), value) for group, values in record["metrics"].items() if isinstance(values, dict)
              for key, value in values.items()]
    for path, (low, high) in named:
        field = format_path([*base, "metrics", *path])
        if path not in points:
            yield Problem(field, f"names no metric of tasks.{task}.metrics")
        elif low > high:
            yield Problem(field, f"is [{low}, {high}]: the low end is above the high end")
        elif _number(points[path]) is not None and not (low - ctx.tolerance <= points[path] <= high + ctx.tolerance):
            yield Problem(field, f"[{low}, {high}] does not contain the metric itself ({points[path]})")


# --------------------------------------------------------------------------- tasks declared by a plugin


def _declared_rules(task: str, body: dict) -> Iterator[Problem]:
    """A task other than MarsRetrieval's three reports what it declares: under its own name,
    only declared metrics, its headline among them."""
    declaration = body["declaration"]
    declared = declaration["metrics"]
    base = ["tasks", task, "declaration"]
    if declaration["name"] != task:
        yield Problem(format_path([*base, "name"]),
                      f"is {declaration['name']!r}, but the section is tasks.{task}: a task's section is keyed by its name")
    if declaration["headline"] not in declared:
        yield Problem(format_path([*base, "headline"]),
                      f"{declaration['headline']!r} must be one of the declared metrics ({', '.join(declared)})")
    reported = [".".join(path) for path in _points(body)]
    for name in reported:
        if name not in declared:
            yield Problem(format_path(["tasks", task, "metrics", *name.split(".")]),
                          f"is not a metric tasks.{task}.declaration declares ({', '.join(declared)})")
    if declaration["headline"] in declared and declaration["headline"] not in reported:
        yield Problem(format_path(["tasks", task, "metrics"]),
                      f"lacks the headline metric {declaration['headline']!r} that tasks.{task}.declaration names")


# --------------------------------------------------------------------------- datasets and run


def _dataset_rules(result: dict) -> Iterator[Problem]:
    synthetic = result["benchmark"]["synthetic"]
    for task, body in result["tasks"].items():
        for key in ("dataset", "gallery"):
            if key not in body:
                continue
            ref = body[key]
            if ref["synthetic"] != synthetic:
                yield Problem(format_path(["tasks", task, key, "synthetic"]),
                              f"must equal benchmark.synthetic ({json.dumps(synthetic)})")
            mini = mini_items(ref["items_sha256"])
            if mini and not synthetic:
                yield Problem(format_path(["tasks", task, key, "items_sha256"]),
                              f"is the hash of the generated mini benchmark's items ({mini}): this result "
                              f"was scored on synthetic data, not on Mars, and is never publishable whatever "
                              f"its markers say; keep it marked synthetic (benchmark 'mini') and view it with "
                              f"'mars-zoo leaderboard build --include FILE'")
            elif ref["id"].startswith(MINI_DATASET_PREFIX) and not synthetic:
                yield Problem(format_path(["tasks", task, key, "id"]),
                              f"{ref['id']!r} is a generated mini benchmark dataset: the result must be "
                              f"marked synthetic (benchmark 'mini')")


def _run_rules(run: dict) -> Iterator[Problem]:
    times = {}
    for key in ("started_at", "finished_at"):
        try:
            times[key] = datetime.fromisoformat(run[key].replace("Z", "+00:00"))
        except ValueError as exc:
            yield Problem(f"run.{key}", f"is not a real date and time ({exc})")
    if len(times) == 2 and times["finished_at"] < times["started_at"]:
        yield Problem("run.finished_at", "is earlier than run.started_at")


# The rules of MarsRetrieval's tasks, whose metrics the schema states one by one.
BUILTIN_RULES = {"paired": (_paired_rules, _per_query_rules), "landform": (_landform_rules,),
                 "geolocalization": (_geo_rules,)}


# --------------------------------------------------------------------------- model


def _model_rules(model: dict) -> Iterator[Problem]:
    if not model["name"].startswith(model["family"] + "/"):
        yield Problem("model.family",
                      f"must be the prefix of model.name {model['name']!r} (names are '<family>/<name>')")
    url_weights = model.get("url_weights")
    if url_weights:
        own = model.get("weights")
        field, named = ("model.weights.base_revision", own["base_revision"]) if own else ("model.revision",
                                                                                         model.get("revision"))
        if named != url_weights["sha256"]:
            yield Problem(field, f"is {named!r}, but the weights are named by model.url_weights, whose sha256 "
                                 f"({url_weights['sha256']}) it must be")
    if model.get("revision_verified") is not None and (url_weights or model.get("random_weights")):
        yield Problem("model.revision_verified",
                      "must be null: no Hub commit names these weights (they are random, or model.url_weights "
                      "names them), so there is nothing the Hub could verify")


# --------------------------------------------------------------------------- training


def _training_rules(result: dict) -> Iterator[Problem]:
    """The training section against the weights evaluated: own weights (model.weights) are
    fine-tuned or unrecorded, published ones zero-shot or declared; a training record is of
    this model at this base revision, and its contamination report checked every task scored."""
    training, model = result["training"], result["model"]
    own = model.get("weights")
    if (training["kind"] in OWN_WEIGHTS_KINDS) != bool(own):
        expected = "'fine-tuned' or 'unrecorded'" if own else "'zero-shot' or 'declared'"
        what = "own weights (model.weights)" if own else "published weights (model.weights is null)"
        yield Problem("training.kind", f"is {training['kind']!r}, but the result evaluated {what}: their training "
                                       f"is {expected}")
    if training["kind"] != FINE_TUNED:
        return
    record = training["record"]
    yield from record_problems(record, ["training", "record"])
    if record["base_model"] != model["name"]:
        yield Problem("training.record.base_model", f"is {record['base_model']!r}, but the result is of "
                                                    f"{model['name']!r}: weights are evaluated as the model they were "
                                                    f"fine-tuned from")
    if own and record["base_revision"] != own["base_revision"]:
        yield Problem("training.record.base_revision", f"is {record['base_revision']!r}, but the weights were "
                                                       f"evaluated on base revision {own['base_revision']!r} "
                                                       f"(model.weights.base_revision)")
    report = record["contamination"]
    unchecked = sorted(set(result["tasks"]) - set(report["tasks"])) if report else []
    if unchecked:
        yield Problem("training.record.contamination.tasks",
                      f"does not cover {', '.join(unchecked)}, which the result scores: a report that did not "
                      f"check a task cannot call its training data clean of it")


def consistency_problems(result: dict) -> Iterator[Problem]:
    """Every cross-field problem of a result that has passed the schema."""
    yield from _model_rules(result["model"])
    exact = result["provenance"] == "reproduced"
    ctx = _Context(EXACT if exact else ROUNDED, exact)
    for task, body in result["tasks"].items():
        if task in BUILTIN_RULES:
            for rules in BUILTIN_RULES[task]:
                yield from rules(body, ctx)
        else:
            yield from _declared_rules(task, body)
        if "confidence" in body:
            yield from _confidence_rules(task, body, result, ctx)
    yield from _dataset_rules(result)
    if "run" in result:
        yield from _run_rules(result["run"])
    if "training" in result:
        yield from _training_rules(result)
