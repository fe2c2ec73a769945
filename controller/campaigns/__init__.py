"""Staged decommission campaigns: a pure planner, approvals, and the engine that runs batches."""
