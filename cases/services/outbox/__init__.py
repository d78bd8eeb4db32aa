"""The transactional email outbox: write the message in the transaction that causes it,
deliver it after the commit, exactly once in effect.

How to send an email from a service (invitations, extension requests, escalations…):

    from cases.services.outbox.enqueue import enqueue_email

    with transaction.atomic():
        ...change the database...
        enqueue_email(
            to="someone@example.org",
            subject=subject, text=text, html=html,        # e.g. from cases.emails.render()
            kind="invitation",                            # a short label, for the admin
            dedupe_key=f"invitation:{user.pk}:{token_id}",  # the same key never sends twice
        )

The parts, by subject:
- enqueue: writing message rows (`enqueue_email`, `enqueue_many`, `build_message`) and
  the addresses and Message-IDs they carry;
- publishing: handing the rows to Celery after the commit (`publish`, `publish_sweep`),
  and the sweep's re-queue of rows left pending too long (`requeue_stuck`);
- sending: delivering one row (`deliver`): lock, render, send, record the outcome, retry;
- outdated: which emails no longer fit their case, and are not sent;
- foreground: a command run by hand sending its messages itself (`deliver_now`);
- resend: sending failed messages again when someone asks (`outbox_messages_resend`).

Guarantees:
- The row is written in the caller's transaction: if the change rolls back, no email.
- A delivery task is handed to Celery only after the commit (`transaction.on_commit`);
  the web request never waits for a broker that is down: the row stays `pending` and the
  escalation sweep re-queues pending rows whose delivery is overdue (`requeue_stuck`).
- Delivery (`deliver`) locks the row, sends, and marks it `sent` in one transaction, so
  a task delivered twice, or re-queued while its first copy still runs, sends once.
  Temporary SMTP failures are retried with exponential backoff; an address the server
  rejects for good marks the row `failed` with the server's answer in `last_error`.
- Each row carries a stable `Message-ID`, the same on every attempt.
- A row that failed for good is sent again only when someone asks (`outbox_messages_resend`,
  the admin's "Send again"): back to `pending` with a fresh attempt budget, delivered
  through the same `publish` and `deliver` as a new row.
- A command run by hand (`escalate_overdue`, `import_users`) sends its messages itself
  (`deliver_now`), through the same `deliver`: it does not wait for a worker to be up.
  It stops at the first message the mail server does not answer (refused, timed out,
  dropped): the rest stay pending in the outbox, for the worker, and for the sweep's
  re-queue; one EMAIL_TIMEOUT per message, one after another, took hours for a district.
  The worker's batch task (`cases.deliver_outbox_messages`) stops the same way, and
  hands the untried rest on as one batch after that message's backoff delay
  (`publishing.postpone`), so they follow it once the server answers again.
- An escalation's row is written unrendered by the sweep (address, language, escalation);
  `deliver` renders it with the row locked, keeps the rendering on the row, and sends it.
  After its commit the sweep queues one task (`publish_sweep`), which streams the sweep's
  pending rows and queues their delivery in batches: a sweep writes tens of thousands of
  messages, and neither its time nor its memory should grow with queuing them.

Each part logs under its own name below `cases.services.outbox`.
"""
