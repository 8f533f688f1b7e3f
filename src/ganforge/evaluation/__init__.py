"""The shipped evaluator networks and the metrics computed in their features."""
