"""History from the lake: hourly views and one vehicle's route, as JSON, CSV or Parquet."""

from __future__ import annotations

import contextlib
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from flask import Response, jsonify, request

from app.api import bp, lake
from app.api.errors import ApiError
from app.auth import READ, require
from pipeline import views
from pipeline.lake import utc

MAX_RANGE = timedelta(days=31)


def _range() -> tuple[datetime, datetime]:
    try:
        end = _time(request.args.get("end")) or datetime.now(UTC)
        start = _time(request.args.get("start")) or end - timedelta(hours=24)
    except (ValueError, OverflowError) as exc:  # OverflowError: a default start before year 1
        raise ApiError(400, f"start/end must be ISO-8601 times: {exc}") from None
    if not start < end:
        raise ApiError(400, "start must be before end")
    if end - start > MAX_RANGE:
        raise ApiError(400, f"the range may span at most {MAX_RANGE.days} days")
    return start, end


def _time(text: str | None) -> datetime | None:
    """An ISO-8601 time in UTC (no zone means UTC); None when absent (present but empty is a 400)."""
    return None if text is None else iso_time(text)


def iso_time(text: str) -> datetime:
    """An ISO-8601 time in UTC (no zone means UTC); raises ValueError (or OverflowError)."""
    return utc(_iso(text))


def _iso(text: str) -> datetime:
    """``datetime.fromisoformat``, reading a space before a trailing offset as its ``+``: an
    unencoded ``+`` in a query string arrives as a space (``…T00:00 14:00``)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        head, space, offset = text.rpartition(" ")
        if space:
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(f"{head}+{offset}")
        raise


def _respond(rows: list[dict[str, Any]], name: str, **meta: Any) -> Response:
    fmt = request.args.get("format", "json")
    if fmt == "json":
        # ISO-8601 like every other time of the API (Flask would write HTTP dates, to the second)
        iso = [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()} for row in rows]
        return jsonify(count=len(rows), rows=iso, **meta)
    if fmt == "csv":
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return _download(out.getvalue().encode(), f"{name}.csv", "text/csv")
    if fmt == "parquet":
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), buf)
        return _download(buf.getvalue(), f"{name}.parquet", "application/vnd.apache.parquet")
    raise ApiError(400, "format must be json, csv or parquet")


def _download(data: bytes, filename: str, mimetype: str) -> Response:
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/history/<view>")
@require(*READ)
def history(view: str) -> Response:
    if view not in views.VIEWS:
        raise ApiError(404, f"unknown view {view!r}; views: {', '.join(views.VIEWS)}")
    start, end = _range()
    rows = views.hourly(view, *lake(), start, end)
    return _respond(rows, f"{view}-hourly", start=start.isoformat(), end=end.isoformat())


@bp.get("/history/vehicles/<id:vehicle_id>/route")
@require(*READ)
def vehicle_route(vehicle_id: str) -> Response:
    start, end = _range()
    rows = views.route(*lake(), vehicle_id, start, end)
    return _respond(rows, f"route-{vehicle_id}", vehicle_id=vehicle_id)
