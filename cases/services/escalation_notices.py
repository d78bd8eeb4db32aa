"""What the escalation sweep writes about its new escalations, in its transaction and
set-based (cases/services/escalation.py, step 5): one audit row per escalation naming the
people told, and one small, unrendered outbox row per recipient of each (address,
language, escalation, a Message-ID); both are one INSERT … SELECT joining the sweep's
escalation rows to their groups' recipients in the database, on PostgreSQL and SQLite.
Each delivery renders its email later (`escalation_mail.render_message`).
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import connection

from cases.models import CaseEvent, Escalation, EscalationLevel, OutboxMessage
from cases.services.outbox.enqueue import (
    ADDRESS_MAX_LENGTH,
    address_error,
    address_key,
    mail_domain,
)

logger = logging.getLogger(__name__)
Status = OutboxMessage.Status


# How each database spells the few functions these statements need.
_SQL_DIALECT = {
    "postgresql": {
        "json_object": "jsonb_build_object",
        "json": "CAST({} AS jsonb)",
        "random_hex": "replace(CAST(gen_random_uuid() AS text), '-', '')",
    },
    "sqlite": {
        "json_object": "json_object",
        "json": "json({})",
        "random_hex": "lower(hex(randomblob(16)))",
    },
}


def _dialect(name: str) -> str:
    return _SQL_DIALECT[connection.vendor][name]


def _columns(model, names: list[str]) -> str:
    return ", ".join(
        connection.ops.quote_name(model._meta.get_field(name).column) for name in names
    )


def _values_table(names: list[str], rows: list[tuple]) -> tuple[str, list]:
    """`(SELECT column1 AS a, … FROM (VALUES (%s, …), …))` and its parameters: a small
    inline table both PostgreSQL and SQLite can join (each names VALUES columns columnN)."""
    placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
    renamed = ", ".join(f"column{i} AS {name}" for i, name in enumerate(names, start=1))
    sql = f"(SELECT {renamed} FROM (VALUES {', '.join([placeholders] * len(rows))}) AS v)"
    return sql, [value for row in rows for value in row]


# Joins an escalation row `e` to its group's row `g` (the pool's department is 0 there).
_GROUP_JOIN = (
    "g.level = e.level AND g.department_id = COALESCE(e.department_id, 0) "
    "AND g.township_id = e.township_id"
)


def write_audit(groups, addresses, *, now, sweep_db) -> None:
    """One audit row per new escalation, naming the people told, in one INSERT … SELECT
    from the escalation rows joined to their group's recipients."""
    q = connection.ops.quote_name
    groups_sql, group_params = _values_table(
        ["level", "department_id", "township_id", "recipients"],
        [
            (g.level, g.department_id or 0, g.township_id, json.dumps(addresses[g.key]))
            for g in groups
        ],
    )
    columns = _columns(
        CaseEvent,
        [
            "case",
            "action",
            "from_state",
            "to_state",
            "actor",
            "actor_label",
            "comment",
            "data",
            "at",
        ],
    )
    recipients = _dialect("json").format("g.recipients")
    sql = f"""
        INSERT INTO {q(CaseEvent._meta.db_table)} ({columns})
        SELECT e.case_id, CASE WHEN e.level = %s THEN 'remind' ELSE 'escalate' END, '', '',
               NULL, 'system', '',
               {_dialect("json_object")}(
                   'escalation', e.id, 'level', e.level, 'deadline', e.deadline_kind,
                   'deadline_seq', e.deadline_seq, 'recipients', {recipients}
               ),
               %s
        FROM {q(Escalation._meta.db_table)} e JOIN {groups_sql} g ON {_GROUP_JOIN}
        WHERE e.sweep_id = %s
        ORDER BY e.case_id, e.level
    """
    now_db = CaseEvent._meta.get_field("at").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [int(EscalationLevel.REMINDER), now_db, *group_params, sweep_db])


def write_messages(groups, addresses, languages, *, created_at, sweep_db) -> tuple[int, bool]:
    """One small, unrendered outbox row per recipient of each new escalation (address,
    language, escalation, a fresh Message-ID, the dedupe key) in one INSERT … SELECT.
    Returns how many were written and whether any is to be delivered. An address that is
    not one is stored `failed` with the reason, as `outbox.enqueue.build_message` does."""
    invalid: dict[str, str] = {}  # address → why it is not one (checked once per address)
    rows = []
    for g in groups:
        kind = "reminder" if g.level == EscalationLevel.REMINDER else "escalation"
        for address in addresses[g.key]:
            if address not in invalid:
                invalid[address] = address_error(address)
                if invalid[address]:
                    logger.error("Not an email address %r; its messages are failed.", address)
            status = Status.FAILED if invalid[address] else Status.PENDING
            language = languages.get(address.lower(), settings.LANGUAGE_CODE)
            rows.append(
                (
                    g.level,
                    g.department_id or 0,
                    g.township_id,
                    kind,
                    address[:ADDRESS_MAX_LENGTH],  # a longer one is failed, not sent
                    address_key(address),
                    language,
                    status.value,
                    invalid[address],
                )
            )
    if not rows:
        return 0, False
    q = connection.ops.quote_name
    table_sql, table_params = _values_table(
        [
            "level",
            "department_id",
            "township_id",
            "kind",
            "address",
            "address_key",
            "language",
            "status",
            "last_error",
        ],
        rows,
    )
    columns = _columns(
        OutboxMessage,
        [
            "kind",
            "dedupe_key",
            "message_id",
            "to",
            "language",
            "case",
            "escalation",
            "status",
            "last_error",
            "created_at",
            "next_attempt_at",
            "subject",
            "text",
            "html",
            "attempts",
        ],
    )
    # Message-IDs of the form outbox.enqueue.new_message_id writes, made by the database per row.
    sql = f"""
        INSERT INTO {q(OutboxMessage._meta.db_table)} ({columns})
        SELECT g.kind, 'escalation:' || e.id || ':' || g.address_key,
               '<' || g.kind || '.' || {_dialect("random_hex")} || '@' || %s || '>',
               g.address, g.language, e.case_id, e.id, g.status, g.last_error, %s, %s,
               '', '', '', 0
        FROM {q(Escalation._meta.db_table)} e JOIN {table_sql} g ON {_GROUP_JOIN}
        WHERE e.sweep_id = %s
    """
    at = OutboxMessage._meta.get_field("created_at").get_db_prep_value(created_at, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [mail_domain(), at, at, *table_params, sweep_db])
        written = cursor.rowcount
    # Each group holds at least one escalation, so every good address has a message.
    return written, not all(invalid.values())
