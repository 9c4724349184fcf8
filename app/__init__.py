"""PaidSignal: paid conversions measured from Stripe, attributed to campaigns, fed back to ad platforms."""
