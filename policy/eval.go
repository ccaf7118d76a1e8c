package policy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Why a decision failed closed. The error's message is the denial's reason,
// except for ErrEvaluation, whose details (which may quote input values)
// go to the server log only.
var (
	ErrNoPolicy   = errors.New("no policy loaded")
	ErrNoInput    = errors.New("no policy input")
	ErrTimeout    = errors.New("policy evaluation timed out")
	ErrBusy       = errors.New("policy engine busy: no evaluation slot in time")
	ErrCanceled   = errors.New("policy evaluation canceled")
	ErrEvaluation = errors.New("policy evaluation failed")
	ErrUndefined  = errors.New("policy decision undefined")
	ErrMalformed  = errors.New("policy decision malformed")
)

// ReasonDenied is the reason given when a policy denies without saying why.
const ReasonDenied = "denied by policy"

var (
	kAllow, kReasons, kRequiredScopes = ast.StringTerm("allow"), ast.StringTerm("reasons"), ast.StringTerm("required_scopes")
	kAllowUnapproved                  = ast.StringTerm("allow_unapproved")
)

// Decide evaluates the policy for one request. It never allows on error: no
// policy, an input that cannot be converted, an evaluation error (strict
// built-in errors included), a timeout, an undefined decision or one that is
// not an object with a boolean allow and string reasons and required_scopes
// all deny with the cause as the only reason. The failure is logged, and
// every decision goes to the decision log. ID and Revision are always set.
func (e *Engine) Decide(ctx context.Context, in *Input) Decision {
	return e.decide(ctx, in, true)
}

// Check is Decide without the decision log: for a look ahead that is not
// the decision of record (the gateway's scope step-up check before the MCP
// layer decides the same request again, and logs it).
func (e *Engine) Check(ctx context.Context, in *Input) Decision {
	return e.decide(ctx, in, false)
}

func (e *Engine) decide(ctx context.Context, in *Input, record bool) Decision {
	d, _ := e.decideOn(ctx, e.current.Load(), in, record)
	return d
}

// decideOn decides with the policy c (nil when none is loaded), and
// returns the cause of a failure too.
func (e *Engine) decideOn(ctx context.Context, c *compiled, in *Input, record bool) (Decision, error) {
	return e.decideWith(ctx, c, in, func(c *compiled) *rego.PreparedEvalQuery { return &c.decision }, parseDecision, outcome{record: record})
}

// decideWith decides with the query that query picks from c, whose
// result parse reads; o says how it is logged (record, residual).
func (e *Engine) decideWith(ctx context.Context, c *compiled, in *Input, query func(*compiled) *rego.PreparedEvalQuery, parse func(rego.ResultSet) (Decision, error), o outcome) (Decision, error) {
	start := time.Now()
	input, rs, err := e.evaluate(ctx, c, in, query)
	var d Decision
	if err == nil {
		d, err = parse(rs)
	}
	if err != nil {
		d = Decision{Reasons: []string{reason(err)}}
	} else if !d.Allow && len(d.Reasons) == 0 {
		d.Reasons = []string{ReasonDenied}
	}
	o.in, o.input, o.err, o.start, o.policy = in, input, err, start, c
	e.settle(ctx, &d, o)
	return d, err
}

// outcome is what settle needs to know about an evaluation.
type outcome struct {
	in     *Input
	input  ast.Value // nil when the input could not be converted
	err    error
	start  time.Time
	policy *compiled // nil when no policy was loaded
	record bool      // false for a look ahead (Check): not logged
	// granted is set (non-nil) for a grant or upstream scopes: the scopes
	// the policy granted.
	granted []string
	// path is the decision path of a scope document; empty for a decision.
	path string
	// cached is set when a cache served the decision; when input is nil,
	// the log converts in on its own goroutine.
	cached bool
	// residual is set when the decision was the residual's (residual.go).
	residual bool
}

// maxLazyArguments is the largest arguments (in bytes, as sent) a cached
// decision's record keeps whole until the log's goroutine bounds them.
const maxLazyArguments = 16 << 10

// settle completes a decision: its id and revision, the failure's log line
// and the decision-log record.
func (e *Engine) settle(ctx context.Context, d *Decision, o outcome) {
	d.ID = newDecisionID()
	if o.policy != nil {
		d.Revision = o.policy.revision
	}
	elapsed := time.Since(o.start)
	if o.err != nil && (o.record || ctx.Err() == nil) {
		// A look ahead its caller gave up on (the console's exploration
		// at its deadline) is no failure worth a warning.
		e.logFailure(ctx, o.in, *d, o.err)
	}
	l, recent := e.dlog.Load(), e.opts.Recent
	if !o.record || (l == nil && recent == nil) {
		return
	}
	input := o.input
	if l == nil {
		input = nil // Recent keeps no input
	}
	r := newRecord(ctx, e.opts.Now(), o.in, input, *d, o.err, elapsed, o.policy)
	r.granted = boundStrings(o.granted)
	r.cached = o.cached
	if recent != nil {
		recent.add(recentOf(&r))
	}
	if l != nil {
		if o.path != "" {
			r.path = o.path
		}
		r.residual = o.residual
		if o.cached && o.in != nil && o.input == nil {
			// A copy: the log reads it later, and callers reuse inputs.
			// Large arguments are bounded now: the queue must not hold
			// thousands of whole request bodies.
			lazy := *o.in
			if o.in.ArgumentsSize > maxLazyArguments {
				r.boundInput(&lazy)
			} else {
				r.lazy = &lazy
			}
		}
		l.enqueue(r)
	}
}

// evaluate converts in and runs the query that query picks from c, under
// the timeout. The input is returned for the decision log even when the
// evaluation fails.
func (e *Engine) evaluate(ctx context.Context, c *compiled, in *Input, query func(*compiled) *rego.PreparedEvalQuery) (ast.Value, rego.ResultSet, error) {
	if c == nil {
		input, err := convertInput(in, nil)
		if err != nil {
			return nil, nil, err
		}
		return input, nil, ErrNoPolicy
	}
	return e.evaluateWith(ctx, c, in, query(c), nil, e.opts.QueueWait)
}

// convertInput converts in, and adds to it with extend when not nil.
func convertInput(in *Input, extend func(ast.Value) (ast.Value, error)) (ast.Value, error) {
	if in == nil {
		return nil, ErrNoInput
	}
	input, err := in.ASTValue()
	if err == nil && extend != nil {
		input, err = extend(input)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoInput, err)
	}
	return input, nil
}

// evaluateWith is evaluate with the query given, and the converted input
// extended by extend when not nil (DecideList adds the catalog). It waits
// at most queueWait for an evaluation slot; zero waits as long as ctx lasts.
func (e *Engine) evaluateWith(ctx context.Context, c *compiled, in *Input, pq *rego.PreparedEvalQuery, extend func(ast.Value) (ast.Value, error), queueWait time.Duration) (ast.Value, rego.ResultSet, error) {
	input, err := convertInput(in, extend)
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return input, nil, ctxError(err)
	}
	if err := e.acquire(ctx, queueWait); err != nil {
		return input, nil, err
	}
	defer e.release()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// One flag per call, tripped by the context without a goroutine.
	flag := topdown.NewCancel()
	defer context.AfterFunc(ctx, flag.Cancel)()
	rs, err := pq.Eval(ctx,
		rego.EvalParsedInput(input),
		rego.EvalExternalCancel(flag),
		rego.EvalTime(e.opts.Now()),
	)
	if err != nil {
		if ctx.Err() != nil {
			return input, nil, ctxError(ctx.Err())
		}
		return input, nil, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	return input, rs, nil
}

// acquire takes an evaluation slot (Options.MaxConcurrentEvaluations),
// waiting as long as ctx lasts and at most wait unless it is zero; release
// gives it back. Evaluation is CPU-bound: past a few per CPU, more at once
// only make each slower, until their timeouts deny them all. A slot is
// held at most a timeout, so a wait without bound ends.
func (e *Engine) acquire(ctx context.Context, wait time.Duration) error {
	select {
	case e.slots <- struct{}{}:
		return nil
	default:
	}
	var expired <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		expired = t.C
	}
	select {
	case e.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctxError(ctx.Err())
	case <-expired:
		return ErrBusy
	}
}

func (e *Engine) release() { <-e.slots }

func ctxError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	return ErrCanceled
}

// parseDecision reads {allow, reasons, required_scopes, allow_unapproved}
// from the result.
func parseDecision(rs rego.ResultSet) (Decision, error) {
	obj, err := resultObject(rs)
	if err != nil {
		return Decision{}, err
	}
	return decisionOf(obj)
}

// decisionOf reads {allow, reasons, required_scopes, allow_unapproved}
// from obj.
func decisionOf(obj ast.Object) (Decision, error) {
	ok := false
	var allow ast.Boolean
	if t := obj.Get(kAllow); t != nil {
		allow, ok = t.Value.(ast.Boolean)
	}
	if !ok {
		return Decision{}, fmt.Errorf("%w: allow must be a boolean", ErrMalformed)
	}
	reasons, err := stringList(obj, kReasons)
	if err != nil {
		return Decision{}, err
	}
	scopes, err := stringList(obj, kRequiredScopes)
	if err != nil {
		return Decision{}, err
	}
	var unapproved ast.Boolean
	if t := obj.Get(kAllowUnapproved); t != nil {
		if unapproved, ok = t.Value.(ast.Boolean); !ok {
			return Decision{}, fmt.Errorf("%w: allow_unapproved must be a boolean", ErrMalformed)
		}
	}
	return Decision{Allow: bool(allow), Reasons: reasons, RequiredScopes: scopes, AllowUnapproved: bool(unapproved)}, nil
}

// resultObject returns the one object a query yields.
func resultObject(rs rego.ResultSet) (ast.Object, error) {
	if len(rs) == 0 {
		return nil, ErrUndefined
	}
	if len(rs) > 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("%w: %d results", ErrMalformed, len(rs))
	}
	obj, ok := rs[0].Expressions[0].Value.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("%w: not an object", ErrMalformed)
	}
	return obj, nil
}

// stringList reads an optional set or array of strings; sets come sorted.
func stringList(obj ast.Object, key *ast.Term) ([]string, error) {
	t := obj.Get(key)
	if t == nil {
		return nil, nil
	}
	var arr *ast.Array
	switch v := t.Value.(type) {
	case ast.Set:
		arr = v.Sorted()
	case *ast.Array:
		arr = v
	default:
		return nil, fmt.Errorf("%w: %s must be a set or array of strings", ErrMalformed, key.Value)
	}
	out := make([]string, 0, arr.Len())
	for i := range arr.Len() {
		s, ok := arr.Elem(i).Value.(ast.String)
		if !ok {
			return nil, fmt.Errorf("%w: %s must contain strings only", ErrMalformed, key.Value)
		}
		out = append(out, string(s))
	}
	return out, nil
}

// reason is what the client is told for a failure.
func reason(err error) string {
	for _, sentinel := range []error{ErrEvaluation, ErrNoInput} {
		if errors.Is(err, sentinel) {
			return sentinel.Error()
		}
	}
	return err.Error()
}

func (e *Engine) logFailure(ctx context.Context, in *Input, d Decision, err error) {
	attrs := []slog.Attr{
		slog.String("decision_id", d.ID),
		slog.String("policy_revision", d.Revision),
		slog.String("trace_id", TraceID(ctx)),
		slog.String("error", describeError(err)),
	}
	if in != nil {
		attrs = append(attrs, slog.String("session_id", in.Request.SessionID), slog.String("method", in.Method))
	}
	e.log.LogAttrs(ctx, slog.LevelWarn, "policy: decision failed closed", attrs...)
	// OPA's own message can quote input values (a built-in's argument, say):
	// only at debug level, for the operator chasing a policy bug.
	e.log.LogAttrs(ctx, slog.LevelDebug, "policy: evaluation error detail", slog.String("decision_id", d.ID), slog.String("error", err.Error()))
}

// describeError says what failed and where, without OPA's message, which
// can quote input values: the decision log and the server log keep it.
func describeError(err error) string {
	var te *topdown.Error
	if errors.As(err, &te) {
		loc := "unknown location"
		if te.Location != nil {
			loc = te.Location.String()
		}
		return fmt.Sprintf("%s: %s at %s", reason(err), te.Code, loc)
	}
	if errors.Is(err, ErrEvaluation) || errors.Is(err, ErrNoInput) {
		return reason(err)
	}
	return err.Error()
}

// newDecisionID returns 16 random bytes in hex.
func newDecisionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read documents this)
	return hex.EncodeToString(b[:])
}
