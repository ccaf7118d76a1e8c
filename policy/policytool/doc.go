// Package policytool is mcpgate's policy tooling as a library: it runs the
// tests of a policy directory with coverage (Test), evaluates a decision for
// one input as the gateway would (Load, Policy.Eval), checks that policies
// compile in strict mode and are formatted (Check), and formats them (Fmt).
// Everything is Rego v1, with OPA in process, so no opa binary is needed.
// `mcpgate policy` is a thin command line over it.
//
// It owns loading policy directories for these tools, the reports they
// return, and the human-readable output of test and coverage runs (written
// to an io.Writer the caller passes).
//
// It must not parse flags, choose exit codes or touch stdout and stderr
// itself: that is cmd/mcpgate's job. It must not build its own evaluation
// rules either: Policy.Eval uses policy.EvalOptions, so its answer is the
// gateway's (a built-in error fails, the network is unreachable). It must
// never import gateway or cmd.
package policytool
