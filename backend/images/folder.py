"""Turns a folder on disk into IngestItems: plain folders, PAL4VST roots, masks and manifests.

A PAL4VST root has `images/{split}/` and `labels/{split}/`; each image's human mask is the
`labels/` file with the same relative path and a .png suffix. A manifest (JSON lines) adds
per-image metadata and conditional inputs; its paths are relative to the manifest's folder.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from backend.core.exceptions import ApplicationError
from backend.images.services import ConditionalFile, IngestItem, ItemRejected, generator_resolve, task_resolve
from ml.pal4vst_layout import IMAGES, LABELS, is_layout_root

MANIFEST_FIELDS = {
    "path", "prompt", "seed", "domain", "source_uri", "metadata", "conditional_inputs",
    "generator", "generator_version", "task",
}


@dataclass
class FolderPlan:
    root: Path
    image_paths: list[Path]
    masks_dir: Path | None
    manifest: dict[Path, dict]
    manifest_errors: list[ItemRejected]

    @property
    def total(self) -> int:
        return len(self.image_paths) + len(self.manifest_errors)


def _inside(base: Path, relative: str) -> Path | None:
    """`relative` resolved under `base` (symlinks followed), or None when it is absolute or leaves `base`."""
    if Path(relative).is_absolute():
        return None
    resolved = (base / relative).resolve()
    return resolved if resolved.is_relative_to(base.resolve()) else None


def _escaping_path(entry: dict, base: Path) -> str | None:
    """The first path of a manifest line (the image's, a conditional input's) that is not inside the manifest's
    folder: files from outside (/proc/self/environ, ../secret, a symlink out) must never be read."""
    paths = [entry["path"]] + [c["path"] for c in entry.get("conditional_inputs") or []
                               if isinstance(c, dict) and isinstance(c.get("path"), str)]
    return next((path for path in paths if _inside(base, path) is None), None)


def _read_manifest(manifest: Path) -> tuple[dict[Path, dict], list[ItemRejected]]:
    entries: dict[Path, dict] = {}
    errors: list[ItemRejected] = []
    base = manifest.parent
    with manifest.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{manifest}:{lineno}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(ItemRejected(where, f"manifest line is not valid JSON: {exc.msg}"))
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                errors.append(ItemRejected(where, 'manifest line needs an object with a "path" string'))
                continue
            extra = {k: entry.pop(k) for k in set(entry) - MANIFEST_FIELDS}
            if extra:
                # Fields we have no column for are kept, not dropped: they go into the metadata.
                if not isinstance(entry.get("metadata", {}), dict):
                    errors.append(ItemRejected(where, "manifest metadata must be an object"))
                    continue
                entry["metadata"] = {**extra, **(entry.get("metadata") or {})}
            escaping = _escaping_path(entry, base)
            if escaping is not None:
                errors.append(ItemRejected(where, f"manifest path {escaping!r} is absolute or leaves the manifest's "
                                                  f"folder {base}; the line's image is not ingested"))
                entries[(base / entry["path"]).resolve()] = {"_rejected": True}
                continue
            # Conditional input paths are relative to the manifest too; remember where it was.
            entries[(base / entry["path"]).resolve()] = {**entry, "_base": str(base)}
    return entries, errors


def folder_plan(root: Path, *, masks_dir: Path | None = None, manifest: Path | None = None) -> FolderPlan:
    root = root.resolve()
    if not root.exists():
        raise ApplicationError(f"{root}: no such file or directory")
    entries, errors = _read_manifest(manifest.resolve()) if manifest else ({}, [])
    if root.is_file():
        return FolderPlan(root.parent, [root], masks_dir, entries, errors)
    image_root = root
    if is_layout_root(root):
        image_root, masks_dir = root / IMAGES, masks_dir or root / LABELS
    skip_dirs = {p.resolve() for p in (masks_dir,) if p}
    skip_files = {manifest.resolve()} if manifest else set()
    outside = [p for p in image_root.rglob("*") if p.is_symlink() and _inside(image_root, str(p.relative_to(
        image_root))) is None]
    errors += [ItemRejected(str(p), f"a symbolic link out of {image_root}; not followed") for p in outside]
    skip_files |= {p.resolve() for p in outside} | {p for p in outside}
    for entry in entries.values():
        for cond in entry.get("conditional_inputs") or []:
            if isinstance(cond, dict) and isinstance(cond.get("path"), str):
                skip_files.add((Path(entry["_base"]) / cond["path"]).resolve())
    paths = sorted(
        p for p in image_root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(image_root).parts)
        and p.resolve() not in skip_files and p not in skip_files
        and p.resolve().is_relative_to(image_root.resolve())  # nothing under a linked folder that leads out
        and not any(d in p.resolve().parents for d in skip_dirs)
    )
    errors += [ItemRejected(str(p), "listed in the manifest but there is no such file")
               for p, entry in entries.items() if not entry.get("_rejected") and not p.is_file()]
    return FolderPlan(image_root, paths, masks_dir.resolve() if masks_dir else None, entries, errors)


def _mask_for(plan: FolderPlan, path: Path) -> Path | None:
    if plan.masks_dir is None:
        return None
    rel = path.relative_to(plan.root).with_suffix(".png")
    for candidate in (plan.masks_dir / rel, plan.masks_dir / rel.name):
        if candidate.is_file():
            return candidate
    return None


def _item_from_entry(path: Path, entry: dict, data: bytes) -> IngestItem:
    where = str(path)
    seed = entry.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise ItemRejected(where, f"manifest seed must be an integer, got {seed!r}")
    metadata = entry.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ItemRejected(where, "manifest metadata must be an object")
    item = IngestItem(
        name=where, data=data, prompt=str(entry.get("prompt") or ""), seed=seed,
        domain=str(entry.get("domain") or ""), source_uri=str(entry.get("source_uri") or ""), metadata=metadata,
    )
    try:
        if entry.get("generator"):
            item.generator = generator_resolve(name=entry["generator"], version=entry.get("generator_version"))
        if entry.get("task"):
            item.task = task_resolve(slug=entry["task"])
    except ApplicationError as exc:
        raise ItemRejected(where, exc.message) from exc
    for cond in entry.get("conditional_inputs") or []:
        if not isinstance(cond, dict) or not {"role", "path"} <= set(cond):
            raise ItemRejected(where, 'each conditional input needs "role" and "path"')
        cond_path = Path(entry["_base"]) / cond["path"]
        try:
            item.conditional_inputs.append(ConditionalFile(cond["role"], str(cond_path), cond_path.read_bytes()))
        except OSError as exc:
            raise ItemRejected(str(cond_path), f"cannot read conditional input: {exc.strerror}") from exc
    return item


def folder_items(plan: FolderPlan) -> Iterator[IngestItem | ItemRejected]:
    """Yields items lazily so memory stays flat however big the folder is."""
    yield from plan.manifest_errors
    for path in plan.image_paths:
        entry = plan.manifest.get(path.resolve(), {})
        if entry.get("_rejected"):
            continue  # its manifest line was refused (reported in manifest_errors): nothing of it is stored
        try:
            data = path.read_bytes()
        except OSError as exc:
            yield ItemRejected(str(path), f"cannot read file: {exc.strerror}")
            continue
        try:
            item = _item_from_entry(path, entry, data)
        except ItemRejected as exc:
            yield exc
            continue
        mask_path = _mask_for(plan, path)
        if mask_path is not None:
            try:
                item.mask_name, item.mask_data = str(mask_path), mask_path.read_bytes()
            except OSError as exc:
                yield ItemRejected(str(mask_path), f"cannot read mask: {exc.strerror}")
                continue
        yield item
