"""How the active language punctuates the text the code puts together: lists of names,
clauses, labels, asides. Both apps say such things, and `departments` (which knows nothing
of cases) is the one `cases` builds on, so they live here."""

from collections.abc import Iterable

from django.utils.translation import get_language

# How the active language punctuates what the code puts together, by where it goes. Chinese
# writes full-width marks with no space after them; every other language we speak, ASCII.
SEPARATORS = {
    # between the items of a list of names: 城管局、市场监管局
    "list": ("、", ", "),
    # between phrases of one sentence: 未结 3，已超期 2
    "phrase": ("，", ", "),
    # between whole clauses or reasons in one message: 必须填写原因；照片不是图片
    "clause": ("；", "; "),
    # between a label and what it labels: 说明：必须填写
    "label": ("：", ": "),
    # between whole sentences, each with its full stop: 权责清单规定由城管局协办。已在本案：…
    "sentence": ("", " "),
}


# A remark in brackets after what it qualifies: "已上报（王芳）", "reported (Wang Fang)".
BRACKETS = (("（", "）"), (" (", ")"))


def _in_chinese() -> bool:
    return (get_language() or "").startswith("zh")


def _separator(where: str) -> str:
    chinese, other = SEPARATORS[where]
    return chinese if _in_chinese() else other


def list_separator() -> str:
    """What goes between the items of a list of names in the active language: Chinese
    enumerates with the enumeration comma (城管局、市场监管局), not with ", "."""
    return _separator("list")


def phrase_separator() -> str:
    """Between the phrases of one sentence that the code puts together: "，" in Chinese."""
    return _separator("phrase")


def clause_separator() -> str:
    """Between whole clauses or reasons joined into one message: "；" in Chinese."""
    return _separator("clause")


def label_separator() -> str:
    """Between a label and its text ("Note: …"): the full-width "：" in Chinese."""
    return _separator("label")


def sentence_separator() -> str:
    """After a whole sentence, before the next or a quoted remark: none after Chinese's
    "。" (…派遣。“城管牵头”), a space otherwise."""
    return _separator("sentence")


def join_names(names: Iterable) -> str:
    """Names (departments, cases, addresses) as one list, in the active language's way."""
    return list_separator().join(str(name) for name in names)


def join_phrases(phrases: Iterable) -> str:
    """Phrases of one sentence ("open 3, overdue 2"), in the active language's way."""
    return phrase_separator().join(str(phrase) for phrase in phrases)


# What ends a sentence; before a clause separator it would double the stop ("必填项。；").
FULL_STOPS = (".", "。")


def join_sentences(sentences: Iterable) -> str:
    """Whole sentences, each ending with its full stop, as one text."""
    return sentence_separator().join(str(sentence) for sentence in sentences)


def join_clauses(clauses: Iterable) -> str:
    """Whole clauses, reasons or error messages as one line, in the active language's way:
    "Note: This field is required; Reason: …", "说明：这个字段是必填项；原因：…". Each but
    the last loses its full stop, which the separator replaces."""
    clauses = [str(clause) for clause in clauses]
    for i, clause in enumerate(clauses[:-1]):
        if clause.endswith(FULL_STOPS):
            clauses[i] = clause[:-1]
    return clause_separator().join(clauses)


def labelled(label, text) -> str:
    """`text` after its label ("Note: This field is required."; "说明：此字段必填。")."""
    return f"{label}{label_separator()}{text}"


def aside(text) -> str:
    """`text` in brackets, to follow what it qualifies: " (Wang Fang)" in English, with
    the space; "（王芳）" in Chinese, full-width and with none."""
    opening, closing = BRACKETS[0] if _in_chinese() else BRACKETS[1]
    return f"{opening}{text}{closing}"
