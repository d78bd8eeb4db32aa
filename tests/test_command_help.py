"""Every command of SPEC §5 explains itself: `manage.py <command> --help` and
`manage.py help <command>` print its usage and options, in either language."""

import pytest
from django.core.management import ManagementUtility
from django.utils import translation

SPEC_COMMANDS = {
    "import_grid": "FILE",
    "import_departments": "FILE",
    "import_categories": "FILE",
    "import_responsibilities": "FILE",
    "import_users": "FILE",
    "escalate_overdue": "--dry-run",
    "seed_demo": "--cases N",
    "create_api_key": "name",
}


@pytest.mark.parametrize("command", SPEC_COMMANDS)
def test_help_option_prints_usage_and_options(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", command, "--help"]).execute()

    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert out.startswith(f"usage: manage.py {command}")
    assert SPEC_COMMANDS[command] in out


@pytest.mark.parametrize("command", ["escalate_overdue", "seed_demo", "import_grid"])
def test_help_command_prints_the_description_in_chinese(command, capsys, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    with translation.override("zh-hans"):
        ManagementUtility(["manage.py", "help", command]).execute()

    out = capsys.readouterr().out
    description = out.split("\n\n")[1]
    assert any("\u4e00" <= char <= "\u9fff" for char in description), description
