package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/mcpgate/mcpgate/rego"
)

// newAuthorizer builds the policy engine of cfg.Policy and loads its
// policy: the directory (then watched), with the built-in library when
// policy.library is builtin, or OPA's plugin manager with bundles,
// configured by opaConfig, the provisioned content of
// policy.opa_config_file. It returns a close function for the decision log.
func newAuthorizer(ctx context.Context, cfg *config.Config, opaConfig []byte, log *slog.Logger, stderr io.Writer) (*policy.Engine, func(), error) {
	var library map[string]string
	if cfg.Policy.Library == config.PolicyLibraryBuiltin {
		var err error
		if library, err = rego.Modules(); err != nil {
			return nil, nil, fmt.Errorf("policy.library: built-in library: %w", err)
		}
	}
	dl, closeLog, err := decisionLog(cfg.Policy, stderr, log)
	if err != nil {
		return nil, nil, err
	}
	var recent *policy.Recent // the console's Decisions page
	if cfg.Console.Enabled {
		recent = policy.NewRecent(cfg.ConsoleRecentDecisions())
	}
	e := policy.NewEngine(policy.Options{Timeout: time.Duration(cfg.Policy.Timeout), Logger: log, DecisionLog: dl, Library: library,
		Recent: recent})
	switch {
	case cfg.Policy.Dir != "":
		if err := e.LoadDir(cfg.Policy.Dir); err != nil {
			closeLog()
			return nil, nil, fmt.Errorf("%s: %w", dirKey(cfg.Policy), err)
		}
		e.WatchDir(ctx, cfg.Policy.Dir)
	case cfg.Policy.OPAConfigFile != "":
		if err := e.UseBundles(ctx, opaConfig); err != nil {
			closeLog()
			return nil, nil, fmt.Errorf("policy.opa_config_file: %w", err)
		}
	}
	return e, closeLog, nil
}

// dirKey names policy.dir in errors, with the library it is compiled with.
func dirKey(p config.Policy) string {
	if p.Library == config.PolicyLibraryBuiltin {
		return "policy.dir (with policy.library: builtin)"
	}
	return "policy.dir"
}

// decisionLog opens the decision-log sink of the configuration. Its close
// function logs what the decision log could not write (a sink stuck at
// shutdown is given up on after policy.DecisionLogCloseTimeout).
func decisionLog(p config.Policy, stderr io.Writer, log *slog.Logger) (*policy.DecisionLog, func(), error) {
	var w io.Writer
	closeSink := func() {}
	switch p.DecisionLog {
	case "none":
		return nil, func() {}, nil
	case "", config.DecisionLogStdout:
		w = os.Stdout
	case "stderr":
		w = stderr
	default:
		f, err := os.OpenFile(p.DecisionLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("policy.decision_log: %w", err)
		}
		w, closeSink = f, func() { f.Close() }
	}
	dl := policy.NewDecisionLog(w, p.DecisionLogBuffer)
	if p.DecisionLogWhenFull == config.DecisionLogBlock {
		dl.BlockWhenFull(decisionLogBlockFor)
	}
	return dl, func() { closeDecisionLog(dl, log); closeSink() }, nil
}

// closeDecisionLog closes dl and logs its error: lines not written to the
// sink are counted as dropped and said so, never lost silently.
func closeDecisionLog(dl *policy.DecisionLog, log *slog.Logger) {
	if err := dl.Close(); err != nil {
		log.Error("policy.decision_log: closing the decision log", slog.String("error", err.Error()), slog.Uint64("dropped_total", dl.Dropped()))
	}
}

// decisionLogBlockFor bounds how long a request waits for room in a full
// decision log (policy.decision_log_when_full: block).
const decisionLogBlockFor = 30 * time.Second

// devAuthorizer runs the shipped library with its demo data, logging
// decisions to stderr beside the other logs and keeping the latest for the
// console.
func devAuthorizer(log *slog.Logger, stderr io.Writer) (*policy.Engine, func(), error) {
	modules, data, err := rego.Library()
	if err != nil {
		return nil, nil, err
	}
	dl := policy.NewDecisionLog(stderr, config.DefaultDecisionLogBuffer)
	e := policy.NewEngine(policy.Options{Logger: log, DecisionLog: dl, Timeout: time.Duration(devPolicyTimeout), Library: modules,
		Recent: policy.NewRecent(config.DefaultConsoleRecentDecisions)})
	if err := e.LoadModules(modules, data); err != nil {
		closeDecisionLog(dl, log)
		return nil, nil, fmt.Errorf("shipped policy library: %w", err)
	}
	return e, func() { closeDecisionLog(dl, log) }, nil
}

// scopeCatalogue is the configuration's scope catalogue as the policy input
// carries it, each entry with its level (the default filled in): for the
// gateway's call inputs and the authorization server's grant inputs.
func scopeCatalogue(scopes []config.Scope) []policy.Scope {
	if len(scopes) == 0 {
		return nil
	}
	out := make([]policy.Scope, len(scopes))
	for i, s := range scopes {
		out[i] = policy.Scope{Name: s.Name, Description: s.Description, Server: s.Server, Level: s.EffectiveLevel()}
	}
	return out
}
