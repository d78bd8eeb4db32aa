"""Writing photo files beside their rows, and deleting them once the rows are gone for
good: shared by a case's photos (`photos`) and the photos held for a report (`held_photos`).
"""

from django.core.files.base import ContentFile
from django.db import transaction


def store_photos(records_and_photos) -> None:
    """Write each photo's file and save its row; on any failure, delete the files written
    (the rows roll back with the caller's transaction, the files must not outlive them)."""
    written = []
    try:
        for record, photo in records_and_photos:
            record.content_type = photo.content_type
            record.width, record.height = photo.width, photo.height
            record.image.save(photo.name, ContentFile(photo.content), save=False)
            written.append((record.image.storage, record.image.name))
            record.save()
    except Exception:
        for storage, name in written:
            storage.delete(name)
        raise


def delete_files_on_commit(files) -> None:
    """Delete stored files once the rows that named them are gone for good."""

    def delete():
        for storage, name in files:
            storage.delete(name)

    transaction.on_commit(delete)
