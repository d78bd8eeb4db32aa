"""Business logic of cases: every write goes through a function here (HackSoft style).

- intake: reporting and routing a new case;
- workflow: the transitions of SPEC §2, a service each; transitions: firing one (its
  checks, the clock it moves, the save and the audit row), and who may fire which;
- deadlines: the working-time clock the transitions start and stop;
- escalation: the overdue sweep; escalation_notices: the audit and outbox rows it writes;
  escalation_mail: who is told and what the email says;
  acknowledgement: the signed link that acknowledges an escalation;
- outbox/: writing, queuing and delivering the emails the other services write.
"""
