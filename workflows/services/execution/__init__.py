"""Executing runs: claim them, check their conditions, run their tasks, record every attempt.

A run is claimed with a conditional update, so two workers (or two clusters on one database)
never both execute it. A task's writes and its "succeeded" TaskRun commit together, and a
partial unique index allows one success per task of a run: a task that has succeeded is never
run again, whether the run is retried, reaped after a worker died, or raced by a late worker.

Workers claim due runs in batches and execute the first attempts of one workflow's runs task by
task: a kind with `run_batch` handles all of them in one transaction with its TaskRuns, and the
runs' outcomes are saved with one statement per distinct outcome, conditional on the claim still
being ours. Retried and reaped runs, and a batch whose `run_batch` raised, go through the
single-run path.

claims.py         claiming runs, and writing to a run only while the claim is ours
task_attempts.py  one task's attempt for one run or for a batch of runs, and what it means for the run
runs.py           one run from claim to outcome (jobs that name a run, retries, reaped runs)
batches.py        due runs in batches (the wake-up jobs and the dispatcher)
"""

from workflows.services.execution.batches import runs_execute_due
from workflows.services.execution.runs import run_execute

__all__ = ["run_execute", "runs_execute_due"]
