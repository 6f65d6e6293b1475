"""Test-only tasks a worker imports when `SHEEN_EXTRA_TASK_MODULES` names them."""
