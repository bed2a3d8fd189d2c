"""Stored events for GET /events: filtered, ordered by (timestamp, topic, event_id),
in keyset pages whose cursor is the last row's key."""

import base64
import binascii
from datetime import datetime

import orjson

from .errors import ApiError

# The payload goes out as the text PostgreSQL stored: exact (jsonb may hold numbers
# no Python JSON encoder round-trips, e.g. 1e20 comes back as a 21-digit integer).
COLUMNS = "topic, event_id, ts, source, payload::text, received_at"
# Query parameter -> SQL condition (the column indexes serve these).
FILTERS = [
    ("topic", "topic = %(topic)s"),
    ("source", "source = %(source)s"),
    ("since", "ts >= %(since)s"),
    ("until", "ts < %(until)s"),
]


def encode_cursor(row):
    return base64.urlsafe_b64encode(orjson.dumps([row[2], row[0], row[1]])).decode()


def decode_cursor(cursor):
    try:
        ts, topic, event_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(ts), str(topic), str(event_id)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise ApiError(
            422, "validation", "invalid cursor", [{"field": "cursor", "message": "not a cursor from this API"}]
        ) from None


def page(reads, query, limit):
    """One page of events matching `query` (a models.EventsQuery) and the next cursor."""
    where, params = [], {"limit": limit + 1}
    for field, condition in FILTERS:
        value = getattr(query, field)
        if value is not None:
            where.append(condition)
            params[field] = value
    if query.cursor is not None:
        params["c_ts"], params["c_topic"], params["c_id"] = decode_cursor(query.cursor)
        where.append("(ts, topic, event_id) > (%(c_ts)s, %(c_topic)s, %(c_id)s)")
    sql = f"SELECT {COLUMNS} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY ts, topic, event_id LIMIT %(limit)s"
    with reads.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    events = [
        {
            "topic": r[0],
            "event_id": r[1],
            "timestamp": r[2],
            "source": r[3],
            "payload": orjson.Fragment(r[4] or "null"),
            "received_at": r[5],
        }
        for r in rows
    ]
    return {"events": events, "next_cursor": encode_cursor(rows[-1]) if more else None}
