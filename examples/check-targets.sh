#!/usr/bin/env bash
# Target check for cron: silent when the targets of the last complete period were met;
# otherwise the summary, the targets missed, and exit status 4, so cron mails it to you.
#
#   crontab -e
#   0 8 1 * *         CRM_DB=$HOME/shop/crm.db /path/to/check-targets.sh            # monthly targets, on the 1st
#   0 8 1 1,4,7,10 *  CRM_DB=$HOME/shop/crm.db /path/to/check-targets.sh quarter    # quarterly targets
#
# Set the targets once with `crm target set`, e.g. `crm target set revenue 12000`.
# Exit status: 0 all met (or none set), 4 a target was missed, anything else: crm failed
# (the reason on stderr).
set -euo pipefail

period=${1:-month}
as_of=${AS_OF:-$(date +%F)}   # the day to judge from; set AS_OF to re-run an old day

status=0
report=$(crm report summary --period "$period" --periods 3 --as-of "$as_of" --check --format table 2>&1) \
    || status=$?
case $status in
    0) ;;
    4) printf 'Targets missed (checked %s, per %s)\n\n%s\n' "$as_of" "$period" "$report"
       exit 4 ;;
    *) printf '%s\n' "$report" >&2
       exit "$status" ;;
esac
