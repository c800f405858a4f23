"""Exit codes of every ``tgpipe`` command (pip's ``cli/status_codes.py``); :mod:`tgpipe.cli.base` maps errors to them.

=====  ==========================================================================================
code   meaning (README, "Exit codes")
=====  ==========================================================================================
0      success (``verify``: clean)
1      the work failed: violations found (``verify``, ``archive``), a service process of
       ``archive`` died (crash, kill: ``ServiceProcessDied``), a ``dlq replay`` letter not
       sent, a Telegram channel stopped, a tgpipe error, or Kafka or PostgreSQL did not answer
       (the broker or the database unreachable)
2      the command cannot work as configured or called: invalid configuration (an invalid
       ``TGPIPE_*`` variable, a database URL that cannot work, a database not migrated, a broker
       without the idempotent producer), an export that cannot be read at all, bad arguments
       (click's own usage errors are 2 too)
130    interrupted (Ctrl-C)
=====  ==========================================================================================
"""

SUCCESS = 0
VIOLATIONS_FOUND = 1
FAILED = 1
UNREACHABLE = 1
INVALID_CONFIGURATION = 2
NOT_MIGRATED = 2
EXPORT_UNREADABLE = 2
USAGE = 2
INTERRUPTED = 130
