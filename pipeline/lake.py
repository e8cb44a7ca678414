"""Batch layer: every event in a Parquet lake with Hive partitions.

Layout: ``<lake>/<stream>/date=YYYY-MM-DD/hour=HH/part-<writer>-<seq>.parquet`` with
typed columns (``pipeline.schemas.arrow_schema``), partitioned by event time (UTC).
Dead letters go to ``<lake>/_deadletter/`` partitioned by the time they were received.
The lake is a local folder or any S3 API (``s3://bucket/prefix``) via pyarrow's
filesystems; it reads back as-is with pandas, pyarrow, polars, DuckDB and Spark.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from pipeline.exceptions import LakeWriteError
from pipeline.schemas import DEADLETTER_SCHEMA, arrow_schema
from pipeline.validation import DeadLetter, Record

log = logging.getLogger(__name__)
DEADLETTER = "_deadletter"


@dataclass(frozen=True)
class S3Options:
    """Where and how to reach an S3 API; empty values fall back to AWS defaults."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None


def open_lake(uri: str, s3: S3Options | None = None) -> tuple[pafs.FileSystem, str]:
    """Filesystem and root path for a lake URI (a local path or ``s3://bucket/prefix``)."""
    if uri.startswith("s3://"):
        s3 = s3 or S3Options()
        kwargs: dict[str, Any] = {}
        if s3.endpoint_url:
            scheme, _, host = s3.endpoint_url.partition("://")
            kwargs.update(endpoint_override=host or scheme, scheme=scheme if host else "https")
        if s3.region:
            kwargs["region"] = s3.region
        if s3.access_key and s3.secret_key:
            kwargs.update(access_key=s3.access_key, secret_key=s3.secret_key)
        return pafs.S3FileSystem(**kwargs), uri[len("s3://") :].rstrip("/")
    local = pafs.LocalFileSystem()
    root = os.path.abspath(uri[len("file://") :] if uri.startswith("file://") else uri)
    local.create_dir(root, recursive=True)
    return local, root


def partition_path(root: str, table: str, year: int, month: int, day: int, hour: int) -> str:
    return f"{root}/{table}/date={year:04d}-{month:02d}-{day:02d}/hour={hour:02d}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
CONVERT_ROWS = 4096  # rows per Arrow conversion call (a few ms of GIL each)


def to_table(rows: list[Record], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) to an Arrow table.

    The plain columns convert in one pass of Arrow's C++ (the rows read as a struct array:
    a missing key is a null, keys outside the schema are ignored). Timestamps go apart:
    pyarrow converts zone-aware datetimes at ~6 us each, as integers they cost nothing, and
    a batch's rows share few distinct instants, so each is converted once.
    """
    plain = [field.with_nullable(True) for field in schema if not pa.types.is_timestamp(field.type)]
    struct = pa.struct(plain)
    # in slices: one conversion holds the GIL throughout, and the speed path shares it
    parts = [pa.array(rows[i : i + CONVERT_ROWS], struct).flatten() for i in range(0, len(rows), CONVERT_ROWS)]
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        field.name: pa.chunked_array([part[i] for part in parts], field.type) for i, field in enumerate(plain)
    }
    for field in schema:
        if not pa.types.is_timestamp(field.type):
            continue
        micros: dict[datetime, int] = {}
        ints: list[int | None] = []
        for row in rows:
            value = row.get(field.name)
            if value is None:
                ints.append(None)
                continue
            m = micros.get(value)
            if m is None:
                m = micros[value] = (value - _EPOCH) // _MICROSECOND
            ints.append(m)
        columns[field.name] = pa.array(ints, pa.int64()).cast(field.type)
    return pa.Table.from_arrays([columns[field.name] for field in schema], schema=schema)


class LakeWriter:
    """Buffers rows per partition and writes bounded Parquet files.

    One thread adds rows while another flushes (the embedded processor's lake writer, or a
    signal handler's thread): ``flush`` takes the buffered rows under the lock as one frozen
    batch and encodes and writes it outside the lock, so ``add`` never waits for Parquet.
    """

    def __init__(
        self,
        filesystem: pafs.FileSystem,
        root: str,
        max_rows: int = 100_000,
        max_age_s: float = 10.0,
        writer_id: str | None = None,
    ) -> None:
        self.fs = filesystem
        self.root = root
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self.writer_id = writer_id or uuid.uuid4().hex[:12]
        self._local = isinstance(filesystem, pafs.LocalFileSystem)
        self._buffers: dict[tuple[str, int, int, int, int], list[Record]] = defaultdict(list)
        self._rows = 0
        self._writing = 0  # rows of the frozen batch a flush is writing
        self._oldest: float | None = None
        self._seq = 0
        self._lock = threading.Lock()
        self.files_written = 0

    @property
    def buffered_rows(self) -> int:
        return self._rows

    @property
    def held_rows(self) -> int:
        """Rows in memory: buffered, and being written by a flush."""
        return self._rows + self._writing

    def add(self, stream: str, records: list[Record]) -> None:
        """Buffer validated records of one stream."""
        with self._lock:
            buffers = self._buffers
            by_time: dict[datetime, list[Record]] = {}  # a batch's events share few instants
            for rec in records:
                t = rec["event_time"]
                rows = by_time.get(t)
                if rows is None:
                    rows = by_time[t] = buffers[(stream, t.year, t.month, t.day, t.hour)]
                rows.append(rec)
            self._grew(len(records))

    def add_dead_letters(self, letters: list[DeadLetter]) -> None:
        with self._lock:
            for dl in letters:
                t = dl.received_at
                self._buffers[(DEADLETTER, t.year, t.month, t.day, t.hour)].append(dl.as_row())
            self._grew(len(letters))

    def _grew(self, n: int) -> None:
        if n and self._oldest is None:
            self._oldest = time.monotonic()
        self._rows += n

    def due(self) -> bool:
        """True when the buffer is full or its oldest row has waited ``max_age_s``."""
        if self._rows >= self.max_rows:
            return True
        return self._oldest is not None and time.monotonic() - self._oldest >= self.max_age_s

    def flush(self, file_stem: str | None = None) -> dict[str, int]:
        """Write every buffered partition; returns rows written per table.

        ``file_stem`` fixes the file name (e.g. from a Spark batch id) so that a replayed
        batch overwrites its own files instead of adding duplicates.
        """
        with self._lock:
            buffers, self._buffers = self._buffers, defaultdict(list)
            self._writing += self._rows
            frozen, self._rows, self._oldest = self._rows, 0, None
            if not buffers:
                return {}
            self._seq += 1
            stem = file_stem or f"{self.writer_id}-{self._seq:08d}"
        written: dict[str, int] = defaultdict(int)
        items = sorted(buffers.items(), key=lambda kv: kv[0])
        try:
            for i, ((table, y, m, d, h), rows) in enumerate(items):
                schema = DEADLETTER_SCHEMA if table == DEADLETTER else arrow_schema(table)
                try:
                    arrow = to_table(rows, schema)
                    self._write(arrow, partition_path(self.root, table, y, m, d, h), f"part-{stem}.parquet")
                except Exception as exc:
                    self._rebuffer(items[i:])  # nothing lost: the next flush tries these again
                    raise LakeWriteError(str(exc), dict(written)) from exc
                written[table] += len(rows)
                self.files_written += 1
        finally:
            with self._lock:
                self._writing -= frozen
        return dict(written)

    def _rebuffer(self, items: list[tuple[tuple[str, int, int, int, int], list[Record]]]) -> None:
        with self._lock:
            for key, rows in items:
                self._buffers[key][:0] = rows
            self._grew(sum(len(rows) for _, rows in items))

    def _write(self, table: pa.Table, directory: str, name: str) -> None:
        final = f"{directory}/{name}"
        if not self._local:
            # An S3 PUT is atomic: readers never see half a file. S3 has no folders either:
            # creating them cost a request per level per file (a third of a small file's write).
            pq.write_table(table, final, filesystem=self.fs)
            return
        self.fs.create_dir(directory, recursive=True)
        tmp = f"{directory}/.{name}.tmp"
        pq.write_table(table, tmp, filesystem=self.fs)
        self.fs.move(tmp, final)


def dataset(filesystem: pafs.FileSystem, root: str, table: str) -> ds.Dataset | None:
    """A pyarrow dataset over one lake table (None when nothing was written yet)."""
    base = f"{root}/{table}"
    info = filesystem.get_file_info(base)
    if info.type == pafs.FileType.NotFound:
        return None
    schema = DEADLETTER_SCHEMA if table == DEADLETTER else arrow_schema(table)
    part = ds.partitioning(pa.schema([("date", pa.string()), ("hour", pa.int32())]), flavor="hive")
    return ds.dataset(
        base,
        filesystem=filesystem,
        format="parquet",
        partitioning=part,
        schema=schema.append(pa.field("date", pa.string())).append(pa.field("hour", pa.int32())),
        exclude_invalid_files=False,
        ignore_prefixes=[".", "_"],
    )


def utc(t: datetime) -> datetime:
    """``t`` in UTC; a naive ``t`` is taken as UTC, as the API documents for its query times (events
    are another matter: the validator reads their naive times in the configured zone)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def partition_dates(start: datetime, end: datetime) -> tuple[str, str]:
    """The first and last ``date=`` partitions that can hold event times in ``[start, end)``.

    Partitions are UTC days: a range given in another offset (``+14:00`` is the previous UTC
    day until 10:00) must be converted before it names them.
    """
    return _day(start), _day(utc(end) - _MICROSECOND)


def _day(t: datetime) -> str:
    return utc(t).strftime("%Y-%m-%d")


def time_filter(start: datetime, end: datetime | None = None) -> pc.Expression:
    """Rows with event times in ``[start, end)`` (no ``end``: from ``start`` on), pruning the
    ``date`` partitions outside the range so they are never opened."""
    flt = (pc.field("event_time") >= utc(start)) & (pc.field("date") >= _day(start))
    if end is not None:
        flt &= (pc.field("event_time") < utc(end)) & (pc.field("date") <= partition_dates(start, end)[1])
    return flt


def read_table(filesystem: pafs.FileSystem, root: str, table: str) -> pa.Table:
    """All rows of one lake table, with ``date``/``hour`` partition columns."""
    data = dataset(filesystem, root, table)
    if data is None:
        schema = DEADLETTER_SCHEMA if table == DEADLETTER else arrow_schema(table)
        return schema.empty_table()
    return data.to_table()
