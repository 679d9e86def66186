"""The peer of bench_reports.py: the `lifetimes` package's standard pipeline.

Runs in the benchmark's own virtual environment (tests/benchmarks/work/peer-venv),
never in crmcli's: lifetimes is not a dependency of crmcli.

    python peer_lifetimes.py PURCHASES_CSV AS_OF OUT_CSV

PURCHASES_CSV has customer_id,date,amount. OUT_CSV gets customer_id,p_alive,clv
(BG/NBD P(alive), and 12-month CLV from BG/NBD and Gamma-Gamma). The fitted
parameters go to stdout, one JSON object per model.
"""

import json
import sys

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data


def main(purchases_csv: str, as_of: str, out_csv: str) -> None:
    transactions = pd.read_csv(purchases_csv, parse_dates=["date"])
    summary = summary_data_from_transaction_data(
        transactions, "customer_id", "date", monetary_value_col="amount",
        observation_period_end=as_of, freq="D",
    )

    bgf = BetaGeoFitter(penalizer_coef=0.0)
    bgf.fit(summary["frequency"], summary["recency"], summary["T"])

    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    ggf = GammaGammaFitter(penalizer_coef=0.0)
    ggf.fit(repeat["frequency"], repeat["monetary_value"])

    clv = ggf.customer_lifetime_value(
        bgf, summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"],
        time=12, freq="D", discount_rate=0.0,
    )
    p_alive = bgf.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])

    out = pd.DataFrame({"customer_id": summary.index, "p_alive": p_alive, "clv": clv.to_numpy()})
    out.to_csv(out_csv, index=False)
    print(json.dumps({"model": "bgnbd", "params": bgf.params_.to_dict()}))
    print(json.dumps({"model": "gamma_gamma", "params": ggf.params_.to_dict()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
