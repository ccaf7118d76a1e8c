package config

import (
	"time"
)

// Defaults of the policy section.
const (
	DefaultPolicyTimeout     = Duration(time.Second) // policy.DefaultTimeout
	DefaultDecisionLogBuffer = 10000
	DecisionLogStdout        = "stdout"
	DefaultPolicyLibrary     = PolicyLibraryNone
)

// Values of policy.library.
const (
	// PolicyLibraryBuiltin compiles the policy library built into the
	// binary (rego/ of the release, without its tests and demo data) with
	// the files of policy.dir, which hold the organisation's data and own
	// rules.
	PolicyLibraryBuiltin = "builtin"
	// PolicyLibraryNone loads policy.dir (or the bundles) alone.
	PolicyLibraryNone = "none"
)

// Policy says where the Rego policies come from and where decisions are
// logged. `mcpgate serve` requires exactly one source: a directory (with or
// without the built-in library) or an OPA configuration with bundles.
type Policy struct {
	// Dir is a directory of .rego and data (.json, .yaml) files, reloaded
	// atomically when it changes; a broken update keeps the last good policy
	// and shows in /readyz.
	Dir string `yaml:"dir,omitempty"`

	// Library is "builtin" or "none". With "builtin", the policy library
	// built into this binary is compiled together with the files of Dir,
	// which then hold only the organisation's data (and any rules of its
	// own); a file of Dir named like a library module is an error. The
	// library cannot be combined with OPAConfigFile: a bundle carries its
	// whole policy. If omitted, defaults to "none", so a Dir holding a copy
	// of the library (rego/) keeps working; the Helm chart sets "builtin".
	Library string `yaml:"library,omitempty"`

	// OPAConfigFile is an OPA configuration file (services, bundles with
	// polling and signing, decision_logs), as a security team already
	// running OPA writes it; bundles are downloaded by OPA's own plugin
	// manager.
	OPAConfigFile string `yaml:"opa_config_file,omitempty"`

	// Timeout bounds one evaluation; past it the request is denied. If
	// omitted, defaults to 1s.
	Timeout Duration `yaml:"timeout"`

	// DecisionLog is where one JSON line per decision goes: "stdout", a
	// file path, or "none". If omitted, defaults to "stdout".
	DecisionLog string `yaml:"decision_log,omitempty"`

	// DecisionLogBuffer is the number of decisions that may wait to be
	// written; beyond it they are dropped and counted, never silently. If
	// omitted, defaults to 10000.
	DecisionLogBuffer int `yaml:"decision_log_buffer"`

	// DecisionLogWhenFull is what happens to a decision when the buffer is
	// full (the sink is slower than the decisions): "drop" counts it in
	// mcpgate.decision_log.dropped and the request goes on; "block" makes
	// the request wait for room, up to 30s, before the decision is dropped
	// and counted all the same (a slow sink then slows the gateway, and
	// no line is lost short of that). If omitted, defaults to "drop".
	DecisionLogWhenFull string `yaml:"decision_log_when_full,omitempty"`
}

// Values of policy.decision_log_when_full.
const (
	DecisionLogDrop  = "drop"
	DecisionLogBlock = "block"
)

func (p *Policy) validate(ps *problems) {
	if p.Dir != "" && p.OPAConfigFile != "" {
		ps.add("policy", "set either dir or opa_config_file, not both")
	}
	switch p.Library {
	case PolicyLibraryNone:
	case PolicyLibraryBuiltin:
		if p.OPAConfigFile != "" {
			ps.add("policy.library", "builtin cannot be combined with opa_config_file: a bundle carries its whole policy; build the library into the bundle, or set library to none")
		}
	default:
		ps.add("policy.library", "must be builtin or none, not %q", p.Library)
	}
	if p.Timeout <= 0 || p.Timeout > Duration(10*time.Second) {
		ps.add("policy.timeout", "must be between 1ms and 10s")
	}
	if w := p.DecisionLogWhenFull; w != "" && w != DecisionLogDrop && w != DecisionLogBlock {
		ps.add("policy.decision_log_when_full", "%q is not supported: use drop or block", w)
	}
	if p.DecisionLogBuffer <= 0 {
		ps.add("policy.decision_log_buffer", "must be greater than 0")
	}
}

// RequirePolicy reports, as a [*ValidationError], a configuration without a
// policy source: `mcpgate serve` never serves without a policy (default
// deny would refuse everything, which is never what is meant).
func (c *Config) RequirePolicy() error {
	if c.Policy.Dir != "" || c.Policy.OPAConfigFile != "" {
		return nil
	}
	if c.Policy.Library == PolicyLibraryBuiltin {
		return &ValidationError{Problems: []Problem{{Path: "policy.dir",
			Message: "policy.library is builtin: set policy.dir to the directory of your organisation's data (data.json under mcpgate.config) and own rules"}}}
	}
	return &ValidationError{Problems: []Problem{{Path: "policy",
		Message: "set policy.dir (a directory of .rego and data files, e.g. the shipped rego/, or only your data with policy.library: builtin) or policy.opa_config_file (OPA bundles)"}}}
}
