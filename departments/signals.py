"""Cache invalidation only: any change to what the router or the calendar read moves the stamp,
in the same transaction, so every process reloads its index (departments/routing.py)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from departments.models import Category, GridCell, Holiday, Responsibility, RoutingStamp


@receiver([post_save, post_delete], sender=GridCell)
@receiver([post_save, post_delete], sender=Category)
@receiver([post_save, post_delete], sender=Responsibility)
@receiver([post_save, post_delete], sender=Holiday)
def move_routing_stamp(**kwargs):
    RoutingStamp.bump()
