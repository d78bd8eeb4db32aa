"""Business logic of cases: every write goes through a function here (HackSoft style).

- intake: reporting and routing a new case;
- workflow: the transitions of SPEC §2, each with its audit row;
- deadlines: the working-time clock the transitions start and stop.
"""
