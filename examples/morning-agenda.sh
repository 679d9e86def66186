#!/usr/bin/env bash
# Morning agenda for cron: today's follow-ups, open complaints and best customers gone quiet.
#
#   crontab -e
#   30 7 * * 1-6  CRM_DB=$HOME/shop/crm.db /path/to/morning-agenda.sh          # everything, to the owner
#   30 7 * * 1-6  CRM_DB=$HOME/shop/crm.db /path/to/morning-agenda.sh Joy      # only what is Joy's
#
# cron mails whatever a job prints: plain tables (never wrapped, no colour) on a day with
# something to do, nothing at all on a day without. A failure exits non-zero with the
# reason on stderr (exit codes as in README).
set -euo pipefail

staff=${1:-}
args=(agenda --format table)
if [[ -n $staff ]]; then
    args+=(--by "$staff")
fi

messages=$(mktemp)
trap 'rm -f "$messages"' EXIT
status=0
agenda=$(crm "${args[@]}" 2>"$messages") || status=$?
if (( status != 0 )); then
    cat "$messages" >&2
    exit "$status"
fi
if [[ -n $agenda ]]; then
    printf 'Agenda for %s%s\n\n%s\n' "$(date +%F)" "${staff:+ ($staff)}" "$agenda"
fi
