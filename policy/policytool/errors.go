package policytool

import "errors"

// Sentinels for the outcomes callers branch on; each is wrapped in an *Error.
var (
	// ErrTestsFailed: at least one test failed or errored.
	ErrTestsFailed = errors.New("tests failed")
	// ErrNoTests: the paths hold no test rules (or --run matched none).
	ErrNoTests = errors.New("no tests found")
	// ErrBelowThreshold: total coverage is below TestOptions.Threshold.
	ErrBelowThreshold = errors.New("below the threshold")
	// ErrUndefined: the query has no value for the input, which the
	// gateway treats as deny.
	ErrUndefined = errors.New("undefined")
)

// Error is an error of one tool. Its message is "policytool: OP: cause".
// A command line that names the tool itself (mcpgate policy test: …)
// prints Err alone.
type Error struct {
	// Op is the tool: "test", "eval", "check" or "fmt".
	Op string
	// Err is the cause.
	Err error
}

func (e *Error) Error() string { return "policytool: " + e.Op + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }
