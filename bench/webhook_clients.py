"""Load generators for bench/webhook.py: post pre-serialized webhook bodies and time each acknowledgement.

Two clients with the same contract (every body posted exactly once, never retried: a retry would be a second
delivery and blur the exactly-once count; ack latency = from starting the request, TCP connect included, to
having the whole response):

* `asyncio` (default): one event loop (uvloop when installed), one coroutine per concurrent client, raw
  HTTP/1.1 on asyncio streams. A post costs the client tens of microseconds, so on a small machine the
  figure is the server's, not the client's.
* `threads`: one http.client thread per concurrent client. Fifty Python threads queue behind one GIL and
  the context switches eat CPU the server needs; their wait is counted as latency. Kept for comparison.

`fire_from` spreads either client over several processes; `get_warmup` sends the cheap GETs that warm the
server up before the posts.
"""

import asyncio
import gc
import http.client
import json
import threading
import time

WEBHOOK_PATH = "/api/labelstudio/webhook/"
CLIENTS = ("asyncio", "threads")


def _result(n: int) -> dict:
    return {"latency": [0.0] * n, "status": [0] * n, "event_id": [None] * n, "errors": [],
            "send_lag": [0.0] * n}


def _record(out: dict, i: int, ann_id: int, status: int, data: bytes) -> None:
    out["status"][i] = status
    if status == 200:
        answer = json.loads(data)  # Django: {"event": id}; the ingress: {"queued": stream id}
        out["event_id"][i] = answer.get("event", answer.get("queued"))
    else:
        out["errors"].append(f"annotation {ann_id}: HTTP {status} {data[:200]!r}")


def _failed(out: dict, i: int, ann_id: int, sent: float, exc: Exception) -> None:
    # Not retried: a retry could be a second delivery and would blur the exactly-once count.
    out["latency"][i] = time.perf_counter() - sent
    out["errors"].append(f"annotation {ann_id}: {type(exc).__name__}: {exc}")


def fire_threads(port: int, bodies: list[tuple[int, bytes]], concurrency: int, *, headers: dict,
                 keepalive: bool, rate: float | None = None) -> dict:
    """Post every body once from `concurrency` http.client threads; returns timings in body order."""
    n = len(bodies)
    out = _result(n)
    next_index = [0]
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    t0 = [0.0]

    def client() -> None:
        conn = None
        start.wait()
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= n:
                break
            if rate:
                pause = t0[0] + i / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            sent = time.perf_counter()
            if rate:
                out["send_lag"][i] = sent - (t0[0] + i / rate)
            try:
                conn.request("POST", WEBHOOK_PATH, body=bodies[i][1],
                             headers={**headers, "Connection": "keep-alive" if keepalive else "close"})
                response = conn.getresponse()
                data = response.read()
                out["latency"][i] = time.perf_counter() - sent
                with lock:
                    _record(out, i, bodies[i][0], response.status, data)
                if not keepalive or response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                with lock:
                    _failed(out, i, bodies[i][0], sent, exc)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    t0[0] = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    return {**out, "seconds": time.perf_counter() - t0[0], "t0": t0[0]}


def _request_bytes(body: bytes, headers: dict, keepalive: bool) -> bytes:
    lines = [f"POST {WEBHOOK_PATH} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
             f"Connection: {'keep-alive' if keepalive else 'close'}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server closes) of one HTTP/1.1 response with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    fields = {}
    for line in header_lines:
        if ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
    if "content-length" not in fields:
        raise ValueError(f"response without Content-Length ({status_line})")
    data = await reader.readexactly(int(fields["content-length"]))
    return status, data, fields.get("connection", "").lower() == "close"


async def _fire_async(port: int, bodies: list[tuple[int, bytes]], concurrency: int, *, headers: dict,
                      keepalive: bool, rate: float | None) -> dict:
    n = len(bodies)
    out = _result(n)
    requests = [_request_bytes(body, headers, keepalive) for _, body in bodies]
    next_index = 0
    t0 = time.perf_counter()

    async def client() -> None:
        nonlocal next_index
        reader = writer = None
        while next_index < n:
            i = next_index
            next_index += 1  # no await between the read and the increment: no lock needed
            if rate:
                pause = t0 + i / rate - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
            sent = time.perf_counter()
            if rate:
                out["send_lag"][i] = sent - (t0 + i / rate)
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(requests[i])
                status, data, closes = await asyncio.wait_for(_read_response(reader), 60)
                out["latency"][i] = time.perf_counter() - sent
                _record(out, i, bodies[i][0], status, data)
                if not keepalive or closes:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                    ValueError, KeyError) as exc:
                _failed(out, i, bodies[i][0], sent, exc)
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return {**out, "seconds": time.perf_counter() - t0, "t0": t0}


def fire_asyncio(port: int, bodies: list[tuple[int, bytes]], concurrency: int, *, headers: dict,
                 keepalive: bool, rate: float | None = None) -> dict:
    """Post every body once from `concurrency` coroutines on one event loop; returns timings in body order."""
    coroutine = _fire_async(port, bodies, concurrency, headers=headers, keepalive=keepalive, rate=rate)
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    # The benchmark process holds Django, numpy and the seeded payloads: a full cyclic-GC pass over that heap
    # stalls every coroutine for milliseconds, and the stall would be counted as server latency.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        return run(coroutine)
    finally:
        gc.enable()
        gc.unfreeze()


def fire(client: str, port: int, bodies: list[tuple[int, bytes]], concurrency: int, *, headers: dict,
         keepalive: bool, rate: float | None = None) -> dict:
    fn = {"asyncio": fire_asyncio, "threads": fire_threads}[client]
    return fn(port, bodies, concurrency, headers=headers, keepalive=keepalive, rate=rate)


def _fire_slice(client, port, bodies, concurrency, headers, keepalive, rate):
    return fire(client, port, bodies, concurrency, headers=headers, keepalive=keepalive, rate=rate)


def fire_from(procs: int, client: str, port: int, bodies: list[tuple[int, bytes]], concurrency: int, *,
              headers: dict, keepalive: bool, rate: float | None = None) -> dict:
    """`fire` from `procs` client processes, each posting every procs-th body from concurrency/procs clients.

    Label Studio's deliveries come from many server processes; one client process can instead become the
    bottleneck, and its wait would be counted as server latency."""
    procs = max(1, min(procs, concurrency, len(bodies)))
    if procs == 1:
        return fire(client, port, bodies, concurrency, headers=headers, keepalive=keepalive, rate=rate)
    import multiprocessing

    clients = [concurrency // procs + (1 if k < concurrency % procs else 0) for k in range(procs)]
    jobs = [(client, port, bodies[k::procs], clients[k], headers, keepalive, rate / procs if rate else None)
            for k in range(procs)]
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        parts = pool.starmap(_fire_slice, jobs)
    n = len(bodies)
    merged = {key: [None] * n for key in ("latency", "status", "event_id", "send_lag")}
    for k, part in enumerate(parts):
        for key in merged:
            merged[key][k::procs] = part[key]
    t0 = min(part["t0"] for part in parts)
    return {**merged, "errors": [e for part in parts for e in part["errors"]], "t0": t0,
            "seconds": max(part["t0"] + part["seconds"] for part in parts) - t0}


def get_warmup(port: int, count: int, concurrency: int) -> None:
    """Cheap GETs (405) so every gunicorn worker has imported the URL conf and views."""
    lock = threading.Lock()
    left = [count]

    def client() -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", WEBHOOK_PATH)
            conn.getresponse().read()
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
