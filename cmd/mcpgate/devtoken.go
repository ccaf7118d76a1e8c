package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/config"
)

const devTokenAbout = `Print an access token for a demo user (alice, bob, carol or mallory) from
a running "mcpgate dev", for scripts and curl:
  curl -H "Authorization: Bearer $(mcpgate dev token alice)" ...`

func runDevToken(ctx context.Context, args []string, e *env) int {
	fs := newFlagSet("dev token", "[--addr host:port] NAME", devTokenAbout, e)
	fs.positional = true
	addr := fs.String("addr", config.DefaultListen, "`host:port` of the running mcpgate dev")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		code, _ := fs.usageError("dev token takes one demo user name, e.g. mcpgate dev token alice")
		return code
	}
	if err := checkLoopback(*addr); err != nil {
		code, _ := fs.usageError(err.Error())
		return code
	}
	tok, err := fetchDevToken(ctx, "http://"+*addr+"/dev/token", fs.Arg(0))
	if err != nil {
		fmt.Fprintf(e.stderr, "mcpgate dev token: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(e.stdout, tok)
	return exitOK
}

// fetchDevToken asks a running dev gateway for a token.
func fetchDevToken(ctx context.Context, endpoint, user string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(url.Values{"user": {user}}.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("is mcpgate dev running? %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var out struct {
		AccessToken      string `json:"access_token"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		if out.ErrorDescription != "" {
			return "", fmt.Errorf("%s: %s", resp.Status, out.ErrorDescription)
		}
		return "", fmt.Errorf("%s from %s: %s", resp.Status, endpoint, strings.TrimSpace(string(body)))
	}
	return out.AccessToken, nil
}
