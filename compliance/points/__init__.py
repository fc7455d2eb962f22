"""The five points, one module each; each has `evaluate(scope, at) -> Point` reading real rows."""
