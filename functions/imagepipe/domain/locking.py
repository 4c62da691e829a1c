"""Optimistic locking: the one way a stored image is changed. Read the record, apply a change,
save it on condition that its version did not move, and on a conflict read again and retry."""

from __future__ import annotations

from collections.abc import Callable

from imagepipe.domain.errors import ConcurrentModification
from imagepipe.domain.model import Image
from imagepipe.domain.ports import ImageRepository

# Losing the lock this many times in a row means something is hammering the record: the caller
# fails (an API request answers 409, a job is retried by its queue) instead of looping forever.
MAX_ATTEMPTS = 8

Change = Callable[[Image], Image | None]


def update_image(
    images: ImageRepository,
    image_id: str,
    change: Change,
    *,
    first: Image | None = None,
    deleting_ok: bool = False,
) -> Image | None:
    """Apply `change` to the stored image under its version and return what was saved.

    `change` gets the current record and returns the changed copy, or None when there is nothing
    (left) to do, e.g. because a concurrent writer already did it; `first` saves the first read
    when the caller holds a fresh copy. Returns None when there was nothing to do, or when the
    image is gone, or being deleted (that DELETE owns it) unless `deleting_ok`. Raises
    ConcurrentModification after MAX_ATTEMPTS lost races."""
    current = first
    for _ in range(MAX_ATTEMPTS):
        if current is None:
            current = images.get(image_id)
        if current is None or not (current.visible or deleting_ok):
            return None
        changed = change(current)
        if changed is None:
            return None
        try:
            return images.save(changed)
        except ConcurrentModification:
            current = None
    raise ConcurrentModification(f"image {image_id} kept changing; retry")
