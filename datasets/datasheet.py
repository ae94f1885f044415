"""DATASHEET.md for an export: what is in the version, where its labels came from, what they cost."""

from collections import Counter, defaultdict

from django.db.models import OuterRef, Subquery, Sum

from backend.annotations.models import Annotation, MaskLabel
from backend.mlmodels.models import ModelVersion
from datasets.models import DatasetVersion
from datasets.splits import share_deviation

PAR_BINS = [0.0, 1e-9, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0000001]
PAR_LABELS = ["0", "(0, 1%)", "[1%, 5%)", "[5%, 10%)", "[10%, 20%)", "[20%, 50%)", "[50%, 100%]"]


def _bin(par: float) -> str:
    for i in range(len(PAR_BINS) - 1):
        if PAR_BINS[i] <= par < PAR_BINS[i + 1]:
            return PAR_LABELS[i]
    return PAR_LABELS[-1]


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def datasheet_markdown(version: DatasetVersion) -> str:
    items = version.items.all()
    dataset = version.dataset
    counts = version.counts
    splits = list(dataset.splits)
    deviation = counts.get("split_deviation") or share_deviation(counts.get("splits", {}), dataset.splits)
    kept = counts.get("split_differs", {}).get("count", "not recorded")
    # Streamed (a PAR per item from a subquery, rows fetched a chunk at a time) and de-duplicated in SQL: an
    # export's memory stays flat however many items the version holds.
    par = MaskLabel.objects.filter(annotation_id=OuterRef("annotation_id")).order_by("-id").values("par")[:1]
    histogram: dict[str, Counter] = defaultdict(Counter)
    labelled = items.exclude(annotation=None).annotate(par=Subquery(par)).values_list("image__task__slug", "par")
    for task, item_par in labelled.iterator(chunk_size=5000):
        histogram[task][_bin(item_par or 0.0)] += 1
    human = Annotation.objects.filter(pk__in=items.filter(label_source="human").values("annotation_id"))
    seconds = human.aggregate(s=Sum("lead_time"))["s"] or 0.0
    annotators = sorted(set(human.order_by().values_list("user__username", flat=True).distinct()))
    model_ids = set(Annotation.objects.filter(pk__in=items.filter(label_source="model").values("annotation_id"))
                    .order_by().values_list("model_version_id", flat=True).distinct())
    models = sorted({str(m) for m in ModelVersion.objects.filter(pk__in=model_ids - {None})}
                    | ({"None"} if None in model_ids else set()))

    def strata(key):
        return _table([key] + splits + ["total"], [
            [name] + [row.get(s, 0) for s in splits] + [sum(row.values())]
            for name, row in sorted(counts.get(key, {}).items())
        ])

    return "\n\n".join([
        f"# Datasheet: {dataset.name} v{version.number}",
        f"{dataset.description}".strip() or "_No description._",
        "## Version\n" + _table(["field", "value"], [
            ["items", counts.get("items", 0)], ["manifest hash", version.manifest_hash],
            ["parent", f"v{version.parent.number}" if version.parent else "none"],
            ["author", version.author.username if version.author else "system"], ["note", version.note or ""],
            ["label policy", dataset.label_policy], ["split group key", dataset.group_key],
            ["split shares", ", ".join(f"{k} {v:.0%}" for k, v in dataset.splits.items())],
        ]),
        "## Items per split\n" + _table(["", *splits], [
            ["items", *(counts.get("splits", {}).get(s, 0) for s in splits)],
            ["actual − target share, points", *(f"{deviation.get(s, 0) * 100:+.1f}" for s in splits)],
        ]) + f"\n\nItems kept from the parent in a split other than their global one: {kept}.",
        "## Per generator\n" + strata("by_generator"),
        "## Per synthesis task\n" + strata("by_task"),
        "## PAR histogram per task\n" + _table(["task"] + PAR_LABELS, [
            [task] + [histogram[task].get(b, 0) for b in PAR_LABELS] for task in sorted(histogram)
        ]),
        "## Label provenance\n" + _table(["source", "items"], [
            ["human", counts.get("label_sources", {}).get("human", 0)],
            ["model (allowed by policy, marked `model`)", counts.get("label_sources", {}).get("model", 0)],
            ["unlabelled", counts.get("label_sources", {}).get("", 0)],
        ]) + f"\n\nAnnotators: {', '.join(annotators) or 'none'}. Models: {', '.join(models) or 'none'}.",
        "## Labelling cost\n"
        f"Total labelling time of the chosen human annotations: {seconds / 3600:.2f} hours "
        f"({seconds:.0f} s over {human.count()} annotations; passes without a recorded lead time count as 0).",
    ]) + "\n"
