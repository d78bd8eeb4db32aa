"""Operations that data migrations share. Migrations import them, so they use only the
historical models they are given and must keep doing what they do today: change one by
adding a new operation, never by editing this one in place."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_permissions(*, app_label: str, codenames: list[str], roles: tuple[str, ...]):
    """A RunPython that gives the role groups (departments 0002) these permissions of
    `app_label`, creating them first (Django creates permissions only after `migrate` ends),
    and takes them back when reversed."""

    def permissions(apps):
        Permission = apps.get_model("auth", "Permission")
        return Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)

    def grant(apps, schema_editor):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
        Group = apps.get_model("auth", "Group")
        for role in roles:
            group, _created = Group.objects.get_or_create(name=role)
            group.permissions.add(*permissions(apps))

    def revoke(apps, schema_editor):
        Group = apps.get_model("auth", "Group")
        for group in Group.objects.filter(name__in=roles):
            group.permissions.remove(*permissions(apps))

    return migrations.RunPython(grant, revoke)
