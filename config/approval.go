package config

import "strconv"

// Approval modes (approval.mode, servers[].approval).
const (
	// ApprovalEnforce quarantines what the lock does not approve: hidden
	// from lists and refused on call, unless the policy allows it.
	ApprovalEnforce = "enforce"
	// ApprovalWarn serves what the lock does not approve, and logs and
	// counts it.
	ApprovalWarn = "warn"
	// ApprovalOff does not compare the server with the lock.
	ApprovalOff = "off"
)

// DefaultLockFile is the lock file `mcpgate approve` writes, beside the
// configuration file, when neither --lock nor approval.lock_file names one.
const DefaultLockFile = "mcpgate.lock.yaml"

// Approval pins what the security team approved of each upstream
// (docs/approval.md): the lock file `mcpgate approve` writes, and what
// the gateway does with an item the lock does not approve.
type Approval struct {
	// LockFile is the path of the lock file (mcpgate approve writes it).
	// It is read when the configuration is provisioned and again whenever
	// it changes, so a re-approval takes effect without a restart; a lock
	// that does not load keeps the last good one. If omitted, nothing is
	// pinned and mode must be off or omitted.
	LockFile string `yaml:"lock_file,omitempty"`

	// Mode is what happens to a tool, prompt, resource or resource
	// template that is not in the lock (new) or differs from it
	// (modified): "enforce" quarantines it (hidden from lists, refused on
	// call, unless the policy allows it), "warn" serves it and logs and
	// counts it, "off" does not compare. If omitted, defaults to
	// "enforce" when lock_file is set, else "off".
	Mode string `yaml:"mode,omitempty"`
}

// ApprovalMode returns the approval mode of s: its own, else the
// configuration's, else the default of approval.mode.
func (c *Config) ApprovalMode(s *Server) string {
	if s != nil && s.Approval != "" {
		return s.Approval
	}
	if c.Approval.Mode != "" {
		return c.Approval.Mode
	}
	if c.Approval.LockFile != "" {
		return ApprovalEnforce
	}
	return ApprovalOff
}

func validApprovalMode(m string) bool {
	return m == ApprovalEnforce || m == ApprovalWarn || m == ApprovalOff
}

func (c *Config) validateApproval(ps *problems) {
	a := &c.Approval
	if a.Mode != "" && !validApprovalMode(a.Mode) {
		ps.add("approval.mode", "%q is not supported: use one of [enforce warn off]", a.Mode)
	}
	if a.LockFile == "" && a.Mode != "" && a.Mode != ApprovalOff {
		ps.add("approval.lock_file", "is required for mode %q: name the lock file that mcpgate approve writes", a.Mode)
	}
	for i := range c.Servers {
		s := &c.Servers[i]
		path := "servers[" + strconv.Itoa(i) + "].approval"
		switch {
		case s.Approval == "":
		case !validApprovalMode(s.Approval):
			ps.add(path, "%q is not supported: use one of [enforce warn off]", s.Approval)
		case s.Approval != ApprovalOff && a.LockFile == "":
			ps.add(path, "%q needs approval.lock_file: name the lock file that mcpgate approve writes", s.Approval)
		}
	}
}
