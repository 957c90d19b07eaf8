"""Every state change of the compliance app: filing reports, recording the deposit, the daily
deposit check."""
