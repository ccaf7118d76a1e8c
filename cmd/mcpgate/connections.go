package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/connections"
	"github.com/mcpgate/mcpgate/store"
)

// connectionsCommands is the mcpgate connections group: what operators do
// with employees' connections to upstreams of auth kind oauth.
func connectionsCommands() group {
	return group{
		prog:  "mcpgate connections",
		about: "mcpgate connections lists and revokes employees' connections to upstreams of auth kind oauth.",
		cmds: []command{
			{"list", "list an employee's connections (never a token)", runConnectionsList},
			{"revoke", "revoke an employee's connection to one server, or all of them", runConnectionsRevoke},
		},
	}
}

func runConnections(ctx context.Context, args []string, e *env) int {
	return dispatch(ctx, connectionsCommands(), args, e)
}

// employeeFlags name the employee and the gateway configuration.
type employeeFlags struct {
	config, issuer, subject *string
}

func registerEmployeeFlags(fs *flagSet) employeeFlags {
	return employeeFlags{
		config:  fs.String("config", "", "`path` of the gateway's configuration file, whose store and vault keys hold the connections (default $MCPGATE_CONFIG)"),
		issuer:  fs.String("issuer", "", "the employee's issuer as the gateway sees it (default: the gateway's own issuer in authorization-server mode, or the only auth.issuers entry)"),
		subject: fs.String("subject", "", "the employee's subject (sub claim) at that issuer"),
	}
}

// open loads the configuration and opens the connections it keeps, for the
// employee named. close releases the store.
func (f employeeFlags) open(ctx context.Context, fs *flagSet) (m *connections.Manager, id *authn.Identity, close func(), code int, ok bool) {
	if code, ok := requireConfig(fs, f.config); !ok {
		return nil, nil, nil, code, false
	}
	if *f.subject == "" {
		code, _ := fs.usageError("--subject is required")
		return nil, nil, nil, code, false
	}
	cfg, err := config.Load(*f.config)
	if err == nil {
		err = cfg.RequireStore()
	}
	if err != nil {
		fmt.Fprintln(fs.e.stderr, err)
		return nil, nil, nil, exitFail, false
	}
	issuer := *f.issuer
	if issuer == "" {
		switch {
		case cfg.AuthorizationServer.Enabled:
			issuer = strings.TrimSuffix(cfg.MCPURL(), mcpPath)
		case len(cfg.Auth.Issuers) == 1:
			issuer = cfg.Auth.Issuers[0].Issuer
		default:
			code, _ := fs.usageError("--issuer is required: the configuration has several issuers")
			return nil, nil, nil, code, false
		}
	}
	prov, err := cfg.Provision()
	if err != nil {
		fmt.Fprintln(fs.e.stderr, err)
		return nil, nil, nil, exitFail, false
	}
	ups := oauthUpstreams(cfg)
	if len(ups) == 0 || len(prov.VaultKeys) == 0 {
		fmt.Fprintln(fs.e.stderr, "mcpgate connections: the configuration has no server of auth kind oauth, or no store.vault_key_file: there are no connections")
		return nil, nil, nil, exitFail, false
	}
	st, err := openStore(ctx, cfg, prov)
	if err != nil {
		fmt.Fprintln(fs.e.stderr, "mcpgate connections: store:", err)
		return nil, nil, nil, exitFail, false
	}
	vault, err := store.NewVault(st, prov.VaultKeys)
	if err == nil {
		list := make([]connections.Upstream, len(ups))
		for i, u := range ups {
			list[i] = u.Upstream
		}
		refused := errors.New("the command line connects nobody: employees connect on the gateway's pages")
		m, err = connections.New(connections.Options{Upstreams: list, Vault: vault, Store: st, BaseURL: cfg.PublicURL,
			Identity: func(*http.Request) (*authn.Identity, bool) { return nil, false },
			Scopes:   func(context.Context, string, *authn.Identity) ([]string, error) { return nil, refused }})
	}
	if err != nil {
		st.Close()
		fmt.Fprintln(fs.e.stderr, "mcpgate connections:", err)
		return nil, nil, nil, exitFail, false
	}
	return m, &authn.Identity{Issuer: issuer, Subject: *f.subject}, func() { st.Close() }, exitOK, true
}

func runConnectionsList(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("connections list", "--config FILE --subject SUB [--issuer ISS] [--json]",
		"List the servers an employee connected through the gateway, with the scopes granted and when;\n"+
			"never a token.", e)
	ef := registerEmployeeFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	m, id, closeStore, code, ok := ef.open(ctx, fs)
	if !ok {
		return code
	}
	defer closeStore()
	conns, err := m.Connections(ctx, id)
	if err != nil {
		fmt.Fprintln(e.stderr, "mcpgate connections list:", err)
		return exitFail
	}
	if *asJSON {
		if conns == nil {
			conns = []connections.Connection{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(conns)
		return exitOK
	}
	if len(conns) == 0 {
		fmt.Fprintf(e.stdout, "%s at %s has no connections\n", id.Subject, id.Issuer)
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tSCOPES\tCONNECTED\tTOKEN EXPIRES\tREFRESHES")
	for _, c := range conns {
		expires := "-"
		if !c.Expiry.IsZero() {
			expires = c.Expiry.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\n", c.Upstream, strings.Join(c.Scopes, " "), c.Connected.UTC().Format(time.RFC3339), expires, c.Refreshes)
	}
	_ = tw.Flush()
	return exitOK
}

func runConnectionsRevoke(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("connections revoke", "--config FILE --subject SUB [--issuer ISS] (--server NAME | --all)",
		"Revoke an employee's connection: the token is deleted from the vault, and revoked at the server's\n"+
			"authorization server where it offers revocation (RFC 7009). The employee's next call to that server\n"+
			"asks them to connect again.", e)
	ef := registerEmployeeFlags(fs)
	server := fs.String("server", "", "the server to revoke the connection to")
	all := fs.Bool("all", false, "revoke every connection of the employee")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if (*server == "") == !*all {
		code, _ := fs.usageError("give exactly one of --server NAME and --all")
		return code
	}
	m, id, closeStore, code, ok := ef.open(ctx, fs)
	if !ok {
		return code
	}
	defer closeStore()
	servers := []string{*server}
	if *all {
		conns, err := m.Connections(ctx, id)
		if err != nil {
			fmt.Fprintln(e.stderr, "mcpgate connections revoke:", err)
			return exitFail
		}
		servers = servers[:0]
		for _, c := range conns {
			servers = append(servers, c.Upstream)
		}
	} else if !m.Has(*server) {
		fmt.Fprintf(e.stderr, "mcpgate connections revoke: --server %q is not a server of auth kind oauth in %s\n", *server, *ef.config)
		return exitFail
	}
	for _, s := range servers {
		had, err := m.Revoke(ctx, id, s)
		if err != nil {
			fmt.Fprintf(e.stderr, "mcpgate connections revoke: %s: %v\n", s, err)
			return exitFail
		}
		if !had {
			fmt.Fprintf(e.stdout, "%s at %s had no connection to %s (check --subject and --issuer)\n", id.Subject, id.Issuer, s)
			continue
		}
		fmt.Fprintf(e.stdout, "revoked %s's connection to %s\n", id.Subject, s)
	}
	return exitOK
}
