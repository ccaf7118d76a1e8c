package config

import (
	"time"
)

// Defaults of the policy section.
const (
	DefaultPolicyTimeout     = Duration(100 * time.Millisecond)
	DefaultDecisionLogBuffer = 10000
	DecisionLogStdout        = "stdout"
)

// Policy says where the Rego policies come from and where decisions are
// logged. `mcpgate serve` requires exactly one source: a directory or an
// OPA configuration with bundles.
type Policy struct {
	// Dir is a directory of .rego and data (.json, .yaml) files, reloaded
	// atomically when it changes; a broken update keeps the last good policy
	// and shows in /readyz.
	Dir string `yaml:"dir,omitempty"`

	// OPAConfigFile is an OPA configuration file (services, bundles with
	// polling and signing, decision_logs), as a security team already
	// running OPA writes it; bundles are downloaded by OPA's own plugin
	// manager.
	OPAConfigFile string `yaml:"opa_config_file,omitempty"`

	// Timeout bounds one evaluation; past it the request is denied. If
	// omitted, defaults to 100ms.
	Timeout Duration `yaml:"timeout"`

	// DecisionLog is where one JSON line per decision goes: "stdout", a
	// file path, or "none". If omitted, defaults to "stdout".
	DecisionLog string `yaml:"decision_log,omitempty"`

	// DecisionLogBuffer is the number of decisions that may wait to be
	// written; beyond it they are dropped and counted, never silently. If
	// omitted, defaults to 10000.
	DecisionLogBuffer int `yaml:"decision_log_buffer"`
}

func (p *Policy) validate(ps *problems) {
	if p.Dir != "" && p.OPAConfigFile != "" {
		ps.add("policy", "set either dir or opa_config_file, not both")
	}
	if p.Timeout <= 0 || p.Timeout > Duration(10*time.Second) {
		ps.add("policy.timeout", "must be between 1ms and 10s")
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
	return &ValidationError{Problems: []Problem{{Path: "policy",
		Message: "set policy.dir (a directory of .rego and data files, e.g. the shipped rego/) or policy.opa_config_file (OPA bundles)"}}}
}
