"""Fuzzing: schemathesis against the REST API, hypothesis against the agent's ONVIF reply path."""
