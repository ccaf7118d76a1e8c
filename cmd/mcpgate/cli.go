package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
)

// Exit codes (DESIGN §3).
const (
	exitOK    = 0 // success
	exitFail  = 1 // a failure the user must fix: bad config, failed start
	exitUsage = 2 // unknown subcommand or flag, missing required flag
)

// env is what a subcommand may touch of the outside world. main builds the
// real one; tests build their own.
type env struct {
	stdout, stderr io.Writer
	// stdin answers questions (approve without --yes); nil: nobody can.
	stdin io.Reader
	// getenv reads an environment variable.
	getenv func(string) string
	// listen opens the gateway's listener on a TCP address. If nil,
	// net.ListenConfig.Listen is used. Tests hand over a listener they
	// bound themselves, since a config file may not name port 0.
	listen func(ctx context.Context, addr string) (net.Listener, error)
	// listening, if not nil, is called with the bound address once the
	// gateway is listening, just before it serves.
	listening func(net.Addr)
}

// command is one subcommand. A command with subcommands of its own
// (policy test|eval|check) runs dispatch on its own group.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, e *env) int
}

// group is a table of commands under one program name.
type group struct {
	prog  string // "mcpgate", or e.g. "mcpgate policy"
	about string // first line of the usage
	cmds  []command
}

// topLevel returns the mcpgate command group.
func topLevel() group {
	return group{
		prog:  "mcpgate",
		about: "mcpgate is a policy-enforcing gateway for MCP (Model Context Protocol) servers.",
		cmds:  commands(),
	}
}

// commands returns the top-level subcommands, in the order usage lists them.
func commands() []command {
	return []command{
		{"serve", "run the gateway from a configuration file", runServe},
		{"dev", "run a local gateway with demo upstreams, no setup (not for production)", runDev},
		{"validate", "check a configuration file, including the env vars and files its headers read", runValidate},
		{"approve", "pin the upstreams' tools, prompts and resources in the lock file, or show what changed (--diff)", runApprove},
		{"policy", "test, evaluate and check Rego policies (test, eval, check, fmt)", runPolicy},
		{"connections", "list and revoke employees' connections to servers of auth kind oauth", runConnections},
		{"version", "print the version", runVersion},
		{"help", "show this help, or a command's flags (help COMMAND)", runHelp},
	}
}

// run runs the mcpgate command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, &env{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

// runEnv is run with an explicit environment.
func runEnv(ctx context.Context, args []string, e *env) int {
	return dispatch(ctx, topLevel(), args, e)
}

// dispatch runs the command of g named by args[0] with the rest of args.
func dispatch(ctx context.Context, g group, args []string, e *env) int {
	if len(args) == 0 {
		g.printUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	if isHelpFlag(name) {
		g.printUsage(e.stdout)
		return exitOK
	}
	for _, c := range g.cmds {
		if c.name == name {
			return c.run(ctx, args[1:], e)
		}
	}
	what := "command"
	if strings.HasPrefix(name, "-") {
		what = "flag"
	}
	fmt.Fprintf(e.stderr, "%s: unknown %s %q\nRun '%s -h' for usage.\n", g.prog, what, name, g.prog)
	return exitUsage
}

// listenOn opens the gateway's listener on addr.
func (e *env) listenOn(ctx context.Context, addr string) (net.Listener, error) {
	if e.listen != nil {
		return e.listen(ctx, addr)
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", addr)
}

func isHelpFlag(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

func (g group) printUsage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nusage: %s COMMAND [flags]\n\ncommands:\n", g.about, g.prog)
	width := 0
	for _, c := range g.cmds {
		width = max(width, len(c.name))
	}
	for _, c := range g.cmds {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND -h' for the flags of a command.\n", g.prog)
}

// runHelp prints the usage, or with a command name that command's flags.
func runHelp(ctx context.Context, args []string, e *env) int {
	switch len(args) {
	case 0:
		topLevel().printUsage(e.stdout)
		return exitOK
	case 1:
		if args[0] != "help" {
			return dispatch(ctx, topLevel(), []string{args[0], "-h"}, e)
		}
	}
	fmt.Fprintln(e.stderr, "usage: mcpgate help [COMMAND]")
	return exitUsage
}

// flagSet is a subcommand's flags, with a usage header and help on stdout.
type flagSet struct {
	*flag.FlagSet
	e        *env
	synopsis string // arguments after the command name
	about    string // what the command does, one paragraph
	// positional says the command takes arguments after its flags; the
	// command checks them itself.
	positional bool
}

func newFlagSet(name, synopsis, about string, e *env) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet("mcpgate "+name, flag.ContinueOnError), e: e, synopsis: synopsis, about: about}
	fs.SetOutput(e.stderr)
	fs.Usage = func() {} // errors get a hint instead; -h prints usage to stdout
	return fs
}

// parse parses args. It returns ok false and the exit code when the command
// must stop: after -h (0), a bad flag or a stray argument (2).
func (fs *flagSet) parse(args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.printUsage()
		return exitOK, false
	case err != nil: // the flag package printed the error
		return fs.usageError("")
	case fs.NArg() > 0 && !fs.positional:
		return fs.usageError(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	return exitOK, true
}

// usageError prints msg, if any, and a hint, and returns exitUsage.
func (fs *flagSet) usageError(msg string) (int, bool) {
	if msg != "" {
		fmt.Fprintf(fs.e.stderr, "%s: %s\n", fs.Name(), msg)
	}
	fmt.Fprintf(fs.e.stderr, "Run '%s -h' for usage.\n", fs.Name())
	return exitUsage, false
}

func (fs *flagSet) printUsage() {
	w := fs.e.stdout
	fmt.Fprintf(w, "usage: %s %s\n\n%s\n", fs.Name(), fs.synopsis, fs.about)
	if hasFlags(fs.FlagSet) {
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(fs.e.stderr)
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}
