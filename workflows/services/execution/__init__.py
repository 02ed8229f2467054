"""Executing runs: claim them, check their conditions, run their tasks, record every attempt.

One engine executes every run: a worker claims due runs in batches, and a single run (a job or a
test naming it) is a batch of one. A run is claimed with a conditional update, so two workers (or
two clusters on one database) never both execute it. Task by task, the runs of a batch that reach
a task are executed together: a kind's `run_batch` gets them all in one transaction with their
TaskRuns (a batch that raised is rolled back and its runs executed again one by one). A task's
writes and its "succeeded" TaskRun commit together, and a partial unique index allows one success
per task of a run: a task that has succeeded is never run again, whether the run is retried,
reaped after a worker died, or raced by a late worker. The runs' outcomes are saved with one
statement per distinct outcome, conditional on the claim still being ours.

claims.py         claiming runs
runs.py           what a run's conditions say, and the fields its notification teaches the workflow
task_attempts.py  one task's attempt for the runs of a batch, and what it means for each run
engine.py         a batch from its claim to its outcomes; the entry points
background.py     work tasks hand over at commit (emails), done while the next batch executes
"""

from workflows.services.execution.engine import run_execute, runs_execute_due

__all__ = ["run_execute", "runs_execute_due"]
