"""The dashboard's response and resolution rates count a case never accepted (resolved) once
escalated on that deadline, a due-soon reminder no longer makes a case late, and a return
after a correction is no department's: the roll-up is recomputed from the cases by the next
refresh (no mark: a rebuild)."""

from django.db import migrations


def forget_the_mark(apps, schema_editor):
    apps.get_model("cases", "FiguresMark").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0020_verbose_names"),
    ]

    operations = [
        migrations.RenameField("dailyfigures", "accepted", "accept_due"),
        migrations.RenameField("dailyfigures", "resolved", "resolve_due"),
        migrations.RunPython(forget_the_mark, migrations.RunPython.noop),
    ]
