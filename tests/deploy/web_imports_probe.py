"""Run as a fresh process by test_web_process_imports.py: import the web app as gunicorn does, then send every URL
route each HTTP method its view has (Django test client, an admin session, dummy ids) and print, as JSON, the
heavy ML modules now in sys.modules and which request first loaded each."""

from __future__ import annotations

import json
import re
import sys

HEAVY = ("torch", "mmseg", "mmengine", "mmcv", "transformers", "peft")


def loaded() -> set[str]:
    return {name for name in HEAVY if name in sys.modules}


def routes(patterns=None, prefix: str = "", ids: dict | None = None) -> list[tuple[str, object]]:
    """(path, callback) for every pattern in the URL conf: int parameters get a dummy id, or with `ids` the seeded
    object's id (patterns with a parameter `ids` does not name are left out then)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += routes(pattern.url_patterns, route, ids)
        elif isinstance(pattern, URLPattern):
            names = re.findall(r"<int:([^>]+)>", route)
            if ids is not None:
                if not names or any(name not in ids for name in names):
                    continue
                route = re.sub(r"<int:([^>]+)>", lambda m: str(ids[m.group(1)]), route)
            path = re.sub(r"<int:[^>]+>", "999999", route)
            path = re.sub(r"<(?:str|slug|path):[^>]+>", "x", path)
            path = re.sub(r"<[^>]+>", "x", path)
            path = path.lstrip("^").rstrip("$").replace("\\", "")
            if "(" in path or "?" in path:  # a regex route (the admin's): its plain prefix is enough
                path = path.split("(")[0]
            found.append(("/" + path, pattern.callback))
    return found


def methods(callback) -> list[str]:
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view is None:
        return ["get"]
    return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)]


def png():
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(buf, format="PNG")
    buf.seek(0)
    buf.name = "probe.png"
    return buf


def main() -> None:
    import backend.config.wsgi  # noqa: F401  (what gunicorn imports)

    after_import = sorted(loaded())
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin = get_user_model().objects.get(username=sys.argv[1])
    client = Client(raise_request_exception=False)
    answers, culprits = {}, {}
    for path, callback in routes():
        for method in methods(callback):
            client.force_login(admin)  # again each time: the logout routes end the session
            before = loaded()
            response = getattr(client, method)(path, **({"data": {}, "content_type": "application/json"}
                                                         if method in {"post", "put", "patch"} else {}))
            answers[f"{method.upper()} {path}"] = response.status_code
            for name in loaded() - before:
                culprits[name] = f"{method.upper()} {path}"
    # The seeded objects' pages and reads (GET only: a write with a real id would change what later routes see)...
    ids = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    for path, callback in routes(ids=ids) if ids else []:
        if "get" in methods(callback):
            client.force_login(admin)
            before = loaded()
            answers[f"GET {path}"] = client.get(path).status_code
            for name in loaded() - before:
                culprits[name] = f"GET {path}"
    # ... the seeded campaign's next batch, picked by uncertainty from the production segmenter's stored scores ...
    if "campaign_id" in ids:
        client.force_login(admin)
        before = loaded()
        label = f"POST /api/campaigns/{ids['campaign_id']}/next-batch (uncertainty)"
        answers[label] = client.post(f"/api/campaigns/{ids['campaign_id']}/next-batch",
                                     data={"k": 5, "strategy": "uncertainty"}, content_type="application/json"
                                     ).status_code
        for name in loaded() - before:
            culprits[name] = label
    # ... and a reward batch that passes every check on the web side, so it reaches the inference queue.
    client.force_login(admin)
    before = loaded()
    answers["POST /api/reward (a valid image)"] = client.post("/api/reward", data={"images": [png()]}).status_code
    for name in loaded() - before:
        culprits[name] = "POST /api/reward (a valid image)"
    print(json.dumps({"after_import": after_import, "loaded": sorted(loaded()), "culprits": culprits,
                      "answers": answers}))


if __name__ == "__main__":
    main()
