"""What PaidSignal reads back from Stripe so nothing is missed: the events catch-up (``catchup``), the history
backfill (``backfill``) and the reconciliation against Stripe's balance transactions (``reconcile``)."""
