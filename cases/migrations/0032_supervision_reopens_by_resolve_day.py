"""The supervision roll-up counts each reopen with the local day of the resolve it
reopened (`SupervisionFigures.given_day`), for a reopen rate of the period's resolves
(`cases.selectors.supervision`). The rows counted before lack that day: forgetting the roll-up's
mark has its first refresh after the upgrade count every audit row again, as after 0030
(meanwhile the page says its figures are being built)."""

from django.db import migrations


def forget_the_mark(apps, schema_editor):
    apps.get_model("cases", "SupervisionMark").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0031_case_search_text")]

    operations = [migrations.RunPython(forget_the_mark, migrations.RunPython.noop)]
