"""`async with` for the local servers: entering gives the object, leaving closes it."""

from __future__ import annotations

from typing import Self


class AsyncClosing:
    """A base whose `async with` block ends with `await self.close()`."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        raise NotImplementedError
