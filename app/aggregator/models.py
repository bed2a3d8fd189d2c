"""Request and response models: they validate input and generate the OpenAPI document."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field
from typing_extensions import TypedDict


def _to_utc(value):
    """PostgreSQL accepts offsets up to 15:59 and years 1..294276; UTC avoids both limits."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp out of range once converted to UTC") from None


# ISO 8601 with an offset, stored and compared in UTC.
Timestamp = Annotated[AwareDatetime, AfterValidator(_to_utc)]

Topic = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._:-]+$")]
# PostgreSQL text cannot hold NUL characters.
NO_NUL = r"^[^\x00]*$"


# A TypedDict, not a BaseModel: validating into plain dicts costs about half as much
# per event (measured 2.8 vs 4.8 µs), which matters at tens of thousands of events/s.
class Event(TypedDict):
    """One event. `id` is accepted as an alias of `event_id`."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    topic: NotRequired[Annotated[Topic | None, Field(description="Defaults to the server's default topic.")]]
    event_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=255,
            pattern=NO_NUL,
            validation_alias=AliasChoices("event_id", "id"),
            description="Deduplication key together with topic.",
        ),
    ]
    timestamp: NotRequired[
        Annotated[Timestamp | None, Field(description="ISO 8601 with offset; receive time if absent.")]
    ]
    source: NotRequired[Annotated[str | None, Field(max_length=255, pattern=NO_NUL)]]
    payload: NotRequired[Annotated[dict[str, Any] | None, Field(description="JSON object, at most 64 KiB serialized.")]]


class PublishAccepted(BaseModel):
    status: Literal["accepted"]
    count: int
    unique: int
    duplicates: int


class StoredEvent(BaseModel):
    topic: str
    event_id: str
    timestamp: datetime
    source: str | None
    payload: dict[str, Any] | None
    received_at: datetime


class EventPage(BaseModel):
    events: list[StoredEvent]
    next_cursor: str | None


class EventsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: Topic | None = None
    source: str | None = Field(default=None, max_length=255, pattern=NO_NUL)
    since: Timestamp | None = None
    until: Timestamp | None = None
    limit: int | None = Field(default=None, ge=1)
    cursor: str | None = Field(default=None, max_length=2048)


class Stats(BaseModel):
    received: int
    unique_processed: int
    duplicate_dropped: int
    topics: list[str]
    per_topic: dict[str, int]
    batches: int
    uptime: float


class ErrorDetail(BaseModel):
    index: int | None = None
    field: str
    message: str


class Error(BaseModel):
    error: str
    message: str
    details: list[ErrorDetail] = []
