"""A small thread-safe LRU cache bounded by the total size of what it holds, not its count."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

_ALL: list[SizedCache[object]] = []


class SizedCache(Generic[V]):
    """Least recently used entries go first once the total weight passes ``max_weight``.

    Args:
        max_weight: The most total weight kept (an entry heavier than this is not kept).

    Example:
        >>> cache: SizedCache[str] = SizedCache(10)
        >>> cache.put('a', 'x' * 6, 6); cache.put('b', 'y' * 6, 6)
        >>> cache.get('a') is None, cache.get('b')
        (True, 'yyyyyy')
    """

    def __init__(self, max_weight: int) -> None:
        self.max_weight = max_weight
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        _ALL.append(self)  # type: ignore[arg-type]

    def get(self, key: Hashable) -> V | None:
        """The value under ``key``, or ``None``; a hit becomes the most recent entry.

        Args:
            key: The key the value was put under.

        Returns:
            The value kept under ``key``, or ``None`` if there is none (never kept, or dropped).
        """
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: V, weight: int) -> None:
        """Keep ``value`` under ``key``, dropping the oldest entries to stay in bounds.

        Args:
            key: The key to keep it under; an entry already there is replaced.
            value: The value to keep.
            weight: What the entry counts towards ``max_weight``; an entry heavier than
                ``max_weight`` is not kept, and the cache is left as it was.
        """
        if weight > self.max_weight:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            self._items[key] = (value, weight)
            self._weight += weight
            while self._weight > self.max_weight:
                _, (_, dropped) = self._items.popitem(last=False)
                self._weight -= dropped

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._weight = 0

    @property
    def weight(self) -> int:
        """The total weight held now."""
        return self._weight


def clear_all() -> None:
    """Empty every :class:`SizedCache` (benchmarks use it to time cold builds).

    Example:
        >>> clear_all()
    """
    for cache in _ALL:
        cache.clear()
