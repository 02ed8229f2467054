"""A kind that executes many runs at once serves a single run through the same code."""

from collections.abc import Callable

from workflows.tasks.context import TaskContext
from workflows.tasks.registry import TaskError


def run_alone(run_batch: Callable[[list[TaskContext]], list]) -> Callable[[TaskContext], dict[str, str]]:
    """The kind's run(): its run_batch with one context, whose TaskError is raised."""

    def run(context: TaskContext) -> dict[str, str]:
        result = run_batch([context])[0]
        if isinstance(result, TaskError):
            raise result
        return result

    return run
