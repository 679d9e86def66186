"""The peer of bench_reports.py: the `lifetimes` package's standard pipeline for one model.

Runs in the benchmark's own virtual environment (tests/benchmarks/work/peer-venv),
never in crmcli's: lifetimes is not a dependency of crmcli.

    python peer_lifetimes.py MODEL PURCHASES_CSV AS_OF OUT_CSV

MODEL is bgnbd (BetaGeoFitter) or pareto (ParetoNBDFitter): the same work as
`crm report churn --model MODEL` does with the same model: the per-customer summary
from the purchases, the model's fit, a GammaGammaFitter on the repeat buyers, then
P(alive) and 12-month CLV (no discount) for every customer.

PURCHASES_CSV has customer_id,date,amount. OUT_CSV gets customer_id,p_alive,clv.
The fitted parameters go to stdout, one JSON object per model, under crmcli's
names (lifetimes' Gamma-Gamma "v" is crmcli's "gamma"); time is in days (freq "D").
"""

import json
import sys

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import summary_data_from_transaction_data

FITTERS = {"bgnbd": BetaGeoFitter, "pareto": ParetoNBDFitter}


def main(model: str, purchases_csv: str, as_of: str, out_csv: str) -> None:
    transactions = pd.read_csv(purchases_csv, parse_dates=["date"])
    summary = summary_data_from_transaction_data(
        transactions, "customer_id", "date", monetary_value_col="amount",
        observation_period_end=as_of, freq="D",
    )

    fitter = FITTERS[model](penalizer_coef=0.0)
    fitter.fit(summary["frequency"], summary["recency"], summary["T"])

    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    ggf = GammaGammaFitter(penalizer_coef=0.0)
    ggf.fit(repeat["frequency"], repeat["monetary_value"])

    clv = ggf.customer_lifetime_value(
        fitter, summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"],
        time=12, freq="D", discount_rate=0.0,
    )
    p_alive = fitter.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])

    out = pd.DataFrame({"customer_id": summary.index, "p_alive": p_alive, "clv": clv.to_numpy()})
    out.to_csv(out_csv, index=False)
    print(json.dumps({"model": model, "params": {k: float(v) for k, v in fitter.params_.to_dict().items()}}))
    gg = {("gamma" if k == "v" else k): float(v) for k, v in ggf.params_.to_dict().items()}
    print(json.dumps({"model": "gamma_gamma", "params": gg}))


if __name__ == "__main__":
    main(*sys.argv[1:])
