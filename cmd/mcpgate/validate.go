package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mcpgate/mcpgate/config"
)

const validateAbout = `Check a configuration file without starting the gateway: its syntax, every
key and value and then, once those are valid, that the files and environment
variables it names (session_key_file, policy.opa_config_file, shared secrets,
header value_from_env and value_from_file, the store's dsn_from_env,
dsn_from_file and vault_key_file) are set and readable here, as serve reads them, that
approval.lock_file loads and names only configured servers, and that
sealed sessions have a store. It connects to nothing (not the store's
database). Every problem is reported with its key path. Exit status 0
if valid, 1 if not.`

func runValidate(_ context.Context, args []string, e *env) int {
	fs := newFlagSet("validate", "--config FILE", validateAbout, e)
	path := configFlag(fs)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if code, ok := requireConfig(fs, path); !ok {
		return code
	}
	cfg, err := config.Load(*path)
	if err == nil {
		_, perr := cfg.Provision()
		_, lerr := loadLock(cfg)
		err = errors.Join(cfg.RequireStore(), perr, lerr)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "ok: %s is valid (%s)\n", *path, describeServers(cfg.Servers))
	return exitOK
}

// configFlag registers --config on fs.
func configFlag(fs *flagSet) *string {
	return fs.String("config", "", "configuration `FILE` (default $MCPGATE_CONFIG)")
}

// requireConfig fills an empty --config from $MCPGATE_CONFIG and fails with
// a usage error if both are empty.
func requireConfig(fs *flagSet, path *string) (int, bool) {
	if *path == "" {
		*path = fs.e.getenv("MCPGATE_CONFIG")
	}
	if *path == "" {
		return fs.usageError("--config is required (or set MCPGATE_CONFIG)")
	}
	return exitOK, true
}

// describeServers returns e.g. "2 servers: notes, hr".
func describeServers(servers []config.Server) string {
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.Name
	}
	noun := "servers"
	if len(servers) == 1 {
		noun = "server"
	}
	return fmt.Sprintf("%d %s: %s", len(servers), noun, strings.Join(names, ", "))
}
