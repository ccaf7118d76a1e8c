package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/plugins/bundle"
	"github.com/open-policy-agent/opa/v1/plugins/discovery"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// ErrBundle wraps bundle configuration and activation failures.
var ErrBundle = errors.New("policy: bundle")

// UseBundles runs OPA's plugin manager with opaConfig (OPA's configuration
// file format, YAML or JSON: services, bundles with polling, ETags and
// signing, OCI services, decision_logs, status) until ctx is done. Each
// bundle activation re-prepares the decision from the activated policy and
// swaps it in; OPA keeps the last good bundle when an activation fails, and
// so does the engine, reporting the error in Status. Activations are also
// refused when a module uses an unsafe built-in (see doc.go).
//
// If the config has a decision_logs section, every decision is also handed
// to OPA's decision-log plugin (console, service upload, custom plugin);
// OPA masks it with the policy's mask rule, and without one the arguments
// are masked by default as in the engine's own log.
//
// UseBundles returns once the plugins have started; Ready reports the first
// activation.
func (e *Engine) UseBundles(ctx context.Context, opaConfig []byte) error {
	store := inmem.NewWithOpts(inmem.OptReturnASTValuesOnRead(true))
	logger := newOPALogger(e.log)
	mgr, err := plugins.New(opaConfig, "mcpgate", store,
		plugins.Logger(logger),
		plugins.ConsoleLogger(logger),
		plugins.WithParserOptions(ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}),
	)
	if err != nil {
		return e.fail(fmt.Errorf("%w: config: %w", ErrBundle, err))
	}
	d, err := discovery.New(mgr)
	if err != nil {
		return e.fail(fmt.Errorf("%w: config: %w", ErrBundle, err))
	}
	mgr.Register(discovery.Name, d)
	bp := bundle.Lookup(mgr)
	if bp == nil {
		return e.fail(fmt.Errorf("%w: config: no bundles configured", ErrBundle))
	}
	w := &bundleWatcher{e: e, mgr: mgr, opaLogs: logs.Lookup(mgr)}
	if w.opaLogs != nil && e.dlog.Load() == nil {
		e.dlog.CompareAndSwap(nil, NewDecisionLog(nil, 0))
	}
	bp.RegisterBulkListener("mcpgate", w.onStatus)
	if err := mgr.Init(ctx); err != nil {
		return e.fail(fmt.Errorf("%w: init: %w", ErrBundle, err))
	}
	if err := mgr.Start(ctx); err != nil {
		return e.fail(fmt.Errorf("%w: start: %w", ErrBundle, err))
	}
	go func() {
		<-ctx.Done()
		mgr.Stop(context.WithoutCancel(ctx))
	}()
	return nil
}

// bundleWatcher turns bundle activations into prepared policies.
type bundleWatcher struct {
	e       *Engine
	mgr     *plugins.Manager
	opaLogs *logs.Plugin
	key     string // activations last prepared: name@time for each bundle
}

// onStatus runs on the bundle plugin's goroutine after every download
// attempt, with the plugin's lock held, so calls are serialised.
func (w *bundleWatcher) onStatus(status map[string]*bundle.Status) {
	names := slices.Sorted(maps.Keys(status))
	var keys, revs, errs []string
	bundles := make(map[string]server.BundleInfo, len(status))
	active := true
	for _, name := range names {
		s := status[name]
		if s.Code != "" || s.Message != "" || len(s.Errors) > 0 {
			errs = append(errs, fmt.Sprintf("%s: %s", name, statusError(s)))
		}
		active = active && !s.LastSuccessfulActivation.IsZero()
		keys = append(keys, name+"@"+strconv.FormatInt(s.LastSuccessfulActivation.UnixNano(), 10))
		revs = append(revs, name+"="+s.ActiveRevision)
		bundles[name] = server.BundleInfo{Revision: s.ActiveRevision}
	}
	if len(errs) > 0 {
		w.e.fail(fmt.Errorf("%w: %s", ErrBundle, strings.Join(errs, "; ")))
	}
	if key := strings.Join(keys, ","); active && key != w.key {
		if err := w.activate(strings.Join(revs, ","), names, bundles); err != nil {
			w.e.fail(fmt.Errorf("%w: activate: %w", ErrBundle, err))
			w.e.log.Error("policy: bundle activation refused; keeping the last good policy", "error", err)
			return
		}
		w.key = key
	}
}

// activate prepares the manager's current compiler and store and swaps.
func (w *bundleWatcher) activate(revision string, names []string, bundles map[string]server.BundleInfo) error {
	compiler := w.mgr.GetCompiler()
	if compiler == nil {
		return errors.New("no compiler")
	}
	if err := checkUnsafe(compiler.Modules); err != nil {
		return err
	}
	w.e.loadMu.Lock()
	defer w.e.loadMu.Unlock()
	c, err := w.e.prepare(compiler, w.mgr.Store)
	if err != nil {
		return err
	}
	if old := w.e.current.Load(); old != nil && (old.revision == revision || strings.HasPrefix(old.revision, revision+"#")) {
		w.e.mu.Lock()
		revision += "#" + strconv.FormatUint(w.e.generation, 10) // same label, new content
		w.e.mu.Unlock()
	}
	c.revision, c.source = revision, "bundle:"+strings.Join(names, ",")
	c.opaLogs, c.bundles = w.opaLogs, bundles
	w.e.swap(c)
	return nil
}

func statusError(s *bundle.Status) string {
	msg := strings.TrimSpace(s.Code + " " + s.Message)
	for _, err := range s.Errors {
		msg += ": " + err.Error()
	}
	return msg
}

// forwardToOPA hands a decision to OPA's decision-log plugin, with the
// input as mcpgate masked it for its own log (never the raw input: OPA
// would mask only if its mask_decision path is the one mcpgate uses).
func forwardToOPA(r *record, line *logLine) error {
	input := line.Input
	result := any(map[string]any{"allow": r.allow, "reasons": r.reasons, "required_scopes": r.requiredScopes})
	if r.granted != nil {
		result = map[string]any{"scopes": line.Granted, "reasons": r.reasons}
	}
	info := &server.Info{
		DecisionID: r.decisionID, TraceID: r.traceID, Timestamp: r.time,
		Path: r.path, Bundles: r.policy.bundles,
		Input: &input, Results: &result,
		Custom: map[string]any{
			"session_id": r.sessionID, "user_sub": r.userSub, "phase": r.phase,
			"method": r.method, "target": r.target, "server": r.server, "eval_ns": r.evalNS,
		},
	}
	if r.err != "" {
		info.Error = errors.New(r.err)
	}
	return r.policy.opaLogs.Log(context.Background(), info)
}
