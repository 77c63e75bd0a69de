"""Per-field validation of the served types, as kube-apiserver's `pkg/apis/*/validation` does it; pure.

Each rule returns `errors.Cause`s whose field paths and messages are the real server's (`field.go` shapes them:
`Required value`, `Invalid value: <v>: <why>`, `Unsupported value: "x": supported values: ...`), so what kubectl
prints (`The Pod "x" is invalid: spec.restartPolicy: Unsupported value: ...`) reads as it does on a real cluster.
"""
