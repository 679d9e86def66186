#!/usr/bin/env bash
# Nightly reports for cron: dated CSV files, written atomically, reproducible with --as-of.
#
#   crontab -e
#   15 6 * * *  CRM_DB=$HOME/shop/crm.db /path/to/nightly-reports.sh $HOME/shop/reports 2>>$HOME/shop/reports/errors.log
#
# A healthy run prints nothing (--quiet), so cron mails nothing. Any failure stops the script with a
# non-zero exit and the reason on stderr (cron mails it to you): a mistyped CRM_DB exits 3 and creates
# no database. A report file appears whole or not at all.
set -euo pipefail

out_dir=${1:?usage: nightly-reports.sh OUTPUT_DIR}
as_of=${AS_OF:-$(date +%F)}   # the day the reports describe; set AS_OF to re-run an old day

mkdir -p "$out_dir"
crm --quiet report best     --as-of "$as_of" --limit 0 --format csv --output "$out_dir/best-$as_of.csv"
crm --quiet report churn    --as-of "$as_of" --limit 0 --format csv --output "$out_dir/churn-$as_of.csv"
crm --quiet report segments --as-of "$as_of"           --format csv --output "$out_dir/segments-$as_of.csv"
crm --quiet feedback list --open --limit 0             --format csv --output "$out_dir/open-complaints-$as_of.csv"
if [[ -t 2 ]]; then   # run by hand: say so; under cron, nothing
    echo "reports for $as_of written to $out_dir" >&2
fi
