"""Alerts: rules over monitoring results, their state and history, and the channels."""
