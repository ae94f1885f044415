"""The gallery's filters and sorts (django-filter), all combinable and all in the URL.

Every choice list comes from `GalleryOptions`, read once per page (the same lists the filter form shows), so a
value is checked in memory: an unknown generator or class is a form error naming the filter, and the page costs
the same queries whatever is filtered."""

from __future__ import annotations

from dataclasses import dataclass

import django_filters
from django import forms
from django.db.models import Exists, F, OuterRef, QuerySet

from annotator.models import CampaignTask
from backend.annotations.models import Annotation, RegionLabel
from backend.images.models import GeneratedImage
from datasets.models import DatasetItem

YES_NO = (("yes", "yes"), ("no", "no"))
LABEL_SOURCES = (("human", "human"), ("model", "model"), ("none", "none"))
SPLITS = (("train", "train"), ("val", "val"), ("test", "test"))
# sort value → (label, ordering). Nulls last: an image without a figure is never "the likeliest label error".
SORTS = {
    "-created": ("newest first", [F("created_at").desc(), F("id").desc()]),
    "created": ("oldest first", [F("created_at").asc(), F("id").asc()]),
    "-par": ("highest PAR", [F("par").desc(nulls_last=True), F("id").desc()]),
    "par": ("lowest PAR", [F("par").asc(nulls_last=True), F("id").asc()]),
    "disagreement": ("model–human disagreement", [F("label_check__disagreement").desc(nulls_last=True),
                                                  F("label_check__differing_pixels").desc(nulls_last=True),
                                                  F("id").desc()]),
    "uncertainty": ("model uncertainty", [F("label_check__uncertainty").desc(nulls_last=True), F("id").desc()]),
}
PAGE_SIZES = (50, 100, 200)
# Parameters that are not filters but are allowed in the URL.
NON_FILTERS = ("page",)


@dataclass(frozen=True)
class GalleryOptions:
    """Every value a filter may take, as (value, label) pairs, read once for the page."""

    generators: list[tuple[str, str]]
    generator_versions: list[tuple[str, str]]
    tasks: list[tuple[str, str]]
    classes: list[tuple[str, str]]
    annotators: list[tuple[str, str]]
    campaigns: list[tuple[str, str]]
    dataset_versions: list[tuple[str, str]]


def _exists(model, **lookups):
    return Exists(model.objects.filter(**lookups))


class GalleryFilter(django_filters.FilterSet):
    generator = django_filters.MultipleChoiceFilter(label="generator", field_name="generator_id")
    generator_version = django_filters.ChoiceFilter(label="generator version", field_name="generator__version")
    task = django_filters.MultipleChoiceFilter(label="synthesis task", field_name="task__slug")
    labelled = django_filters.ChoiceFilter(label="labelled", choices=YES_NO, method="filter_labelled")
    label_source = django_filters.ChoiceFilter(label="label source", choices=LABEL_SOURCES,
                                               method="filter_label_source")
    par_min = django_filters.NumberFilter(label="PAR from", field_name="par", lookup_expr="gte", min_value=0,
                                          max_value=1)
    par_max = django_filters.NumberFilter(label="PAR to", field_name="par", lookup_expr="lte", min_value=0,
                                          max_value=1)
    artifact_class = django_filters.ChoiceFilter(label="artifact class", method="filter_artifact_class")
    annotator = django_filters.ChoiceFilter(label="annotator", method="filter_annotator")
    campaign = django_filters.ChoiceFilter(label="campaign", method="filter_campaign")
    dataset_version = django_filters.ChoiceFilter(label="dataset version", method="filter_dataset_version")
    split = django_filters.ChoiceFilter(label="split", choices=SPLITS, method="filter_split")
    created_after = django_filters.DateFilter(label="created from", field_name="created_at", lookup_expr="date__gte",
                                              widget=forms.DateInput(attrs={"type": "date"}))
    created_before = django_filters.DateFilter(label="created until", field_name="created_at", lookup_expr="date__lte",
                                               widget=forms.DateInput(attrs={"type": "date"}))
    has_fix = django_filters.ChoiceFilter(label="has a fix", choices=YES_NO, method="filter_has_fix")
    sort = django_filters.ChoiceFilter(label="sort by", choices=[(k, label) for k, (label, _) in SORTS.items()],
                                       method="filter_sort", empty_label=None)
    size = django_filters.ChoiceFilter(label="per page", choices=[(str(n), str(n)) for n in PAGE_SIZES],
                                       method="filter_nothing", empty_label=None)

    class Meta:
        model = GeneratedImage
        fields: list[str] = []

    def __init__(self, data, *, options: GalleryOptions, **kwargs):
        super().__init__(data, **kwargs)
        for name, choices in (("generator", options.generators), ("generator_version", options.generator_versions),
                              ("task", options.tasks), ("artifact_class", options.classes),
                              ("annotator", options.annotators), ("campaign", options.campaigns),
                              ("dataset_version", options.dataset_versions)):
            self.filters[name].extra["choices"] = choices
        # The URL may carry only known parameters: a misspelt one would otherwise be ignored without a word.
        self.unknown = sorted(set(data or {}) - set(self.filters) - set(NON_FILTERS))

    def is_valid(self) -> bool:
        valid = super().is_valid()
        data = self.form.cleaned_data if valid else {}
        if valid and data.get("par_min") is not None and data.get("par_max") is not None \
                and data["par_min"] > data["par_max"]:
            self.form.add_error("par_max", "must be at least par_min")
        if valid and data.get("split") and not data.get("dataset_version"):
            self.form.add_error("split", "choose a dataset version for the split")
        return super().is_valid() and not self.unknown

    def problems(self) -> list[tuple[str, str]]:
        """(filter, what is wrong) for each bad parameter, for the 400 page."""
        found = [(name, "unknown filter") for name in self.unknown]
        for name, errors in self.form.errors.items():
            found += [(name, str(error)) for error in errors]
        return found

    @property
    def ordering(self) -> list:
        return SORTS[self.form.cleaned_data.get("sort") or "-created"][1]

    @property
    def page_size(self) -> int:
        return int(self.form.cleaned_data.get("size") or PAGE_SIZES[0])

    def filter_nothing(self, queryset, name, value):
        return queryset

    def filter_sort(self, queryset, name, value):
        return queryset  # applied by the selector with `ordering`, after every filter

    def filter_labelled(self, queryset, name, value):
        return queryset.filter(is_labelled=value == "yes")

    def filter_label_source(self, queryset, name, value):
        return queryset.filter(par_source="" if value == "none" else value)

    def filter_artifact_class(self, queryset, name, value):
        return queryset.filter(_exists(RegionLabel, annotation__image=OuterRef("pk"), annotation__is_current=True,
                                       artifact_class__slug=value))

    def filter_annotator(self, queryset, name, value):
        return queryset.filter(_exists(Annotation, image=OuterRef("pk"), is_current=True, user__username=value))

    def filter_campaign(self, queryset, name, value):
        return queryset.filter(_exists(CampaignTask, image=OuterRef("pk"), campaign_id=value))

    def filter_dataset_version(self, queryset, name, value):
        split = self.form.cleaned_data.get("split")
        lookups = {"split": split} if split else {}
        return queryset.filter(_exists(DatasetItem, image=OuterRef("pk"), version_id=value, **lookups))

    def filter_split(self, queryset, name, value):
        return queryset  # together with dataset_version, above

    def filter_has_fix(self, queryset, name, value):
        fixed = _exists(GeneratedImage, fixed_from=OuterRef("pk"))
        return queryset.filter(fixed if value == "yes" else ~fixed)


def gallery_filter(params, *, options: GalleryOptions, queryset: QuerySet[GeneratedImage]) -> GalleryFilter:
    return GalleryFilter(params, options=options, queryset=queryset)
