//go:build linux

package sidebyside

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// Workspace makes the working directory of a run of the command prog (its
// configuration, logs and decision log), and builds mcpgate from repo into
// it unless *bin names a binary already. done removes the directory unless
// keep, in which case its path is printed to log.
func Workspace(ctx context.Context, prog, repo string, bin *string, keep bool, log io.Writer) (dir string, done func(), err error) {
	if dir, err = os.MkdirTemp("", prog+"-"); err != nil {
		return "", nil, err
	}
	done = func() { os.RemoveAll(dir) }
	if keep {
		fmt.Fprintf(log, "%s: configuration, logs and decision log in %s\n", prog, dir)
		done = func() {}
	}
	if *bin == "" {
		if *bin, err = buildMCPGate(ctx, repo, dir, log); err != nil {
			done()
			return "", nil, err
		}
	}
	return dir, done, nil
}

// buildMCPGate compiles ./cmd/mcpgate of the module at repo into dir and
// returns the binary's path; the compiler's output goes to log.
func buildMCPGate(ctx context.Context, repo, dir string, log io.Writer) (string, error) {
	bin := filepath.Join(dir, "mcpgate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/mcpgate")
	cmd.Dir = repo
	cmd.Stdout, cmd.Stderr = log, log
	fmt.Fprintf(log, "go build ./cmd/mcpgate in %s\n", repo)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/mcpgate in %s: %w (or pass --mcpgate)", repo, err)
	}
	return bin, nil
}

// CollectorBin is flagValue if set, else otelcol-mcpgate in
// $MCPGATE_TOOLS_BIN or ~/.cache/mcpgate/bin (scripts/install-tools.sh).
func CollectorBin(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	dir := os.Getenv("MCPGATE_TOOLS_BIN")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "mcpgate", "bin")
	}
	return filepath.Join(dir, "otelcol-mcpgate")
}
