"""One group per user role, holding the permissions that role needs in the admin.

Group names are the role values (departments.services.ROLE_GROUP_NAMES). What a liaison
may *do* to a case is decided by the workflow services; `change_case` only opens the
admin's transition buttons to them.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

REFERENCE_MODELS = ("township", "gridcell", "department", "category", "responsibility", "holiday")

ROLE_PERMISSIONS = {
    "caseworker": [],
    "dispatcher": [],
    "liaison": ["cases.view_case", "cases.change_case", "cases.view_caseevent"],
    "supervisor": ["cases.view_case", "cases.change_case", "cases.view_caseevent"],
    "admin": [
        "cases.view_case",
        "cases.view_caseevent",
        *(f"departments.{verb}_{model}" for model in REFERENCE_MODELS for verb in ("add", "change", "view")),
        "departments.delete_responsibility",
        "departments.delete_holiday",
        "departments.add_user",
        "departments.change_user",
        "departments.view_user",
        "auth.view_group",
    ],
}


def create_role_groups(apps, schema_editor):
    # Permissions are normally created after `migrate` finishes; this migration needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codes in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = []
        for code in codes:
            app_label, codename = code.split(".")
            wanted.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.add(*wanted)


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLE_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("departments", "0001_initial"),
        ("cases", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
