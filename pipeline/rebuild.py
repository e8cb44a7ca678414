"""Rebuild the speed layer from the lake: the speed layer is a cache of truth, not the truth.

    python -m pipeline.rebuild [--since 2026-11-27T08:00:00]

Replays the lake's events in event-time order through the same speed-layer writer the
processor uses; being order-safe and idempotent, it may run against a live speed layer.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from pyarrow import fs as pafs

from pipeline.lake import dataset, time_filter
from pipeline.schemas import STREAMS
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import Record

_PARTITION_COLUMNS = ("date", "hour")


def rebuild(
    speed: SpeedLayer, filesystem: pafs.FileSystem, root: str, since: datetime | None = None, batch: int = 5000
) -> dict[str, int]:
    """Write every lake event (newer than ``since``) into ``speed``; returns events per stream."""
    written: dict[str, int] = {}
    for stream in STREAMS:
        data = dataset(filesystem, root, stream)
        if data is None:
            continue
        flt = None if since is None else time_filter(since)  # prunes the partitions before it
        table = data.to_table(filter=flt).drop_columns(list(_PARTITION_COLUMNS)).sort_by("event_time")
        rows: list[Record] = [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]
        for start in range(0, len(rows), batch):
            speed.write([(stream, r) for r in rows[start : start + batch]])
        written[stream] = len(rows)
    return written


def main(argv: list[str] | None = None) -> int:
    from pipeline import runtime
    from pipeline.lake import open_lake
    from pipeline.settings import Settings

    p = argparse.ArgumentParser(prog="python -m pipeline.rebuild", description=__doc__.split("\n")[0])
    p.add_argument("--since", type=datetime.fromisoformat, help="only events at or after this time (UTC)")
    args = p.parse_args(argv)
    since = args.since.replace(tzinfo=args.since.tzinfo or UTC) if args.since else None
    settings = Settings()
    if settings.redis_url is None:
        print("rebuild needs SMARTCITY_REDIS_URL: the embedded store lives inside the demo process", file=sys.stderr)
        return 2
    speed = runtime.speed_layer(settings, runtime.redis_client(settings))
    filesystem, root = open_lake(settings.lake_uri, runtime.s3_options(settings))
    print(json.dumps(rebuild(speed, filesystem, root, since)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
