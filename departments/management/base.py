"""What the project's management commands share."""

from collections.abc import Callable

from django.core.management.base import BaseCommand


class TranslatedHelpCommand(BaseCommand):
    """A command whose `help` is a lazy translation: argparse formats only real strings
    (`--help` failed with "expected string … got '__proxy__'"), so the text is rendered,
    in the language of LANGUAGE_CODE, when the parser is made. Arguments' help texts are
    translated with `gettext` in `add_arguments`, which runs at that moment too."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        if parser.description is not None:
            parser.description = str(parser.description)
        return parser

    def progress_line(self, message: str) -> Callable[[int], None]:
        """A service's `progress` callback for a long run by hand: `message` with its
        %(count)d on stderr, apart from the output a script reads."""
        return lambda count: self.stderr.write(message % {"count": count})
