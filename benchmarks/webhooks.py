"""How fast alerts reach a webhook: prints one JSON document.

    python -m benchmarks.webhooks [--alerts 2000] [--dispatchers 2]

On a real ``redis-server``, ``--dispatchers`` dispatchers (as many server processes would run,
here threads of this one) send ``--alerts`` alerts, added at once to the alert stream, to one
local receiver (http.server, answering 200). Figures: alerts delivered per second from the
first add to the last acknowledgement, and the latency from an alert's add to its arrival
(p50, p99, ms), and how many each dispatcher sent (each alert exactly once).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import orjson
import redis


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.webhooks", description=__doc__.split("\n")[0])
    p.add_argument("--alerts", type=int, default=2000)
    p.add_argument("--dispatchers", type=int, default=2)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from app.dispatcher import GROUP, Dispatcher
    from app.webhooks import Webhooks
    from benchmarks.console import percentiles
    from benchmarks.pipeline import machine
    from tests.services import RedisServer
    from tests.webhook_receiver import receiver, wait_for

    work = Path(tempfile.mkdtemp(prefix="smartcity-webhooks-"))
    with RedisServer(work / "redis") as rs, receiver("bench-secret") as rx:
        client = redis.Redis(host="127.0.0.1", port=rs.port)
        hooks = Webhooks(client, "bench:")
        hooks.add({"url": rx.url, "secret": rx.secret, "min_severity": "low"}, "bench")
        stream = "bench:{alerts}:stream"
        senders = [Dispatcher(hooks, stream=stream, consumer=f"d{i}").start() for i in range(args.dispatchers)]
        time.sleep(1.5)  # the group made, the hooks read
        started = time.time()
        pipe = client.pipeline(transaction=False)
        for n in range(args.alerts):
            alert = {"id": f"a-{n}", "kind": "aqi", "severity": "high", "message": "bench", "entity": "ws-1",
                     "time": "2026-12-07T08:00:00+00:00", "rule": None, "sent": time.time()}  # fmt: skip
            pipe.xadd(stream, {"alert": orjson.dumps(alert)})
        pipe.execute()
        wait_for(lambda: len(rx.received()) >= args.alerts, timeout=600, what="every delivery")
        wait_for(lambda: int(client.xpending(stream, GROUP)["pending"]) == 0, timeout=60, what="every ack")
        elapsed = time.time() - started
        for d in senders:
            d.stop()
        got = rx.received()
        ids = [d.alert["id"] for d in got]
    result = {
        "benchmark": "webhooks",
        "machine": machine(),
        "alerts": args.alerts,
        "dispatchers": args.dispatchers,
        "alerts_per_s": round(args.alerts / elapsed, 1),
        "seconds": round(elapsed, 2),
        "deliveries": len(got),
        "duplicates": len(ids) - len(set(ids)),
        "sent_by_dispatcher": [d.counts["delivered"] for d in senders],
        "latency_ms": percentiles([(d.arrived - d.alert["sent"]) * 1000 for d in got]),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
