"""Review stage: people confirm, reject or change suggestions; nothing is a code until they do."""

from .log import ACTIONS, Decision, DecisionError, coding, decisions_frame, effective, record, reviewed

__all__ = ["ACTIONS", "Decision", "DecisionError", "coding", "decisions_frame", "effective", "record", "reviewed"]
