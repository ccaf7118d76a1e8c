package devsignin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ConnectLink returns the URL of the one URL elicitation that err, the
// gateway's -32042 answer to a call of a server the caller has not
// connected yet, carries: its connect link.
func ConnectLink(err error) (string, error) {
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != mcp.CodeURLElicitationRequired {
		return "", fmt.Errorf("%v, want -32042", err)
	}
	var data struct {
		Elicitations []*mcp.ElicitParams `json:"elicitations"`
	}
	if err := json.Unmarshal(rpcErr.Data, &data); err != nil || len(data.Elicitations) != 1 {
		return "", fmt.Errorf("-32042 with data %s, want one elicitation", rpcErr.Data)
	}
	return data.Elicitations[0].URL, nil
}

// FollowConnectLink does with a connect link what an employee does in a
// browser, with c (which must keep cookies and stop at redirects): sign in
// to the gateway at the development provider as user, back to the link,
// which sends the browser to the upstream's authorization server, where
// user signs in at the same provider, and open the gateway's callback. It
// returns where web sign-in sent the browser back to, and the callback's
// URL and status.
func FollowConnectLink(ctx context.Context, c *http.Client, link, user string) (back, callback *url.URL, status int, err error) {
	signedIn, err := DevSignIn(ctx, c, link, user)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("web sign-in: %w", err)
	}
	resp, err := get(ctx, c, signedIn.String())
	if err != nil {
		return nil, nil, 0, err
	}
	if back, err = resp.Location(); err != nil {
		return nil, nil, 0, fmt.Errorf("after web sign-in: %d, no redirect back to the connect link", resp.StatusCode)
	}
	back = resp.Request.URL.ResolveReference(back)
	if callback, err = DevSignIn(ctx, c, back.String(), user); err != nil {
		return back, nil, 0, fmt.Errorf("sign-in at the upstream's authorization server: %w", err)
	}
	if resp, err = get(ctx, c, callback.String()); err != nil {
		return back, callback, 0, err
	}
	return back, callback, resp.StatusCode, nil
}

// get GETs u with c and reads the answer's body away.
func get(ctx context.Context, c *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}
