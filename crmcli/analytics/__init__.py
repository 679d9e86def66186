"""Customer analytics: RFM scores and segments, the customer-base models
(BG/NBD, Pareto/NBD, Gamma-Gamma spend), customer lifetime value, and the
heuristic used when no model can be fitted. numpy and scipy are imported
here only, so the rest of crmcli starts fast."""
