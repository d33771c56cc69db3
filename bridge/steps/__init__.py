"""Flow steps: what happens to the decoded tables between the source and the targets.

:data:`StepSpec` is the step language (pydantic models, one per kind of step);
:func:`apply_steps` runs a list of them over the tables of a decoded file.
"""

from bridge.steps.apply import StepResult, apply_steps
from bridge.steps.context import StepContext
from bridge.steps.spec import KINDS, StepSpec

__all__ = ["KINDS", "StepContext", "StepResult", "StepSpec", "apply_steps"]
