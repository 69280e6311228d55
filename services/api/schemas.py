"""Schema pieces shared by every domain."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

T = TypeVar("T")

MAX_PAGE_SIZE = 100


class RequestModel(BaseModel):
    """Request bodies: unknown fields are refused, not ignored; text holding a NUL
    character (which PostgreSQL cannot store) is refused as invalid input."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        items = value if isinstance(value, list | tuple | set) else (value,)
        if any(isinstance(item, str) and "\x00" in item for item in items):
            raise ValueError("text must not contain NUL characters")
        return value


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
